"""Datasets: multi-dataset concatenation, dataset-aware sampling, UODB, default data."""
from .label_space import *  # noqa: F401,F403
from .label_space import __all__ as _label_space_all
from .multi_dataset import *  # noqa: F401,F403
from .multi_dataset import __all__ as _multi_all
from .samplers import *  # noqa: F401,F403
from .samplers import __all__ as _sampler_all
from .synthetic import *  # noqa: F401,F403
from .synthetic import __all__ as _synthetic_all
from .uodb import *  # noqa: F401,F403
from .uodb import __all__ as _uodb_all

__all__ = [*_label_space_all, *_multi_all, *_sampler_all, *_synthetic_all, *_uodb_all]
