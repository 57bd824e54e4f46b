"""Datasets: multi-dataset concatenation, dataset-aware sampling, UODB, default data."""
from .multi_dataset import *  # noqa: F401,F403
from .multi_dataset import __all__ as _multi_all
from .samplers import *  # noqa: F401,F403
from .samplers import __all__ as _sampler_all
from .synthetic import *  # noqa: F401,F403
from .synthetic import __all__ as _synthetic_all
from .uodb import *  # noqa: F401,F403
from .uodb import __all__ as _uodb_all

__all__ = [*_multi_all, *_sampler_all, *_synthetic_all, *_uodb_all]
