"""How many seeds does a comparison need? Power of the paired t test.

The comparison tool pairs runs by seed and tests the mean of the paired
differences ``d_s = variant_s - baseline_s`` with a two-sided Student t test
(:mod:`damex_mmdet.evaluation.comparison`). Given the standard deviation
``sigma`` of those differences, this module answers the two planning
questions that the interval alone does not:

- with ``n`` pairs, what is the smallest true difference the test detects
  with a given probability (``power``, default 0.8)? (:func:`detectable_difference`)
- how many pairs does it take to detect a difference of a given size?
  (:func:`pairs_needed`)

The test statistic ``mean(d) / (std(d) / sqrt(n))`` follows a non-central
t distribution with ``n - 1`` degrees of freedom and non-centrality
``delta * sqrt(n) / sigma`` when the true difference is ``delta``; the power
is the probability that it falls outside ``±t_{1 - alpha/2, n - 1}``.

``sigma`` is in practice a plug-in estimate from the seeds already run (from
three seeds it is itself uncertain by a factor of about two), so these
numbers plan the next runs; they are not a result.
"""
import math
from typing import List, Mapping, Optional

from scipy import integrate, optimize, stats

__all__ = ['paired_t_power', 'pairs_needed', 'detectable_difference', 'power_table_rows']


def _check(alpha: float, power: Optional[float] = None) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f'alpha must be in (0, 1), got {alpha}.')
    if power is not None and not alpha < power < 1:
        raise ValueError(f'power must be in (alpha, 1) = ({alpha}, 1), got {power}.')


def paired_t_power(effect: float, std: float, n: int, alpha: float = 0.05) -> float:
    """Probability that the two-sided paired t test rejects "no difference".

    Args:
        effect (float): the true mean difference ``delta`` (any sign).
        std (float): standard deviation ``sigma`` of the paired differences, > 0.
        n (int): number of pairs (seeds), >= 2.
        alpha (float): significance level (0.05: the 95% interval excludes 0).

    Returns:
        float: the power in ``[alpha, 1]``; exactly ``alpha`` at ``effect = 0``.
    """
    _check(alpha)
    if n < 2:
        raise ValueError(f'a paired t test needs at least 2 pairs, got n={n}.')
    if not std > 0:
        raise ValueError(f'std of the paired differences must be > 0, got {std}.')
    df = n - 1
    critical = stats.t.ppf(1 - alpha / 2, df)
    noncentrality = abs(effect) * math.sqrt(n) / std
    # T = (Z + noncentrality) / (U / sqrt(df)), U ~ chi(df) independent of Z ~ N(0, 1):
    # P(|T| > c) = E_U[P(Z > c U / sqrt(df) - nc) + P(Z < -c U / sqrt(df) - nc)].
    # Integrated here because scipy's nct returns NaN for some far lower tails.
    scale = critical / math.sqrt(df)

    def rejected(u: float) -> float:
        return float((stats.norm.sf(scale * u - noncentrality)
                      + stats.norm.cdf(-scale * u - noncentrality)) * stats.chi.pdf(u, df))

    # chi(df) has its mass within sqrt(df) ± 10 (its standard deviation is below 0.8)
    centre = math.sqrt(df)
    value, _ = integrate.quad(rejected, max(0.0, centre - 10), centre + 10,
                              points=[centre], epsabs=1e-13, epsrel=1e-11, limit=200)
    return min(1.0, max(0.0, value))


def pairs_needed(effect: float, std: float, power: float = 0.8, alpha: float = 0.05,
                 max_pairs: int = 10000) -> Optional[int]:
    """Smallest number of pairs whose test detects ``effect`` with ``power``.

    Args:
        effect (float): the difference to detect (its sign does not matter).
        std (float): standard deviation of the paired differences; NaN gives None.
        power (float): the detection probability to reach.
        alpha (float): significance level.
        max_pairs (int): give up above this many pairs.

    Returns:
        int | None: ``n >= 2``, 2 when ``std == 0`` (identical runs), or None
        when ``std`` is unknown, ``effect`` is 0 or more than ``max_pairs``
        pairs would be needed.
    """
    _check(alpha, power)
    if not math.isfinite(std) or std < 0 or effect == 0:
        return None
    if std == 0:
        return 2

    def reaches(n: int) -> bool:
        return paired_t_power(effect, std, n, alpha) >= power

    if not reaches(max_pairs):
        return None
    low, high = 1, 2  # invariant: reaches(high); low == 1 or not reaches(low)
    while not reaches(high):
        low, high = high, min(2 * high, max_pairs)
    while high - low > 1:  # power grows with n
        middle = (low + high) // 2
        low, high = (low, middle) if reaches(middle) else (middle, high)
    return high


def detectable_difference(std: float, n: int, power: float = 0.8,
                          alpha: float = 0.05) -> float:
    """Smallest true difference that ``n`` pairs detect with ``power``.

    Args:
        std (float): standard deviation of the paired differences.
        n (int): number of pairs.
        power (float): the detection probability.
        alpha (float): significance level.

    Returns:
        float: the difference (same unit as ``std``), 0 when ``std == 0``,
        NaN when ``std`` is unknown or ``n < 2``.
    """
    _check(alpha, power)
    if n < 2 or not math.isfinite(std) or std < 0:
        return math.nan
    if std == 0:
        return 0.0
    # power(effect) rises from alpha at 0; bracket the root, then solve
    high = std
    while paired_t_power(high, std, n, alpha) < power:
        high *= 2
    return float(optimize.brentq(
        lambda effect: paired_t_power(effect, std, n, alpha) - power, 0.0, high, xtol=1e-10))


def power_table_rows(comparison: Mapping[str, Mapping[str, dict]], metric: str,
                     target: float, power: float = 0.8, alpha: float = 0.05,
                     scale: float = 100.0) -> List[List[str]]:
    """Rows ``variant | pairs | std of d | detectable now | pairs for target``.

    Args:
        comparison: :func:`~damex_mmdet.evaluation.comparison.compare_variants` output.
        metric (str): e.g. ``'mean/bbox_mAP'``.
        target (float): the difference to plan for, in the table's unit
            (after ``scale``), e.g. 2.0 AP.
        power (float): detection probability.
        alpha (float): significance level.
        scale (float): multiplies metric values for display (100: AP x 100).

    Returns:
        list[list[str]]: header first; the baseline (no difference) has no row.
    """
    percent = f'{100 * power:.0f}%'
    rows = [['variant - baseline', 'pairs', 'std of paired differences',
             f'smallest difference detectable with these pairs ({percent} power)',
             f'pairs needed to detect ±{target:g} ({percent} power)']]
    for variant, per_metric in comparison.items():
        difference = per_metric.get(metric, {}).get('difference')
        if difference is None:
            continue
        n, std = difference['n'], difference['std'] * scale
        detectable = detectable_difference(std, n, power, alpha)
        needed = pairs_needed(target, std, power, alpha)
        rows.append([variant, str(n), 'n/a' if not math.isfinite(std) else f'{std:.1f}',
                     'n/a' if not math.isfinite(detectable) else f'{detectable:.1f}',
                     'n/a' if not math.isfinite(std) else
                     (str(needed) if needed is not None else '> 10000')])
    return rows
