import pytest
import torch
from mmdet.registry import MODELS

from damex_mmdet.moe import MoEFFN


def test_damex_decoder_layer_builds_from_registry_with_moe_ffn():
    layer = MODELS.build(
        dict(
            type='DAMEXDecoderLayer',
            self_attn_cfg=dict(embed_dims=256, num_heads=8),
            cross_attn_cfg=dict(embed_dims=256, num_levels=1),
            ffn_cfg=dict(embed_dims=256, feedforward_channels=64),
            moe_cfg=dict(num_experts=3, router=dict(type='TopKRouter', gate_noise=0.0))))
    assert isinstance(layer.ffn, MoEFFN)
    assert layer.ffn.num_experts == 3 and layer.ffn.feedforward_channels == 64
    query = torch.randn(2, 5, 256)
    out = layer.ffn.eval()(query)
    assert out.shape == query.shape and not torch.equal(out, query)
    # in training its balancing loss needs a routing session (an MoE detector opens
    # one); without it the loss would be lost silently, so it is refused
    with pytest.raises(RuntimeError, match='outside a routing session'):
        layer.ffn.train()(query)


def test_moe_layers_and_routers_live_in_one_registry():
    from damex_mmdet.moe import MOE_MODULES, DatasetAwareRouter, SoftMoEFFN
    ffn = MOE_MODULES.build(dict(type='MoEFFN', embed_dims=8, feedforward_channels=16,
                                 num_experts=2))
    assert isinstance(ffn, MoEFFN)
    assert MOE_MODULES.get('SoftMoEFFN') is SoftMoEFFN
    assert MOE_MODULES.get('DatasetAwareRouter') is DatasetAwareRouter
    # not registered twice: mmdet's registry holds the mmdet-facing classes only
    assert 'MoEFFN' not in MODELS.module_dict and 'TopKRouter' not in MODELS.module_dict
    assert MODELS.get('DAMEXDecoderLayer') is not None
