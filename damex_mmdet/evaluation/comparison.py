"""Multi-seed method comparisons: mean ± std per variant and paired differences.

Input: ``results[variant][seed][metric] -> value``, every variant run from the
same matched start at each seed (see ``MoEDetectorMixin.init_weights``). For
each metric this module reports, over the seeds:

- every variant's mean and sample standard deviation (``ddof=1``);
- the paired difference to the baseline variant, computed per seed on the
  seeds both have (``d_s = x_s - baseline_s``): mean, standard deviation and
  a two-sided 95% Student-t interval ``mean(d) ± t_{0.975, n-1} std(d) / sqrt(n)``;
- whether the difference is distinguishable from zero (the interval excludes 0).

Pairing removes what a seed does to every variant alike (the shared
initialisation, data order, denoising noise), so the paired interval is the
right test for "does the method change AP", not the overlap of two spreads.
With a single seed no interval exists and nothing is called distinguishable.
"""
import math
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
from scipy import stats

__all__ = ['summarize_metric', 'paired_difference', 'format_difference', 'compare_variants',
           'comparison_table_rows', 'difference_table_rows']

Results = Mapping[str, Mapping[int, Mapping[str, float]]]


def summarize_metric(values: Sequence[float]) -> dict:
    """Mean and sample std (NaN std for one value).

    Args:
        values (Sequence[float]): one value per seed.

    Returns:
        dict: ``n``, ``mean``, ``std`` and the ``values``.
    """
    array = np.asarray(list(values), dtype=float)
    if array.size == 0:
        return dict(n=0, mean=math.nan, std=math.nan, values=[])
    std = float(array.std(ddof=1)) if array.size > 1 else math.nan
    return dict(n=int(array.size), mean=float(array.mean()), std=std, values=array.tolist())


def paired_difference(variant: Mapping[int, float], baseline: Mapping[int, float],
                      confidence: float = 0.95) -> dict:
    """Paired difference ``variant - baseline`` over the seeds both have.

    Args:
        variant (Mapping[int, float]): seed -> value.
        baseline (Mapping[int, float]): seed -> value.
        confidence (float): coverage of the two-sided t interval.

    Returns:
        dict: ``n`` paired seeds, ``mean``, ``std``, ``ci_low``,
        ``ci_high`` (NaN when ``n < 2``) and ``distinguishable`` (the
        interval excludes 0; False when ``n < 2`` or all differences are 0).
    """
    seeds = sorted(set(variant) & set(baseline))
    diffs = np.array([variant[s] - baseline[s] for s in seeds], dtype=float)
    n = int(diffs.size)
    mean = float(diffs.mean()) if n else math.nan
    if n < 2:
        return dict(n=n, mean=mean, std=math.nan, ci_low=math.nan, ci_high=math.nan,
                    distinguishable=False, seeds=seeds)
    std = float(diffs.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    low, high = mean - half, mean + half
    return dict(n=n, mean=mean, std=std, ci_low=low, ci_high=high,
                distinguishable=bool(half > 0 and (low > 0 or high < 0)), seeds=seeds)


def format_difference(diff: Optional[Mapping]) -> str:
    """``+1.2 [-0.3, +2.7]*`` of a :func:`paired_difference` already in display units.

    ``*`` marks an interval that excludes 0; one pair reads ``+1.2 (n=1)``, none ``n/a``.
    """
    if not diff or diff['n'] == 0:
        return 'n/a'
    if diff['n'] < 2:
        return f"{diff['mean']:+.1f} (n=1)"
    mark = '*' if diff['distinguishable'] else ''
    return f"{diff['mean']:+.1f} [{diff['ci_low']:+.1f}, {diff['ci_high']:+.1f}]{mark}"


def compare_variants(results: Results, metrics: Sequence[str], baseline: str,
                     confidence: float = 0.95) -> Dict[str, Dict[str, dict]]:
    """Summaries and paired differences of every variant for every metric.

    Args:
        results: ``results[variant][seed][metric]``; a missing metric is skipped.
        metrics (Sequence[str]): metric keys, e.g. ``'mean/bbox_mAP'``.
        baseline (str): the variant the differences are taken to.
        confidence (float): coverage of the intervals.

    Returns:
        dict: ``out[variant][metric] = dict(summary=<summarize_metric>,
        difference=<paired_difference> or None for the baseline itself)``.

    Raises:
        KeyError: ``baseline`` is not in ``results``.
    """
    if baseline not in results:
        raise KeyError(f'baseline variant {baseline!r} has no results; variants with results: '
                       f'{sorted(results)}.')
    out = {}
    for variant, per_seed in results.items():
        out[variant] = {}
        for metric in metrics:
            values = {s: m[metric] for s, m in per_seed.items() if metric in m}
            base = {s: m[metric] for s, m in results[baseline].items() if metric in m}
            out[variant][metric] = dict(
                summary=summarize_metric([values[s] for s in sorted(values)]),
                difference=None if variant == baseline else paired_difference(
                    values, base, confidence))
    return out


def _pct(value: float, decimals: int = 1) -> str:
    return 'n/a' if value is None or not math.isfinite(value) else f'{100 * value:.{decimals}f}'


def comparison_table_rows(comparison: Mapping[str, Mapping[str, dict]],
                          metrics: Sequence[str], labels: Optional[Sequence[str]] = None,
                          decimals: int = 1) -> List[List[str]]:
    """Rows ``variant | n | metric: mean ± std ...`` (x100), header first."""
    labels = list(labels or metrics)
    rows = [['variant', 'seeds', *labels]]
    for variant, per_metric in comparison.items():
        cells = [variant, str(max(per_metric[m]['summary']['n'] for m in metrics))]
        for metric in metrics:
            summary = per_metric[metric]['summary']
            text = _pct(summary['mean'], decimals)
            if math.isfinite(summary['std']):
                text += f" ± {_pct(summary['std'], decimals)}"
            cells.append(text)
        rows.append(cells)
    return rows


def difference_table_rows(comparison: Mapping[str, Mapping[str, dict]],
                          metrics: Sequence[str], labels: Optional[Sequence[str]] = None,
                          decimals: int = 1) -> List[List[str]]:
    """Rows ``variant | pairs | metric: Δ [low, high] ...`` (x100), ``*`` when the
    95% interval excludes 0; the baseline has no row."""
    labels = list(labels or metrics)
    rows = [['variant - baseline', 'pairs', *labels]]
    for variant, per_metric in comparison.items():
        diffs = [per_metric[m]['difference'] for m in metrics]
        if diffs[0] is None:
            continue
        cells = [variant, str(max(d['n'] for d in diffs))]
        for d in diffs:
            text = f"{'+' if d['mean'] >= 0 else ''}{_pct(d['mean'], decimals)}"
            if math.isfinite(d['ci_low']):
                text += f" [{_pct(d['ci_low'], decimals)}, {_pct(d['ci_high'], decimals)}]"
            cells.append(text + (' *' if d['distinguishable'] else ''))
        rows.append(cells)
    return rows
