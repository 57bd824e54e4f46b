import pytest
import torch
import torch.nn as nn

from damex_mmdet.moe import MoEFFN


class DenseFFN(nn.Module):
    """Same parameter layout as mmcv's FFN (layers.0.0 = fc1, layers.1 = fc2)."""

    def __init__(self, d, h):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Dropout(0.0)), nn.Linear(h, d),
            nn.Dropout(0.0))
        self.add_identity = True

    def forward(self, x):
        return x + self.layers(x)


def test_single_expert_equals_dense_ffn_with_same_weights():
    torch.manual_seed(0)
    dense = DenseFFN(8, 16)
    moe = MoEFFN.from_dense(dense, copy_weights=True, num_experts=1,
                            router=dict(type='TopKRouter', gate_noise=0.0))
    x = torch.randn(2, 5, 8)
    assert torch.allclose(moe(x), dense(x), atol=1e-6)


def test_upcycling_from_dense_state_dict():
    torch.manual_seed(0)
    dense = DenseFFN(8, 16)
    moe = MoEFFN(8, 16, num_experts=3, router=dict(type='TopKRouter', gate_noise=0.0))
    result = moe.load_state_dict(dense.state_dict(), strict=False)
    assert not result.unexpected_keys
    x = torch.randn(1, 4, 8)
    # every expert is now the dense FFN, and top-1 weights scale its output
    plan_weight = moe.router(x.reshape(-1, 8)).combine_weight
    expected = x + dense.layers(x) * plan_weight.reshape(1, 4, 1)
    assert torch.allclose(moe(x), expected, atol=1e-5)


def test_gradients_reach_gate_and_experts_and_identity_semantics():
    moe = MoEFFN(8, 16, num_experts=4, router=dict(type='TopKRouter', gate_noise=0.0))
    x = torch.randn(2, 6, 8, requires_grad=True)
    moe(x).sum().backward()
    assert moe.router.gate.weight.grad.abs().sum() > 0
    assert moe.experts.w1.grad.abs().sum() > 0 and moe.experts.w2.grad.abs().sum() > 0
    no_identity = MoEFFN(8, 16, num_experts=4, add_identity=False,
                         router=dict(type='TopKRouter', gate_noise=0.0))
    no_identity.load_state_dict(moe.state_dict())
    y = torch.randn(2, 6, 8)
    assert torch.allclose(moe(y) - y, no_identity(y).detach(), atol=1e-6)


def test_dropped_tokens_pass_through_residual_only():
    moe = MoEFFN(4, 8, num_experts=2, capacity_factor=0.25,
                 router=dict(type='TopKRouter', gate_noise=0.0))
    with torch.no_grad():
        moe.router.gate.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
    x = torch.tensor([[[2.0, 0, 0, 0], [3.0, 0, 0, 0], [4.0, 0, 0, 0], [0, 5.0, 0, 0]]])
    out = moe(x)  # capacity ceil(0.25 * 4 / 2) = 1: tokens 1 and 2 dropped
    assert torch.equal(out[0, 1], x[0, 1]) and torch.equal(out[0, 2], x[0, 2])
    assert not torch.equal(out[0, 0], x[0, 0])


def test_sequence_first_layout_matches_batch_first():
    torch.manual_seed(0)
    a = MoEFFN(8, 16, num_experts=2, router=dict(type='TopKRouter', gate_noise=0.0))
    b = MoEFFN(8, 16, num_experts=2, batch_first=False,
               router=dict(type='TopKRouter', gate_noise=0.0))
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 5, 8)
    assert torch.allclose(a(x), b(x.transpose(0, 1)).transpose(0, 1), atol=1e-6)


def test_context_records_and_targets():
    moe = MoEFFN(4, 8, num_experts=2, router=dict(type='DatasetAwareRouter', gate_noise=0.0))
    x = torch.randn(2, 3, 4)
    moe(x)
    assert moe.routing_context.records == []  # inactive context records nothing
    moe.routing_context.begin(torch.tensor([1, 0]))
    moe(x)
    (record, ) = moe.routing_context.end()
    assert record.batch_shape == (2, 3)
    assert record.plan.target.tolist() == [1, 1, 1, 0, 0, 0]
    metrics = record.metrics()
    assert float(metrics['load'].sum()) == 6 and float(metrics['drop_fraction']) == 0.0
    moe.routing_context.begin(torch.tensor([1, 0, 1]))
    with pytest.raises(ValueError, match='batch-first'):
        moe(x)


def test_invalid_arguments():
    with pytest.raises(ValueError, match='num_fcs'):
        MoEFFN(4, 8, num_fcs=3)
    with pytest.raises(ValueError, match='act_cfg'):
        MoEFFN(4, 8, act_cfg=dict(type='Mish'))
