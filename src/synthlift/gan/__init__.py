"""Generators of labeled synthetic data."""
