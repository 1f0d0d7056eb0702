"""Composite stage: a cloud-free harmonised reflectance composite of a period."""

from fusion.composite.median import harmonized_composite

__all__ = ["harmonized_composite"]
