"""Images with dense per-pixel labels for the image track: one module per dataset (`conf/dataset/image/*`),
plus the label containers, the resizing and tensor conversions they share, and the training examples the
augmentation strategies combine."""
