"""Flywheel: turn multi-channel e-commerce data into customer assets."""

__version__ = "0.1.0"
