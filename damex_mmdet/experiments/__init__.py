"""Method comparisons as library code: variants, run planning and execution, reports.

``tools/run_default_benchmark.py`` is a command line over
:func:`~damex_mmdet.experiments.comparison.run_comparison`.
"""
from .claims import V2_CLAIMS, Claim, claims_report
from .comparison import run_comparison
from .report import dataset_names, recorded_spread, report
from .runs import (DEFAULT_DATA_ROOT, ComparisonSettings, RunPlan, build_config, execute,
                   final_checkpoint, fingerprint, load_summaries, run_dir, run_one)
from .variants import COMPARE, VARIANTS, Variant, custom_variants

__all__ = [
    'V2_CLAIMS', 'Claim', 'claims_report', 'load_summaries',
    'run_comparison', 'dataset_names', 'recorded_spread', 'report', 'DEFAULT_DATA_ROOT',
    'ComparisonSettings', 'RunPlan', 'build_config', 'execute', 'final_checkpoint',
    'fingerprint', 'run_dir', 'run_one', 'COMPARE', 'VARIANTS', 'Variant', 'custom_variants'
]
