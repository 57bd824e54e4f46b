import pytest
import torch

from damex_mmdet.moe import ExpertMap


def test_many_to_one_and_matrix():
    h = ExpertMap(dict(coco=[1], voc=1, kitti=[5]), num_experts=8)
    assert h.experts('voc') == (1, )
    targets = h.sample_targets(['kitti', 'coco', 'voc'])
    assert targets.tolist() == [5, 1, 1]
    m = h.matrix(['coco', 'kitti'])
    assert m.shape == (2, 8) and m[0, 1] == 1 and m[1, 5] == 1 and m.sum() == 2


def test_one_to_many_draws_uniformly_and_is_seeded():
    h1 = ExpertMap(dict(a=[0, 1]), num_experts=2, seed=3)
    h2 = ExpertMap(dict(a=[0, 1]), num_experts=2, seed=3)
    draws1 = h1.sample_targets(['a'] * 400)
    draws2 = h2.sample_targets(['a'] * 400)
    assert torch.equal(draws1, draws2)
    assert 150 < int((draws1 == 0).sum()) < 250


@pytest.mark.parametrize('mapping,num_experts,message', [
    (dict(a=[3]), 2, 'valid ids 0..1'),
    (dict(a=[]), 2, 'non-empty list'),
    ({}, 2, 'non-empty dict'),
    (dict(a=['x']), 2, 'int expert ids'),
])
def test_bad_maps_raise_clear_errors(mapping, num_experts, message):
    with pytest.raises(ValueError, match=message):
        ExpertMap(mapping, num_experts)


def test_validate_against_datasets():
    h = ExpertMap(dict(coco=[0], kitti=[1]), 2)
    h.validate_datasets(['kitti', 'coco'])
    with pytest.raises(ValueError, match=r"no entry for dataset\(s\) \['voc'\]"):
        h.validate_datasets(['coco', 'kitti', 'voc'])
    with pytest.raises(ValueError, match=r"\['kitti'\] that are not among"):
        h.validate_datasets(['coco'])
    with pytest.raises(KeyError, match='not in the expert map'):
        h.sample_targets(['voc'])
