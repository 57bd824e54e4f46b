"""Power of the paired t test: against simulation, published sample sizes and its definitions."""
import math

import numpy as np
import pytest
from scipy import stats

from damex_mmdet.evaluation.comparison import compare_variants
from damex_mmdet.evaluation.power import (detectable_difference, paired_t_power, pairs_needed,
                                          power_table_rows)


def test_power_is_alpha_without_a_difference_and_grows_with_pairs_and_effect():
    assert paired_t_power(0.0, 1.0, 5) == pytest.approx(0.05, abs=1e-12)
    assert paired_t_power(0.0, 2.0, 9, alpha=0.1) == pytest.approx(0.1, abs=1e-12)
    by_pairs = [paired_t_power(1.0, 1.0, n) for n in range(2, 12)]
    assert all(a < b for a, b in zip(by_pairs, by_pairs[1:]))
    assert paired_t_power(2.0, 1.0, 4) > paired_t_power(1.0, 1.0, 4)
    assert paired_t_power(-1.5, 1.0, 4) == pytest.approx(paired_t_power(1.5, 1.0, 4))


@pytest.mark.parametrize('effect,std,n', [(1.5, 1.0, 4), (3.0, 5.9, 10)])
def test_power_matches_simulated_t_tests(effect, std, n):
    rng = np.random.default_rng(0)
    d = rng.normal(effect, std, size=(40000, n))
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(n))
    rejected = float((np.abs(t) > stats.t.ppf(0.975, n - 1)).mean())
    # binomial standard error of the simulated rate is <= 0.0025
    assert rejected == pytest.approx(paired_t_power(effect, std, n), abs=0.01)


def test_power_where_scipys_noncentral_t_gives_nan():
    # scipy 1.17's nct.cdf returns NaN for some far lower tails (df 1, nc 11.4): the power
    # is then its upper tail alone, which nct.sf still gives
    df, nc = 1, 11.4
    critical = stats.t.ppf(0.975, df)
    power = paired_t_power(nc / math.sqrt(2), 1.0, 2)
    assert power == pytest.approx(stats.nct.sf(critical, df, nc), abs=1e-9)
    assert paired_t_power(2.0, 7.9, 10000) == pytest.approx(1.0)
    assert math.isfinite(detectable_difference(0.28, 2))


def test_pairs_needed_is_the_smallest_sufficient_count():
    # the usual table values for a paired t test, alpha 0.05 two-sided, power 0.8:
    # standardised effect 0.5 -> 34 pairs, 0.8 -> 15, 1.0 -> 10
    assert [pairs_needed(e, 1.0) for e in (0.5, 0.8, 1.0)] == [34, 15, 10]
    n = pairs_needed(2.0, 5.9)
    assert paired_t_power(2.0, 5.9, n) >= 0.8 > paired_t_power(2.0, 5.9, n - 1)
    assert pairs_needed(-2.0, 5.9) == n


def test_pairs_needed_edge_cases():
    assert pairs_needed(1.0, 0.0) == 2  # identical runs: any difference shows at once
    assert pairs_needed(1.0, math.nan) is None  # one seed: no std yet
    assert pairs_needed(0.0, 1.0) is None  # nothing to detect
    assert pairs_needed(1e-3, 1.0, max_pairs=100) is None  # beyond the cap


def test_detectable_difference_inverts_the_power():
    mde = detectable_difference(5.9, 3)
    assert paired_t_power(mde, 5.9, 3) == pytest.approx(0.8, abs=1e-8)
    assert detectable_difference(5.9, 10) < mde  # more pairs, smaller detectable difference
    assert detectable_difference(2.0, 5) == pytest.approx(2 * detectable_difference(1.0, 5))
    assert detectable_difference(0.0, 3) == 0.0
    assert math.isnan(detectable_difference(1.0, 1)) and math.isnan(detectable_difference(
        math.nan, 3))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='at least 2 pairs'):
        paired_t_power(1.0, 1.0, 1)
    with pytest.raises(ValueError, match='must be > 0'):
        paired_t_power(1.0, 0.0, 3)
    with pytest.raises(ValueError, match='power must be in'):
        pairs_needed(1.0, 1.0, power=0.01)
    with pytest.raises(ValueError, match='alpha must be in'):
        detectable_difference(1.0, 3, alpha=1.5)


def test_power_table_rows_from_a_comparison():
    results = {
        'dense': {s: {'mean/bbox_mAP': v} for s, v in enumerate((0.60, 0.62, 0.61))},
        'damex': {s: {'mean/bbox_mAP': v} for s, v in enumerate((0.62, 0.60, 0.67))},
        'solo': {0: {'mean/bbox_mAP': 0.7}},
    }
    comparison = compare_variants(results, ['mean/bbox_mAP'], 'dense')
    rows = power_table_rows(comparison, 'mean/bbox_mAP', target=2.0)
    assert rows[0][-1] == 'pairs needed to detect ±2 (80% power)'
    assert [r[0] for r in rows[1:]] == ['damex', 'solo']  # the baseline has no row
    std = comparison['damex']['mean/bbox_mAP']['difference']['std'] * 100  # diffs +2, -2, +6 AP
    assert std == pytest.approx(4.0)
    assert rows[1] == ['damex', '3', '4.0', f'{detectable_difference(4.0, 3):.1f}',
                       str(pairs_needed(2.0, 4.0))]
    assert rows[2] == ['solo', '1', 'n/a', 'n/a', 'n/a']
