import numpy as np
import pytest

from damex_mmdet.planning import PlanningUnit, allocate_groups, build_units, split_classes


def test_allocate_groups_hand_computed():
    # a: 4 classes, b: 2. Extra groups go to the most classes per group, ties -> first.
    assert allocate_groups({'a': 4, 'b': 2}, 3) == {'a': 2, 'b': 1}
    assert allocate_groups({'a': 4, 'b': 2}, 4) == {'a': 3, 'b': 1}
    assert allocate_groups({'a': 4, 'b': 2}, 5) == {'a': 3, 'b': 2}
    # Capped at the number of classes; never below one group per dataset.
    assert allocate_groups({'a': 1, 'b': 2}, 10) == {'a': 1, 'b': 2}
    assert allocate_groups({'a': 3, 'b': 2}, 1) == {'a': 1, 'b': 1}


def test_split_by_frequency_hand_computed():
    # By decreasing frequency: c0 (10) -> g0, c4 (7) -> g1, then c1, c2, c3 (1 each) join
    # the lighter group g1 (7 -> 8 -> 9 -> 10).
    assert split_classes(5, 2, [10, 1, 1, 1, 7]) == [(0, ), (1, 2, 3, 4)]
    # Without frequencies classes are dealt round-robin.
    assert split_classes(5, 2) == [(0, 2, 4), (1, 3)]
    # Zero frequencies still give every group a class.
    assert split_classes(3, 3, [0, 0, 0]) == [(0, ), (1, ), (2, )]


def test_split_covers_every_class_exactly_once():
    rng = np.random.default_rng(0)
    for _ in range(50):
        num_classes = int(rng.integers(1, 30))
        num_groups = int(rng.integers(1, num_classes + 1))
        groups = split_classes(num_classes, num_groups, rng.integers(0, 100, num_classes))
        flat = sorted(c for g in groups for c in g)
        assert flat == list(range(num_classes))
        assert len(groups) == num_groups and all(groups)


def test_build_units_without_split():
    units = build_units({'kitti': ('car', 'ped'), 'voc': ('cat', )}, 2)
    assert units == [PlanningUnit('kitti', 'kitti', ('car', 'ped')),
                     PlanningUnit('voc', 'voc', ('cat', ))]


def test_build_units_with_class_split():
    classes = {'coco': ('person', 'car', 'dog', 'cat'), 'kitti': ('ped', 'cyc', 'veh')}
    freq = {'coco': [100, 30, 20, 50]}
    units = build_units(classes, 4, freq)
    assert [u.name for u in units] == ['coco[0]', 'coco[1]', 'kitti[0]', 'kitti[1]']
    # coco by frequency: person (100) | cat (50), car (30), dog (20).
    assert units[0].classes == ('person', ) and units[1].classes == ('car', 'dog', 'cat')
    for name, names in classes.items():
        covered = [c for u in units if u.dataset == name for c in u.classes]
        assert sorted(covered) == sorted(names)


@pytest.mark.parametrize('call, message', [
    (lambda: split_classes(3, 4), 'num_groups <= num_classes'),
    (lambda: split_classes(3, 2, [1, -1, 2]), 'finite numbers >= 0'),
    (lambda: split_classes(3, 2, [1, 2]), '3 finite numbers'),
    (lambda: allocate_groups({'a': 0}, 2), 'at least one class'),
    (lambda: build_units({}, 2), 'no datasets'),
    (lambda: build_units({'a': ('x', )}, 0), 'num_experts must be >= 1'),
    (lambda: build_units({'a': ('x', )}, 2, {'b': [1]}), r"unknown datasets \['b'\]"),
])
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
