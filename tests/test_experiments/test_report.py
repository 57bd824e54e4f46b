"""The report of a comparison, from run summaries (no training)."""
import json

import pytest

from damex_mmdet.experiments import VARIANTS, dataset_names, recorded_spread, report


def _keys(variant):
    names = dataset_names(VARIANTS[variant].config)
    return [f'{n}/bbox_mAP_50' for n in names] + ['mean/bbox_mAP_50', 'mean/bbox_mAP']


def test_seed_planning_table_needs_two_pairs(tmp_path):
    """One seed gives no noise estimate: no planning table; two seeds: one row per variant."""
    keys = _keys('dense')

    def summary(value):
        return dict(metrics={k: value for k in keys}, train_seconds=1.0)

    # damex - dense = +0.02 and +0.04 AP (x 100: 2 and 4): std of the pairs 1.4 AP
    runs = {('dense', 0): summary(0.60), ('damex', 0): summary(0.62),
            ('dense', 1): summary(0.50), ('damex', 1): summary(0.54)}
    one_seed = {run: s for run, s in runs.items() if run[1] == 0}
    md = report(one_seed, VARIANTS, 'dense', str(tmp_path / 'one'))
    assert 'How many seeds' not in md
    md = report(runs, VARIANTS, 'dense', str(tmp_path / 'two'))
    assert 'How many seeds' in md
    power = json.loads((tmp_path / 'two' / 'results.json').read_text())['power']
    assert [row[:3] for row in power[1:]] == [['damex', '2', '1.4']]
    # datasets in config order, not alphabetical
    assert md.index('watercolor AP50') < md.index('comic AP50') < md.index('xray AP50')


def test_a_single_variant_reports_no_paired_differences(tmp_path):
    """Nothing to pair with: no header-only difference table, no sentence about pairs."""
    runs = {('damex', seed): dict(metrics={k: 0.5 + seed / 100 for k in _keys('damex')},
                                  train_seconds=1.0) for seed in (0, 1)}
    md = report(runs, VARIANTS, 'dense', str(tmp_path))
    assert 'variant - baseline' not in md and 'Paired differences' not in md
    assert '| damex   | 2     |' in md  # the variant's own mean ± std row is there


def test_recorded_spread_reads_the_committed_results_format(tmp_path):
    from damex_mmdet.evaluation.comparison import compare_variants
    per_seed = {'damex': {0: {'mean/bbox_mAP': 0.5}, 1: {'mean/bbox_mAP': 0.6}}}
    path = tmp_path / 'results.json'
    path.write_text(json.dumps(dict(
        per_seed={v: {str(s): m for s, m in r.items()} for v, r in per_seed.items()},
        comparison=compare_variants(per_seed, ['mean/bbox_mAP'], 'damex'))))
    mean, std, n, low, high = recorded_spread('damex', path=str(path))
    assert (n, low, high) == (2, 0.5, 0.6) and mean == pytest.approx(0.55)
    assert recorded_spread('moe', path=str(path)) is None
    assert recorded_spread('damex', path=str(tmp_path / 'missing.json')) is None
    # the committed results are in that format
    assert recorded_spread('damex') is not None


def test_each_moe_run_reports_the_pair_its_router_separates_worst(tmp_path):
    """From the run's top1_share.csv and the variant's own map (here the per-dataset one)."""
    names = dataset_names(VARIANTS['damex-per-dataset'].config)
    expert_map = VARIANTS['damex-per-dataset'].options['model.moe_cfg.expert_map']
    routing = tmp_path / 'routing'
    routing.mkdir()
    rows = ['layer,dataset,tokens,' + ','.join(f'e{e}' for e in range(6))]
    for name in names:
        share = [0.0] * 6
        share[expert_map[name][0]] = 1.0
        if name in ('street', 'signs'):  # a quarter of each on the other's expert
            other = 'signs' if name == 'street' else 'street'
            share[expert_map[name][0]], share[expert_map[other][0]] = 0.75, 0.25
        rows += [f'decoder.layers.{layer}.ffn,{name},100,' + ','.join(map(str, share))
                 for layer in (0, 2)]
    (routing / 'top1_share.csv').write_text('\n'.join(rows) + '\n')
    metrics = {k: 0.5 for k in _keys('damex')}
    runs = {('damex-per-dataset', 0): dict(metrics=metrics, train_seconds=1.0,
                                           routing_dir=str(routing)),
            ('dense', 0): dict(metrics=metrics, train_seconds=1.0)}
    md = report(runs, VARIANTS, 'dense', str(tmp_path / 'out'))
    assert '| damex-per-dataset | 0    | street / signs | 25.0' in md
    saved = json.loads((tmp_path / 'out' / 'results.json').read_text())['most_confused_pairs']
    assert saved == [dict(variant='damex-per-dataset', seed='0', pair='street / signs',
                          a_on_b_pct='25.0', b_on_a_pct='25.0')]


def test_per_dataset_ap_is_reported_beside_ap50_when_the_runs_have_it(tmp_path):
    """AP50 saturates near 100 here; the 0.5:0.95 AP per dataset gets its own tables."""
    names = dataset_names(VARIANTS['dense'].config)
    base = {k: 0.9 for k in _keys('dense')}
    runs = {}
    for seed in (0, 1):
        runs[('dense', seed)] = dict(train_seconds=1.0, metrics={
            **base, **{f'{n}/bbox_mAP': 0.70 for n in names}})
        runs[('damex', seed)] = dict(train_seconds=1.0, metrics={
            **base, **{f'{n}/bbox_mAP': 0.70 + (0.03 if n == 'street' else 0) + seed / 100
                       for n in names}})
    md = report(runs, VARIANTS, 'dense', str(tmp_path))
    assert 'Per dataset AP (IoU 0.5:0.95' in md
    assert md.index('watercolor AP ') < md.index('street AP ')  # config order, AP50 apart
    saved = json.loads((tmp_path / 'results.json').read_text())['comparison']['damex']
    assert saved['street/bbox_mAP']['difference']['mean'] == pytest.approx(0.035)
    assert saved['comic/bbox_mAP']['difference']['mean'] == pytest.approx(0.005)
    # runs without the metric (the other tests) get no such table
    no_box = {run: dict(s, metrics=base) for run, s in runs.items()}
    assert 'Per dataset AP' not in report(no_box, VARIANTS, 'dense', str(tmp_path / 'b'))


def test_a_run_resumed_without_its_earlier_seconds_is_not_averaged_into_the_time(tmp_path):
    """Its summary counts only the part after the resume: the mean is of whole runs only."""
    keys = _keys('damex')
    runs = {('damex', 0): dict(metrics={k: 0.5 for k in keys}, train_seconds=1000.0),
            ('damex', 1): dict(metrics={k: 0.6 for k in keys}, train_seconds=300.0,
                               train_seconds_complete=False)}
    md = report(runs, VARIANTS, 'damex', str(tmp_path))
    (row, ) = [line for line in md.splitlines() if line.startswith('| damex | DAMEX')]
    assert row.endswith('| 1000 | 1 of 2 |')
    assert 'does not store the seconds spent before it' in md
    runs[('damex', 1)]['train_seconds_complete'] = True
    md = report(runs, VARIANTS, 'damex', str(tmp_path))
    assert '| 650 | 2 of 2 |' in md and 'does not store' not in md
