"""Evaluation: per-dataset COCO metric over a partitioned label space."""
from .multi_dataset_metric import *  # noqa: F401,F403
from .multi_dataset_metric import __all__ as _metric_all
from .results_summary import *  # noqa: F401,F403
from .results_summary import __all__ as _summary_all
from .results_table import *  # noqa: F401,F403
from .results_table import __all__ as _table_all

__all__ = [*_metric_all, *_table_all, *_summary_all]
