"""DAMEXDecoderLayer by config: registry decoders inside MoE detectors."""
import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

from damex_mmdet.moe import MoEFFN
from damex_mmdet.testing.tiny_models import tiny_deformable_detr_cfg, tiny_dino_cfg
from test_moe_detector import (EXPERT_MAP, damex_ce_over_steps,  # noqa: E402 (same folder)
                               make_batch)

register_all_modules()

LAYER_MOE = dict(num_experts=4, router=dict(type='DatasetAwareRouter', gate_noise=0.0))


def registry_cfg(base_fn=tiny_dino_cfg, decoder_type='DAMEXDinoTransformerDecoder',
                 detector='DAMEXDINO', moe_layers=(0, 2)):
    cfg = base_fn()
    cfg['decoder'] = dict(cfg['decoder'], type=decoder_type, moe_layers=list(moe_layers),
                          moe_cfg=copy.deepcopy(LAYER_MOE))
    cfg.update(type=detector, moe_cfg=dict(expert_map=EXPERT_MAP))
    return cfg


def build(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_registry_decoder_layers_are_damex_layers_and_their_ce_decreases():
    model = build(registry_cfg())
    assert list(model.moe_layers) == ['decoder.layers.0.ffn', 'decoder.layers.2.ffn']
    assert type(model.decoder.layers[0]).__name__ == 'DAMEXDecoderLayer'
    assert type(model.decoder.layers[1]).__name__ == 'DeformableDetrTransformerDecoderLayer'
    ce = damex_ce_over_steps(model, 6, ('dec0.damex', 'dec2.damex', 'dec0.router_acc'))
    assert ce[-1] < 0.8 * ce[0], ce


def test_registry_decoder_equals_conversion_by_moe_cfg_at_one_seed():
    """Both routes build the same model: every tensor equal, the same losses."""
    by_registry = build(registry_cfg())
    converted_cfg = tiny_dino_cfg()
    converted_cfg.update(type='DAMEXDINO', moe_cfg=dict(
        layers=dict(decoder=[0, 2]), expert_map=EXPERT_MAP, **copy.deepcopy(LAYER_MOE)))
    converted = build(converted_cfg)
    a, b = by_registry.state_dict(), converted.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    inputs, samples = make_batch(converted)
    results = []
    for model in (by_registry, converted):
        model.train()
        torch.manual_seed(0)
        results.append(model.loss(inputs, samples))
    for key, value in results[1].items():
        assert torch.equal(results[0][key], value), key


def test_registry_decoder_in_deformable_detr():
    model = build(registry_cfg(tiny_deformable_detr_cfg, 'DAMEXDeformableDetrTransformerDecoder',
                               'MoEDeformableDETR', moe_layers=(-1, )))
    assert list(model.moe_layers) == ['decoder.layers.2.ffn']
    model.train()
    losses = model.loss(*make_batch(model))
    assert float(losses['loss_damex']) > 0


def test_moe_layer_index_out_of_range_is_named():
    with pytest.raises(ValueError, match=r'moe_layers=\[0, 5\].*has 3 layers'):
        build(registry_cfg(moe_layers=(0, 5)))


def test_hand_placed_moe_layer_records_in_an_moe_detector_and_is_refused_in_a_dense_one():
    dense = build(tiny_dino_cfg())
    moe = build(dict(tiny_dino_cfg(), type='DAMEXDINO',
                     moe_cfg=dict(layers=[], num_experts=4, expert_map=EXPERT_MAP)))
    for model in (dense, moe):
        ffn = model.decoder.layers[1].ffn
        model.decoder.layers[1].ffn = MoEFFN.from_dense(ffn, copy_weights=True, **LAYER_MOE)
        model.train()
    losses = moe.loss(*make_batch(moe))
    assert 'dec1.damex' in losses and float(losses['loss_damex']) > 0
    with pytest.raises(RuntimeError, match='outside a routing session'):
        dense.loss(*make_batch(dense))
