import json

import numpy as np
import pytest

from damex_mmdet.planning import (AffinityMatrix, PlanningUnit, load_mapping, mapping_to_dict,
                                  plan_expert_mapping, render_config_snippet, save_mapping)


def _split_mapping():
    units = [PlanningUnit('coco[0]', 'coco', ('person', )),
             PlanningUnit('coco[1]', 'coco', ('car', )),
             PlanningUnit('voc-07', 'voc-07', ('cat', ))]
    aff = AffinityMatrix(tuple(u.name for u in units), ('0', '1', '2'), np.eye(3) + 0.1)
    return plan_expert_mapping(aff, capacity=[1, 1, 1], demand=[1, 1, 1], units=units)


def test_json_round_trip(tmp_path):
    mapping = _split_mapping()
    path = str(tmp_path / 'expert_map.json')
    save_mapping(mapping, path)
    back = load_mapping(path)
    assert back.expert_map == mapping.expert_map == {'coco': [0, 1], 'voc-07': [2]}
    assert back.class_expert_map == mapping.class_expert_map
    assert back.units == mapping.units
    for key in ('affinity', 'plan', 'assignment', 'capacity', 'demand'):
        np.testing.assert_array_equal(getattr(back, key), getattr(mapping, key))
    assert (back.lp_bound, back.value, back.gap) == (mapping.lp_bound, mapping.value,
                                                     mapping.gap)
    assert mapping_to_dict(back) == mapping_to_dict(mapping)


def test_snippet_is_valid_config_python():
    aff = AffinityMatrix(('kitti', 'watercolor'), ('0', '1'), np.eye(2))
    snippet = render_config_snippet(plan_expert_mapping(aff, capacity=1))
    assert 'expert_map = dict(kitti=[0], watercolor=[1])' in snippet
    assert 'num_experts = 2' in snippet
    namespace = {}
    exec(snippet, namespace)
    assert namespace['expert_map'] == {'kitti': [0], 'watercolor': [1]}
    assert 'class_expert_map' not in namespace


def test_snippet_with_non_identifier_names_and_class_split():
    namespace = {}
    exec(render_config_snippet(_split_mapping()), namespace)
    assert namespace['expert_map'] == {'coco': [0, 1], 'voc-07': [2]}
    assert namespace['class_expert_map'] == {'coco': {'person': 0, 'car': 1}}
    assert namespace['num_experts'] == 3


@pytest.mark.parametrize('edit, message', [
    (lambda d: d.update(format_version=7), 'format_version is 7'),
    (lambda d: d.pop('expert_map'), r"missing keys \['expert_map'\]"),
])
def test_load_errors(tmp_path, edit, message):
    data = mapping_to_dict(_split_mapping())
    edit(data)
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        load_mapping(str(path))


def test_load_missing_and_broken_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_mapping(str(tmp_path / 'none.json'))
    (tmp_path / 'x.json').write_text('{oops')
    with pytest.raises(ValueError, match='not valid JSON'):
        load_mapping(str(tmp_path / 'x.json'))
