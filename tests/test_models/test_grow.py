"""Growing a trained detector: trained values kept bit for bit, new rows appended."""
import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

from damex_mmdet.models.grow import grow_state_dict
from damex_mmdet.testing.tiny_models import tiny_dino_cfg

register_all_modules()


def _damex(num_classes, num_experts, seed):
    cfg = tiny_dino_cfg(num_classes)
    cfg.update(type='DAMEXDINO', moe_cfg=dict(
        layers=dict(decoder=[0, 2]), num_experts=num_experts,
        expert_map={f'd{i}': [i] for i in range(num_experts)}))
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg))
    model.init_weights()
    return model


def test_old_values_are_kept_and_new_rows_appended():
    trained, grown = _damex(4, 2, seed=0), _damex(6, 3, seed=1)
    old, template = trained.state_dict(), grown.state_dict()
    state, report = grow_state_dict(old, template, copy_expert=1)
    grown.load_state_dict(state, strict=True)
    after = grown.state_dict()
    for key in report['kept']:
        assert torch.equal(after[key], old[key]), key
    assert 'dn_query_generator.label_embedding.weight' in report['grown']
    assert 'bbox_head.cls_branches.3.weight' in report['grown']  # the encoder's branch too
    for key in report['grown']:
        rows = old[key].shape[0]
        assert torch.equal(after[key][:rows], old[key]), key
        if '.experts.' in key:
            assert torch.equal(after[key][2], old[key][1]), key  # the new expert = expert 1
        else:  # new class rows and router rows keep the grown model's initialisation
            assert torch.equal(after[key][rows:], template[key][rows:]), key
    assert not report['grown'] or all(after[k].shape[0] > old[k].shape[0]
                                      for k in report['grown'])


def test_what_cannot_grow_is_refused_by_key():
    trained = _damex(4, 2, seed=0).state_dict()
    grown = _damex(6, 3, seed=1).state_dict()
    with pytest.raises(ValueError, match=r'experts\.w1: 1 new expert\(s\) need copy_expert'):
        grow_state_dict(trained, grown)
    shrunk = _damex(3, 2, seed=1).state_dict()
    with pytest.raises(ValueError, match=r'shape \(4, 256\) in the checkpoint, \(3, 256\)'):
        grow_state_dict(trained, shrunk)
    missing = dict(grown)
    missing.pop('level_embed')
    with pytest.raises(ValueError, match=r"only in the checkpoint \['level_embed'\]"):
        grow_state_dict(trained, missing, copy_expert=0)
