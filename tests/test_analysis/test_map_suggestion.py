"""The map suggested from the router's confusion at inference."""
import json
import os.path as osp
import re

import numpy as np
import pytest

from damex_mmdet.analysis import RoutingStats
from damex_mmdet.analysis.map_suggestion import (confusion_from_csv, confusion_matrix,
                                                 most_confused_pair, suggest_map,
                                                 write_suggestion)

NAMES = ['cats', 'dogs', 'cells', 'roofs']


def _stats(expert_map=dict(cats=[0], dogs=[1], cells=[2], roofs=[3])):
    # top-1 counts per (layer, dataset, expert): cats and dogs split half and half between
    # their experts (the look-alike pair), cells and roofs are routed cleanly
    layer = np.array([[50, 45, 5, 0], [44, 52, 2, 2], [1, 0, 97, 2], [0, 3, 7, 90]], float)
    top1 = np.stack([layer, layer])
    zeros = np.zeros((2, 4, 4))
    return RoutingStats(['decoder.layers.0.ffn', 'decoder.layers.2.ffn'], NAMES, 4,
                        weight_sum=zeros, matched_count=np.zeros((2, 4)), top1_count_all=top1,
                        top1_count_matched=zeros, expert_map=expert_map)


def test_mutually_confused_datasets_are_merged_and_the_rest_kept_apart(tmp_path):
    suggestion = suggest_map(_stats())
    assert suggestion.expert_map == dict(cats=[0], cells=[1], dogs=[0], roofs=[2])
    assert suggestion.num_experts == 3
    ((a, b, ab, ba), ) = suggestion.merged
    assert (a, b) == ('cats', 'dogs') and ab == pytest.approx(0.45) and ba == pytest.approx(0.44)
    confusion = confusion_matrix(_stats())
    assert confusion[2, 3] == pytest.approx(0.02)  # cells -> roofs' expert: not merged
    paths = write_suggestion(suggestion, str(tmp_path), 0.3, '/cfg/damex.py',
                             str(tmp_path / 'merged.py'))
    saved = json.loads(open(paths['json']).read())
    assert saved['expert_map'] == suggestion.expert_map and saved['num_experts'] == 3
    text = open(paths['config']).read()
    # the parent is written relative to the child's folder, where mmengine resolves it
    parent = re.search(r"_base_ = \['(.+)'\]", text).group(1)
    assert osp.normpath(osp.join(str(tmp_path), parent)) == '/cfg/damex.py'
    assert 'num_experts=3' in text and "'_delete_': True" in text
    assert (tmp_path / 'confusion.png').stat().st_size > 0


def test_a_higher_threshold_keeps_the_map_and_a_mapless_model_is_refused():
    assert suggest_map(_stats(), threshold=0.5).expert_map == \
        dict(cats=[0], cells=[1], dogs=[2], roofs=[3])
    with pytest.raises(ValueError, match='no expert map'):
        suggest_map(_stats(expert_map=None))


def test_confusion_from_a_runs_top1_share_csv_equals_the_one_from_the_stats(tmp_path):
    stats = _stats()
    path = stats.to_csv(str(tmp_path))['top1_share']
    names, confusion = confusion_from_csv(path, stats.expert_map)
    assert names == NAMES
    np.testing.assert_allclose(confusion, confusion_matrix(stats), atol=1e-4)  # 4 decimals


def test_the_worst_separated_pair_is_the_look_alike_one_and_shared_experts_do_not_count():
    stats = _stats()
    a, b, ab, ba = most_confused_pair(NAMES, confusion_matrix(stats), stats.expert_map)
    assert (a, b) == ('cats', 'dogs') and (ab, ba) == pytest.approx((0.45, 0.44))
    # cats and dogs on one expert: their mixing is no confusion; the next pair by the
    # smaller share is cells / roofs (0.02 and 0.07), not cats / cells (0.05 and 0.01)
    merged = dict(cats=[0], dogs=[0], cells=[2], roofs=[3])
    a, b, ab, ba = most_confused_pair(NAMES, confusion_matrix(_stats(merged)), merged)
    assert (a, b) == ('cells', 'roofs') and (ab, ba) == pytest.approx((0.02, 0.07))
    assert most_confused_pair(NAMES, confusion_matrix(stats), dict.fromkeys(NAMES, [0])) is None


def test_a_map_that_lacks_a_dataset_of_the_csv_is_refused_by_name(tmp_path):
    path = _stats().to_csv(str(tmp_path))['top1_share']
    with pytest.raises(ValueError, match=r"\['roofs'\] are not in the expert map"):
        confusion_from_csv(path, dict(cats=[0], dogs=[1], cells=[2]))
