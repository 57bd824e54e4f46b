"""The add-a-dataset tables: paired by seed, old datasets' mean, the joint reference, doors."""
import math
import os.path as osp

import pytest

from damex_mmdet.evaluation.comparison import paired_difference
from damex_mmdet.experiments.addition_report import (addition_report, judge_targets,
                                                     new_expert_share, old_dataset_names,
                                                     router_accuracy_of)

OLD = ('comic', 'xray')


def _summary(aps, seconds=10.0, iters=600, shut=None, router=None, cpu=None):
    metrics = {f'{n}/bbox_mAP': v for n, v in aps.items()}
    metrics['mean/bbox_mAP'] = sum(aps.values()) / len(aps)
    for n, v in (shut or {}).items():
        metrics[f'shut/{n}/bbox_mAP'] = v
    summary = dict(metrics=metrics, train_seconds=seconds, max_iters=iters)
    if router:  # {dataset: accuracy} of both MoE layers
        summary['router_accuracy'] = {layer: {**router, 'mean': 0.0} for layer in ('L0', 'L2')}
    if cpu:
        summary['machine'] = dict(cpu=cpu, cores=2, torch='2.13.0', python='3.11.7')
    return summary


def _routing(tmp_path, seed, share):
    path = tmp_path / f'seed{seed}' / 'routing'
    path.mkdir(parents=True)
    rows = ['layer,dataset,tokens,e0,e1,e2']
    for layer in ('decoder.layers.0.ffn', 'decoder.layers.2.ffn'):
        rows += [f'{layer},comic,100,{1 - share:.4f},0.0,{share:.4f}',
                 f'{layer},xray,100,0.0,{1 - share:.4f},{share:.4f}',
                 f'{layer},kitchen,100,0.0,0.1,0.9']
    (path / 'top1_share.csv').write_text('\n'.join(rows) + '\n')
    return str(tmp_path / f'seed{seed}')


def test_old_and_new_datasets_are_paired_by_seed(tmp_path):
    before = {s: _summary({'comic': 0.50 + s / 100, 'xray': 0.70},
                          router={'comic': 1.0, 'xray': 0.9}, cpu='CPU A') for s in range(3)}
    # the frozen addition: comic -1 AP, xray unchanged; kitchen new; shut: both +0.5 AP
    after = {s: _summary({'comic': 0.49 + s / 100, 'xray': 0.70, 'kitchen': 0.30 + s / 100},
                         shut={'comic': 0.495 + s / 100, 'xray': 0.705, 'kitchen': 0.0},
                         router={'comic': 0.9, 'xray': 0.9, 'kitchen': 0.5},
                         cpu='CPU B' if s == 2 else 'CPU A')
             for s in range(3)}
    joint = {s: _summary({'comic': 0.5, 'xray': 0.7, 'kitchen': 0.40 + s / 100})
             for s in range(3)}
    dirs = {'add-kitchen-frozen': {s: _routing(tmp_path, s, 0.02 * (s + 1)) for s in range(3)}}
    out = addition_report({'damex-no-kitchen': before, 'add-kitchen-frozen': after}, 'kitchen',
                          joint, dirs)
    arm = out['data']['arms']['add-kitchen-frozen']
    assert out['data']['old_datasets'] == ['comic', 'xray']
    assert arm['old_mean_difference']['mean'] == pytest.approx(-0.5)  # (-1 + 0) / 2
    assert arm['old_per_dataset_difference']['comic']['mean'] == pytest.approx(-1.0)
    assert arm['old_per_dataset_difference']['xray']['mean'] == pytest.approx(0.0)
    assert arm['new_minus_joint']['mean'] == pytest.approx(-10.0)
    assert arm['new_ratio_to_joint'] == pytest.approx(31 / 41)
    assert arm['shut_minus_trained']['mean'] == pytest.approx(0.5)
    assert arm['old_tokens_on_new_expert'] == pytest.approx({0: 2.0, 1: 4.0, 2: 6.0})
    assert arm['router_accuracy']['old_before'] == pytest.approx({s: 95.0 for s in range(3)})
    assert arm['router_accuracy']['old_after'] == pytest.approx({s: 90.0 for s in range(3)})
    assert arm['router_accuracy']['new_after'] == pytest.approx({s: 50.0 for s in range(3)})
    assert out['data']['machines'] == {
        'CPU A, 2 cores': ['add-kitchen-frozen s0', 'add-kitchen-frozen s1',
                           'damex-no-kitchen s0', 'damex-no-kitchen s1', 'damex-no-kitchen s2'],
        'CPU B, 2 cores': ['add-kitchen-frozen s2'],
        'not recorded': ['joint reference s0', 'joint reference s1', 'joint reference s2']}
    md = out['markdown']
    assert '| add-kitchen-frozen | damex-no-kitchen | 3 (0, 1, 2) |' in ' '.join(md.split())
    assert 'Where the old datasets can move' in md
    assert '- CPU B, 2 cores: add-kitchen-frozen s2' in md


def test_each_difference_says_which_seeds_it_pairs():
    before = {s: _summary({'comic': 0.5, 'xray': 0.7}) for s in (0, 1)}
    after = {s: _summary({'comic': 0.4, 'xray': 0.7, 'kitchen': 0.3}) for s in (0, 1, 2)}
    joint = {s: _summary({'comic': 0.5, 'xray': 0.7, 'kitchen': 0.4}) for s in (1, 2)}
    out = addition_report({'damex-no-kitchen': before, 'add-kitchen-frozen': after}, 'kitchen',
                          joint)
    arm = out['data']['arms']['add-kitchen-frozen']
    assert arm['old_mean_difference']['n'] == 2  # seed 2 has no before-run
    assert arm['new_minus_joint']['n'] == 2  # seed 0 has no joint run
    old_table, new_table = ' '.join(out['markdown'].split()).split('**The new dataset**')
    assert '| damex-no-kitchen | 2 (0, 1) |' in old_table
    assert '| 2 (1, 2) |' in new_table and '(0, 1, 2)' not in new_table


def test_a_dense_finetune_arm_is_compared_to_the_dense_detector():
    dense = {0: _summary({'comic': 0.6, 'xray': 0.8}), 1: _summary({'comic': 0.6, 'xray': 0.8})}
    tuned = {0: _summary({'comic': 0.3, 'xray': 0.8, 'kitchen': 0.2}),
             1: _summary({'comic': 0.4, 'xray': 0.8, 'kitchen': 0.2})}
    out = addition_report({'dense-no-kitchen': dense, 'add-kitchen-finetune-dense': tuned},
                          'kitchen')
    arm = out['data']['arms']['add-kitchen-finetune-dense']
    assert arm['before'] == 'dense-no-kitchen'
    assert arm['old_mean_difference']['mean'] == pytest.approx(-12.5)
    assert arm['new_minus_joint'] is None and 'shut_minus_trained' not in arm
    assert 'router_accuracy' not in arm  # dense: no router
    assert out['data']['machines'] == {'not recorded': [
        'add-kitchen-finetune-dense s0', 'add-kitchen-finetune-dense s1',
        'dense-no-kitchen s0', 'dense-no-kitchen s1']}


def _diff(values, base=0.0):
    return paired_difference({s: v for s, v in enumerate(values)},
                             {s: base for s in range(len(values))})


def test_targets_are_judged_on_three_seeds_against_the_issue_bounds():
    steady, new = _diff([0.1, -0.1, 0.2]), _diff([-1.0, -2.0, -3.0])
    both = judge_targets(steady, new, 0.95, 600, 1800)
    assert both['old']['verdict'] == 'met' and both['new']['verdict'] == 'met'
    # the mean within 0.5 but the interval wider than +-1: missed
    wide = judge_targets(_diff([0.9, -0.9, 0.3]), new, 0.95, 600, 1800)['old']
    assert wide['verdict'] == 'missed' and wide['why'].startswith('+0.1 [')
    assert judge_targets(_diff([-0.6, -0.6, -0.6]), new, 0.95, 600, 1800)['old']['verdict'] \
        == 'missed'  # a tight interval around -0.6
    # the new dataset: below 0.9 of joint, or more than a third of its iterations
    assert judge_targets(steady, new, 0.89, 600, 1800)['new']['verdict'] == 'missed'
    assert judge_targets(steady, new, 0.95, 601, 1800)['new']['verdict'] == 'missed'
    assert judge_targets(steady, new, 0.95, 600, None)['new'] == dict(
        verdict='not judged', why="the joint reference's iterations are unknown")
    # two seeds are not enough
    two = judge_targets(_diff([0.0, 0.0]), _diff([0.0, 0.0]), 1.0, 600, 1800)
    assert two['old'] == two['new'] == dict(verdict='not judged', why='2 of 3 seeds')


def test_the_report_states_each_arms_targets():
    before = {s: _summary({'comic': 0.5, 'xray': 0.7}, iters=1800) for s in range(3)}
    kept = {s: _summary({'comic': 0.5 + s / 1000, 'xray': 0.7, 'kitchen': 0.38})
            for s in range(3)}
    forgot = {s: _summary({'comic': 0.2, 'xray': 0.7 - s / 100, 'kitchen': 0.30})
              for s in range(3)}
    joint = {s: _summary({'comic': 0.5, 'xray': 0.7, 'kitchen': 0.40}, iters=1800)
             for s in range(3)}
    out = addition_report({'damex-no-kitchen': before, 'add-kitchen-frozen': kept,
                           'add-kitchen-replay': forgot}, 'kitchen', joint)
    assert out['data']['joint_iterations'] == 1800  # read from the joint runs
    arms = out['data']['arms']
    assert arms['add-kitchen-frozen']['targets']['old']['verdict'] == 'met'
    assert arms['add-kitchen-frozen']['targets']['new']['verdict'] == 'met'  # 0.95 at 1/3
    assert arms['add-kitchen-replay']['targets']['old']['verdict'] == 'missed'
    assert arms['add-kitchen-replay']['targets']['new'] == dict(
        verdict='missed', why='0.75 of joint AP at 600/1800 iterations')
    md = ' '.join(out['markdown'].split())
    assert '**Targets** (fixed in the plan before any run), judged on 3 paired seeds' in md
    assert '| add-kitchen-frozen | met | +0.0 [-0.1, +0.2] | met | 0.95 of joint' in md
    # an explicit count wins over the summaries'; a results.json reference has none
    assert addition_report({'damex-no-kitchen': before, 'add-kitchen-frozen': kept}, 'kitchen',
                           joint, joint_iterations=1200)['data']['arms'][
        'add-kitchen-frozen']['targets']['new']['verdict'] == 'missed'
    no_count = {s: {'metrics': m['metrics']} for s, m in joint.items()}
    assert addition_report({'damex-no-kitchen': before, 'add-kitchen-frozen': kept}, 'kitchen',
                           no_count)['data']['arms']['add-kitchen-frozen']['targets'][
        'new']['verdict'] == 'not judged'


def test_helpers_and_refusals(tmp_path):
    assert old_dataset_names({'comic/bbox_mAP': 1, 'comic/bbox_mAP_50': 1, 'mean/bbox_mAP': 1,
                              'shut/comic/bbox_mAP': 1, 'router_acc/x': 1}) == ['comic']
    run = _routing(tmp_path, 0, 0.25)
    assert new_expert_share(f'{run}/routing/top1_share.csv', OLD) == pytest.approx(0.25)
    with pytest.raises(ValueError, match='no row of the old datasets'):
        new_expert_share(f'{run}/routing/top1_share.csv', ['nope'])
    with pytest.raises(ValueError, match='no finished damex-no-kitchen'):
        addition_report({'add-kitchen-frozen': {}}, 'kitchen')
    routed = _summary({'comic': 0.5}, router={'comic': 0.8, 'xray': 0.6, 'kitchen': 0.1})
    assert router_accuracy_of(routed, OLD) == pytest.approx(70.0)
    assert math.isnan(router_accuracy_of(routed, ['nope']))
    assert math.isnan(router_accuracy_of(_summary({'comic': 0.5}), OLD))  # dense: no router


def test_the_tool_writes_tables_and_figure(tmp_path):
    import json
    import os.path as osp

    from damex_mmdet.testing.scripts import load_script
    tool = load_script(osp.join(osp.dirname(__file__), '..', '..', 'tools', 'analysis',
                                'addition_report.py'))
    runs = {'damex-no-kitchen': {'comic': 0.5, 'xray': 0.7},
            'dense-no-kitchen': {'comic': 0.5, 'xray': 0.7},
            'add-kitchen-frozen': {'comic': 0.5, 'xray': 0.7, 'kitchen': 0.3},
            'add-kitchen-frozen-10shot': {'comic': 0.5, 'xray': 0.7, 'kitchen': 0.1},
            'add-kitchen-finetune-dense': {'comic': 0.2, 'xray': 0.3, 'kitchen': 0.35},
            'joint': {'comic': 0.5, 'xray': 0.7, 'kitchen': 0.4}}
    for name, aps in runs.items():
        for seed in (0, 1):
            folder = tmp_path / 'wd' / name / f'seed{seed}'
            folder.mkdir(parents=True)
            shifted = {n: v + seed / 100 for n, v in aps.items()}
            (folder / 'summary.json').write_text(json.dumps(_summary(shifted)))
    out = tmp_path / 'out'
    tool.main(['--work-dir', str(tmp_path / 'wd'), '--dataset', 'kitchen', '--joint-dir',
               str(tmp_path / 'wd' / 'joint'), '--seeds', '0', '1', '--out-dir', str(out)])
    data = json.loads((out / 'results.json').read_text())
    assert sorted(data['arms']) == ['add-kitchen-finetune-dense', 'add-kitchen-frozen',
                                    'add-kitchen-frozen-10shot']
    assert data['arms']['add-kitchen-finetune-dense']['old_mean_difference']['mean'] == \
        pytest.approx(-35.0)
    assert (out / 'results.png').stat().st_size > 10000
    import re
    assert re.search(r'\| add-kitchen-frozen-10shot +\| 10\.5 ± 0\.7 \| -30\.0',
                     (out / 'results.md').read_text())


def test_the_joint_reference_can_come_from_a_committed_report(tmp_path):
    import json

    from damex_mmdet.testing.scripts import load_script
    tool = load_script(osp.join(osp.dirname(__file__), '..', '..', 'tools', 'analysis',
                                'addition_report.py'))
    for name, aps in {'damex-no-kitchen': {'comic': 0.5},
                      'add-kitchen-frozen': {'comic': 0.5, 'kitchen': 0.3}}.items():
        for seed in (0, 1):
            folder = tmp_path / 'wd' / name / f'seed{seed}'
            folder.mkdir(parents=True)
            (folder / 'summary.json').write_text(json.dumps(_summary(aps)))
    per_seed = {'damex': {str(s): {'kitchen/bbox_mAP': 0.4 + s / 10, 'comic/bbox_mAP': 0.5}
                          for s in range(3)}}
    results = tmp_path / 'results.json'
    results.write_text(json.dumps(dict(per_seed=per_seed)))
    out = tmp_path / 'out'
    tool.main(['--work-dir', str(tmp_path / 'wd'), '--dataset', 'kitchen', '--joint-results',
               str(results), '--seeds', '0', '1', '--out-dir', str(out)])
    data = json.loads((out / 'results.json').read_text())
    assert data['joint_ap'] == {'0': pytest.approx(40.0), '1': pytest.approx(50.0)}
    assert data['arms']['add-kitchen-frozen']['new_minus_joint']['mean'] == pytest.approx(-15.0)
    with pytest.raises(SystemExit, match='--joint-iters 0'):
        tool.main(['--work-dir', str(tmp_path / 'wd'), '--dataset', 'kitchen',
                   '--joint-results', str(results), '--joint-iters', '0', '--out-dir', str(out)])
    with pytest.raises(SystemExit, match="no per-seed metrics of 'gem'"):
        tool.main(['--work-dir', str(tmp_path / 'wd'), '--dataset', 'kitchen',
                   '--joint-results', str(results), '--joint-variant', 'gem',
                   '--out-dir', str(out)])
