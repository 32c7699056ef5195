"""synthlift: measure whether synthetic training data lifts a downstream model, with honest statistics."""

__version__ = "0.1.0"
