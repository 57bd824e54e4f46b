"""Probe tokens are what the MoE layers receive on test images."""
import pytest
import torch

from damex_mmdet.analysis import capture_moe_inputs


def test_captures_decoder_queries_of_every_moe_layer(tiny_damex, loader):
    tokens = capture_moe_inputs(tiny_damex, loader, max_tokens=10_000, progress=False)
    assert list(tokens) == ['decoder.layers.0.ffn', 'decoder.layers.2.ffn']
    for value in tokens.values():
        assert value.shape == (6 * 30, 256)  # 6 images x 30 queries, all kept
    # the first layer's input is the LayerNorm-ed query: per-token mean ~ 0
    assert tokens['decoder.layers.0.ffn'].mean(-1).abs().max() < 0.1
    sample = capture_moe_inputs(tiny_damex, loader, max_tokens=50, seed=1, progress=False,
                                max_batches=1)
    first = sample['decoder.layers.2.ffn']
    assert first.shape == (50, 256)
    # a subset of the first batch's tokens (2 images), in their original order
    rows = [int((tokens['decoder.layers.2.ffn'][:60] - t).abs().sum(-1).argmin()) for t in first]
    assert rows == sorted(rows) and len(set(rows)) == 50
    assert not tiny_damex._forward_pre_hooks and not any(
        m._forward_pre_hooks for m in tiny_damex.moe_layers.values())


def test_rejects_models_without_moe_layers():
    with pytest.raises(TypeError, match='no MoE layer'):
        capture_moe_inputs(torch.nn.Linear(2, 2), [])
