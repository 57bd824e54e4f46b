"""Small helpers shared by the mmdet-facing parts of the package."""
__all__ = []
