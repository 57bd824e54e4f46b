"""Multi-seed statistics: hand-computed means, paired t intervals, pairing itself."""
import math

import pytest

from damex_mmdet.evaluation.comparison import (compare_variants, comparison_table_rows,
                                               difference_table_rows, paired_difference,
                                               summarize_metric)


def test_summary_mean_and_sample_std():
    s = summarize_metric([0.1, 0.2, 0.3])
    assert s['n'] == 3 and s['mean'] == pytest.approx(0.2)
    assert s['std'] == pytest.approx(0.1)  # sqrt(((0.1)^2 + 0 + (0.1)^2) / 2)
    assert math.isnan(summarize_metric([0.5])['std'])


def test_paired_interval_by_hand():
    # differences 1, 2, 3: mean 2, std 1, t_{0.975, 2} = 4.302653
    d = paired_difference({0: 2.0, 1: 4.0, 2: 6.0}, {0: 1.0, 1: 2.0, 2: 3.0})
    half = 4.302652729749462 / math.sqrt(3)
    assert d['n'] == 3 and d['mean'] == pytest.approx(2.0) and d['std'] == pytest.approx(1.0)
    assert d['ci_low'] == pytest.approx(2 - half) and d['ci_high'] == pytest.approx(2 + half)
    assert not d['distinguishable']  # [-0.48, 4.48] contains 0: three seeds are few


def test_pairing_removes_the_seed_effect():
    """A constant +1 on top of a large seed-to-seed spread is detected only by pairing."""
    base = {0: 10.0, 1: 30.0, 2: 50.0, 3: 20.0}
    better = {s: v + 1.0 + 0.01 * s for s, v in base.items()}
    d = paired_difference(better, base)
    assert d['distinguishable'] and d['ci_low'] > 0.9
    # the unpaired spreads overlap almost completely
    assert summarize_metric(base.values())['std'] > 10


def test_no_difference_is_not_distinguishable_and_one_seed_gives_no_interval():
    noisy = paired_difference({0: 1.0, 1: 3.0, 2: 2.0}, {0: 2.0, 1: 2.0, 2: 2.0})
    assert noisy['mean'] == pytest.approx(0.0) and not noisy['distinguishable']
    single = paired_difference({0: 5.0}, {0: 1.0})
    assert single['mean'] == 4.0 and math.isnan(single['ci_low'])
    assert not single['distinguishable']
    identical = paired_difference({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0})
    assert identical['std'] == 0 and not identical['distinguishable']


def test_only_common_seeds_are_paired():
    d = paired_difference({0: 1.0, 1: 2.0, 5: 9.0}, {0: 0.0, 1: 0.0, 2: 0.0})
    assert d['seeds'] == [0, 1] and d['mean'] == pytest.approx(1.5)


def test_compare_variants_and_tables():
    results = {
        'dense': {s: {'mean/bbox_mAP': v} for s, v in enumerate((0.50, 0.60, 0.55))},
        'damex': {s: {'mean/bbox_mAP': v} for s, v in enumerate((0.53, 0.62, 0.58))},
    }
    out = compare_variants(results, ['mean/bbox_mAP'], 'dense')
    assert out['dense']['mean/bbox_mAP']['difference'] is None
    diff = out['damex']['mean/bbox_mAP']['difference']
    assert diff['mean'] == pytest.approx(0.08 / 3)
    rows = comparison_table_rows(out, ['mean/bbox_mAP'], ['mean AP'])
    assert rows[0] == ['variant', 'seeds', 'mean AP']
    assert rows[1] == ['dense', '3', '55.0 ± 5.0']
    drows = difference_table_rows(out, ['mean/bbox_mAP'], ['mean AP'])
    assert len(drows) == 2 and drows[1][0] == 'damex' and drows[1][2].startswith('+2.7 [')
    assert drows[1][2].endswith('*') == diff['distinguishable']
    with pytest.raises(KeyError, match="baseline variant 'gem'"):
        compare_variants(results, ['mean/bbox_mAP'], 'gem')
