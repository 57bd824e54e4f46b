"""Helpers for tests and benchmarks (tiny synthetic COCO datasets)."""
from .coco_fixture import *  # noqa: F401,F403
from .coco_fixture import __all__ as _fixture_all

__all__ = [*_fixture_all]
