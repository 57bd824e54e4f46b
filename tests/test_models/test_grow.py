"""Growing a trained detector: trained values kept bit for bit, new rows appended."""
import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

from damex_mmdet.models.grow import grow_state_dict, shut_class_rows
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
    assert report['grown'] and all(after[k].shape[0] > old[k].shape[0]
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


def test_grown_model_predicts_as_the_trained_one_with_the_new_rows_shut():
    """The plumbing is exact: new class rows and the new expert's gate column at -inf
    leave an old image's predictions as they were."""
    from mmdet.structures import DetDataSample
    trained, grown = _damex(4, 2, seed=0).eval(), _damex(6, 3, seed=1).eval()
    state, _ = grow_state_dict(trained.state_dict(), grown.state_dict(), copy_expert=0)
    grown.load_state_dict(state, strict=True)
    assert shut_class_rows(grown, 4) == 4  # 3 decoder layers + the encoder's branch
    for layer in grown.moe_layers.values():
        gate_logits = layer.router.gate_logits

        def shut(x, gate_logits=gate_logits):
            logits = gate_logits(x).clone()
            logits[:, 2:] = float('-inf')
            return logits

        layer.router.gate_logits = shut
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 64, 64, generator=gen) * 255
    sample = DetDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                                         scale_factor=(1.0, 1.0), batch_input_shape=(64, 64),
                                         pad_shape=(64, 64)))
    with torch.no_grad():
        before = trained.predict(image, [copy.deepcopy(sample)])[0].pred_instances
        after = grown.predict(image, [copy.deepcopy(sample)])[0].pred_instances
    assert torch.equal(after.labels, before.labels)
    assert torch.equal(after.scores, before.scores) and torch.equal(after.bboxes, before.bboxes)
    # the control: with the new rows open, the same image is predicted differently
    opened = _damex(6, 3, seed=1).eval()
    opened.load_state_dict(state, strict=True)
    with torch.no_grad():
        moved = opened.predict(image, [copy.deepcopy(sample)])[0].pred_instances
    assert not torch.equal(moved.scores, before.scores)


def test_shut_class_rows_refuses_what_it_cannot_shut():
    model = _damex(4, 2, seed=0)
    with pytest.raises(ValueError, match='first_row=4: the branches have 4 classes'):
        shut_class_rows(model, 4)
    with pytest.raises(ValueError, match='has no bbox_head.cls_branches'):
        shut_class_rows(torch.nn.Linear(2, 2), 1)
