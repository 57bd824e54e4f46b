import numpy as np
import pytest

from damex_mmdet.planning import (AffinityMatrix, PlanningUnit, plan_expert_mapping,
                                  split_demand)


def test_dataset_level_mapping():
    aff = AffinityMatrix(('kitti', 'lisa', 'voc'), ('0', '1'),
                         [[1.0, 0.0], [0.9, 0.1], [0.2, 0.8]])
    mapping = plan_expert_mapping(aff, capacity=2)
    assert mapping.expert_map == {'kitti': [0], 'lisa': [0], 'voc': [1]}
    assert mapping.lp_bound == pytest.approx(2.7) and mapping.gap == pytest.approx(0.0)
    np.testing.assert_allclose(mapping.loads, [2, 1])
    assert mapping.class_expert_map == {}


def test_class_level_mapping_lists_several_experts():
    units = [PlanningUnit('coco[0]', 'coco', ('person', )),
             PlanningUnit('coco[1]', 'coco', ('car', 'dog')),
             PlanningUnit('kitti', 'kitti', ('ped', ))]
    aff = AffinityMatrix(tuple(u.name for u in units), ('0', '1', '2'), np.eye(3))
    mapping = plan_expert_mapping(aff, capacity=1, units=units)
    assert mapping.expert_map == {'coco': [0, 1], 'kitti': [2]}
    assert mapping.class_expert_map == {'coco': {'person': 0, 'car': 1, 'dog': 1},
                                        'kitti': {'ped': 2}}


def test_split_demand_by_instance_share():
    units = [PlanningUnit('coco[0]', 'coco', ('a', )),
             PlanningUnit('coco[1]', 'coco', ('b', 'c')),
             PlanningUnit('kitti', 'kitti', ('x', ))]
    demand = split_demand(units, {'coco': 100, 'kitti': 7},
                          {'coco': [6, 3, 1]}, {'coco': ('a', 'b', 'c')})
    np.testing.assert_allclose(demand, [60, 40, 7])
    # Without frequencies the dataset demand is shared equally.
    np.testing.assert_allclose(split_demand(units, {'coco': 10, 'kitti': 1}), [5, 5, 1])


def test_errors():
    aff = AffinityMatrix(('a', 'b'), ('0', ), [[1.0], [1.0]])
    with pytest.raises(ValueError, match='do not match the affinity rows'):
        plan_expert_mapping(aff, 2, units=[PlanningUnit('b', 'b', ()),
                                           PlanningUnit('a', 'a', ())])
    with pytest.raises(ValueError, match=r"No demand given for datasets \['b'\]"):
        split_demand([PlanningUnit('a', 'a', ()), PlanningUnit('b', 'b', ())], {'a': 1})
    with pytest.raises(ValueError, match='needs dataset_classes'):
        split_demand([PlanningUnit('a', 'a', ('x', ))], {'a': 1}, {'a': [1]})
