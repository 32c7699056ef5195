"""Loading labelled text tables and making the seeded low-resource train/validation/test splits."""
