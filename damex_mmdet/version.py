"""Version of damex_mmdet."""
__all__ = ['__version__']

__version__ = '0.1.0'
