"""Downstream models: what synthetic data is supposed to improve."""
