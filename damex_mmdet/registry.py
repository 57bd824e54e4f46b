"""damex_mmdet registers into mmdet's registries; there is no registry tree of its own.

This module exists because mmengine imports ``<scope>.registry`` for configs
inherited through ``damex_mmdet::...``; it re-exports mmdet's registries, so
modules resolve exactly as under the ``mmdet`` scope.
"""
from mmdet.registry import DATA_SAMPLERS, DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS

__all__ = ['DATA_SAMPLERS', 'DATASETS', 'HOOKS', 'METRICS', 'MODELS', 'TRANSFORMS']
