"""Maps from dataset similarity: look-alike datasets share an expert."""
import numpy as np
import pytest

from damex_mmdet.planning.similarity_groups import group_similar_datasets

NAMES = ['a', 'b', 'c', 'd']
# a ~ b (0.95), c ~ d (0.85), everything else 0.3
SIM = np.array([[1, .95, .3, .3], [.95, 1, .3, .3], [.3, .3, 1, .85], [.3, .3, .85, 1]])


def test_pairs_above_the_threshold_share_an_expert_even_with_spare_experts():
    planned = group_similar_datasets(NAMES, SIM, threshold=0.9)
    assert planned.expert_map == dict(a=[0], b=[0], c=[1], d=[2])
    assert planned.num_experts == 3 and planned.groups == [('a', 'b'), ('c', ), ('d', )]
    assert planned.reasons[0] == 'expert 0: a, b share it (similarity 0.95, threshold 0.90)'
    assert planned.reasons[1] == 'expert 1: c alone (most similar: d, 0.85 < 0.90)'
    # a lower threshold merges c and d too; nothing below it merges
    assert group_similar_datasets(NAMES, SIM, threshold=0.8).num_experts == 2
    assert group_similar_datasets(NAMES, SIM, threshold=0.99).num_experts == 4


def test_fewer_experts_merge_the_most_similar_groups_first():
    planned = group_similar_datasets(NAMES, SIM, threshold=0.99, num_experts=2)
    assert planned.expert_map == dict(a=[0], b=[0], c=[1], d=[1])
    one = group_similar_datasets(NAMES, SIM, num_experts=1)
    assert one.expert_map == {n: [0] for n in NAMES}


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r'shape \(3, 3\); expected \(4, 4\)'):
        group_similar_datasets(NAMES, np.eye(3))
    with pytest.raises(ValueError, match='num_experts must be >= 1'):
        group_similar_datasets(NAMES, SIM, num_experts=0)
