"""tools/plan_experts.py: affinity-file path end to end."""
import os.path as osp

import numpy as np
import pytest

from damex_mmdet.planning import load_mapping
from damex_mmdet.testing.scripts import load_script

TOOL = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'plan_experts.py')


@pytest.fixture(scope='module')
def tool():
    return load_script(TOOL)


@pytest.fixture
def prior(tmp_path):
    path = tmp_path / 'prior.csv'
    path.write_text('dataset,0,1\nkitti,1.0,0.0\nlisa,0.9,0.1\nvoc,0.2,0.8\ncoco,0.3,0.7\n')
    return str(path)


def test_affinity_file_to_outputs(tool, prior, tmp_path, capsys):
    out_dir = str(tmp_path / 'out')
    mapping = tool.main(['--affinity', prior, '--capacity', '2', '--out-dir', out_dir])
    assert mapping.expert_map == {'kitti': [0], 'lisa': [0], 'voc': [1], 'coco': [1]}
    assert load_mapping(osp.join(out_dir, 'expert_map.json')).expert_map == mapping.expert_map
    namespace = {}
    with open(osp.join(out_dir, 'expert_map_snippet.py')) as f:
        exec(f.read(), namespace)
    assert namespace['expert_map'] == mapping.expert_map and namespace['num_experts'] == 2
    with open(osp.join(out_dir, 'plan.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    printed = capsys.readouterr().out
    assert 'expert_map = dict(kitti=[0], lisa=[0], voc=[1], coco=[1])' in printed
    assert 'gap 0' in printed


def test_weighted_demands_and_per_expert_capacity(tool, tmp_path):
    path = tmp_path / 'prior.json'
    path.write_text('{"kitti": [1.0, 0.0], "lisa": [0.9, 0.3], "voc": [0.2, 0.8], '
                    '"coco": [0.3, 0.7]}')
    mapping = tool.main([
        '--affinity', str(path), '--capacity', '70', '60', '--demand-values', 'kitti=50',
        'lisa=40', 'voc=20', 'coco=10', '--out-dir', str(tmp_path)
    ])
    # LP: kitti on e0, voc and coco on e1, lisa half on each (it loses 0.6 / 40 per image
    # on e1, kitti 1.0 / 50): bound 1 + 0.45 + 0.15 + 0.8 + 0.7 = 3.1. Rounding lisa
    # overfills e0 (90 > 70); the cheapest repair swaps lisa with coco (e0: 60, e1: 60),
    # which is also the best integral mapping (brute force over the 16 mappings).
    assert mapping.expert_map == {'kitti': [0], 'lisa': [1], 'voc': [1], 'coco': [0]}
    np.testing.assert_allclose(mapping.loads, [60, 60])
    assert mapping.lp_bound == pytest.approx(3.1)
    assert mapping.value == pytest.approx(2.4) and mapping.gap == pytest.approx(0.7)


def test_default_capacity_rule():
    from damex_mmdet.planning import capacity_vector, default_capacity
    # ceil(1.25 * 4 / 2) = 3 datasets per expert.
    np.testing.assert_array_equal(default_capacity(np.ones(4), 2), [3, 3])
    np.testing.assert_array_equal(capacity_vector(None, 2, np.ones(4)), [3, 3])
    # Never below the largest demand, so an integral mapping can exist.
    np.testing.assert_array_equal(default_capacity(np.array([10., 1, 1]), 4), [10] * 4)
    np.testing.assert_array_equal(capacity_vector([2.0], 3, np.ones(4)), [2, 2, 2])


@pytest.mark.parametrize('argv, message', [
    (['--capacity', '1', '2', '3'], '1 value or one per expert'),
    (['--demand', 'images'], '--demand images needs'),
    (['--demand-values', 'kitti'], "'kitti' is not NAME=NUMBER"),
    (['--demand-values', 'kitti=1', 'foo=2'], r"unknown datasets \['foo'\]"),
    (['--demand-values', 'kitti=1'], r"No demand given for datasets \['coco', 'lisa', 'voc'\]"),
    (['--num-experts', '5'], 'differs from the 2 columns'),
    (['--capacity', '1'], 'total capacity 2 is below total demand 4'),
])
def test_errors(tool, prior, tmp_path, argv, message):
    with pytest.raises(ValueError, match=message):
        tool.main(['--affinity', prior, '--out-dir', str(tmp_path), *argv])


def test_help_mentions_both_sources(tool, capsys):
    with pytest.raises(SystemExit):
        tool.parse_args(['--help'])
    text = capsys.readouterr().out
    assert '--affinity' in text and '--config' in text and '--capacity' in text
