"""Dataset look from image statistics; the default map of the mixture tool on the built-in data."""
import os.path as osp

import numpy as np
import pytest

from damex_mmdet.analysis.image_similarity import image_descriptors, look_similarity
from damex_mmdet.datasets.synthetic import generate_default_benchmark
from damex_mmdet.testing.scripts import load_script
from damex_mmdet.utils.mixture_config import MixtureDataset, similarity_expert_map

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NAMES = ('watercolor', 'comic', 'street', 'signs', 'kitchen', 'xray')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('look'))
    generate_default_benchmark(root, scale=0.1, progress=False)
    return root


def test_descriptors_and_similarity_mean_what_they_say():
    gray = np.full((20, 30, 3), 128, np.uint8)
    layout, hist = image_descriptors(gray)
    assert layout.shape == (48, ) and np.allclose(layout, 128 / 255)
    assert hist.shape == (24, ) and np.allclose(hist.reshape(3, 8).sum(1), 1.0)
    look = np.concatenate([layout, hist])
    assert look_similarity(look, look) == pytest.approx(1.0)
    white = np.concatenate(image_descriptors(np.full((20, 30, 3), 255, np.uint8)))
    assert look_similarity(look, white) < 0.6  # another brightness, another histogram bin


def test_builtin_road_pair_shares_an_expert_and_xray_keeps_its_own(data_root):
    datasets = [MixtureDataset(n, osp.join(data_root, n), img_prefix='images') for n in NAMES]
    planned, similarity = similarity_expert_map(datasets)
    assert planned.expert_map['street'] == planned.expert_map['signs']
    xray = planned.expert_map['xray']
    assert all(planned.expert_map[n] != xray for n in NAMES if n != 'xray')
    street, signs = NAMES.index('street'), NAMES.index('signs')
    assert similarity[street, signs] >= 0.9
    others = [similarity[i, j] for i in range(6) for j in range(i + 1, 6)
              if {i, j} != {street, signs}]
    assert max(others) < 0.9
    # with the human prior's 4 experts, the two painting styles join as well
    four, _ = similarity_expert_map(datasets, num_experts=4)
    assert four.expert_map['comic'] == four.expert_map['watercolor']
    assert four.num_experts == 4


def test_the_mixture_tool_prints_the_map_and_writes_it(data_root, tmp_path, capsys):
    tool = load_script(osp.join(REPO, 'tools', 'misc', 'make_mixture_config.py'))
    out = str(tmp_path / 'mine.py')
    folders = [osp.join(data_root, n) for n in ('street', 'signs', 'xray')]
    tool.main([*folders, '--method', 'damex', '--img-prefix', 'images', '--out', out])
    printed = capsys.readouterr().out
    assert 'signs, street share it (similarity 0.9' in printed and 'xray alone' in printed
    from mmengine.config import Config
    cfg = Config.fromfile(out)
    assert dict(cfg.model.moe_cfg.expert_map) == dict(signs=[0], street=[0], xray=[1])
    assert cfg.model.moe_cfg.num_experts == 2
    tool.main([*folders, '--method', 'damex', '--img-prefix', 'images', '--out', out,
               '--expert-map', 'one-per-dataset'])
    assert dict(Config.fromfile(out).model.moe_cfg.expert_map) == \
        dict(signs=[0], street=[1], xray=[2])


def test_the_named_planned_variant_carries_the_similarity_map(data_root):
    from damex_mmdet.experiments import VARIANTS
    datasets = [MixtureDataset(n, osp.join(data_root, n), img_prefix='images') for n in NAMES]
    planned, _ = similarity_expert_map(datasets)
    options = VARIANTS['damex-planned'].options
    assert options['model.moe_cfg.expert_map'] == planned.expert_map
    assert options['model.moe_cfg.num_experts'] == planned.num_experts == 5
