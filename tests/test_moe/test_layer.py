import pytest
import torch
import torch.nn as nn

from damex_mmdet.moe import MoEFFN, RoutingRecorder, routing_session


# routers without an auxiliary loss: these tests look at the mixture only
NO_LOSS = dict(type='TopKRouter', gate_noise=0.0, balance_weight=0.0)


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
                            router=NO_LOSS)
    x = torch.randn(2, 5, 8)
    assert torch.allclose(moe(x), dense(x), atol=1e-6)


def test_upcycling_from_dense_state_dict():
    torch.manual_seed(0)
    dense = DenseFFN(8, 16)
    moe = MoEFFN(8, 16, num_experts=3, router=NO_LOSS)
    result = moe.load_state_dict(dense.state_dict(), strict=False)
    assert not result.unexpected_keys
    x = torch.randn(1, 4, 8)
    # every expert is now the dense FFN, and top-1 weights scale its output
    plan_weight = moe.router(x.reshape(-1, 8)).combine_weight
    expected = x + dense.layers(x) * plan_weight.reshape(1, 4, 1)
    assert torch.allclose(moe(x), expected, atol=1e-5)


def test_gradients_reach_gate_and_experts_and_identity_semantics():
    moe = MoEFFN(8, 16, num_experts=4, router=NO_LOSS)
    x = torch.randn(2, 6, 8, requires_grad=True)
    moe(x).sum().backward()
    assert moe.router.gate.weight.grad.abs().sum() > 0
    assert moe.experts.w1.grad.abs().sum() > 0 and moe.experts.w2.grad.abs().sum() > 0
    no_identity = MoEFFN(8, 16, num_experts=4, add_identity=False,
                         router=NO_LOSS)
    no_identity.load_state_dict(moe.state_dict())
    y = torch.randn(2, 6, 8)
    assert torch.allclose(moe(y) - y, no_identity(y).detach(), atol=1e-6)


def test_dropped_tokens_pass_through_residual_only():
    moe = MoEFFN(4, 8, num_experts=2, capacity_factor=0.25,
                 router=NO_LOSS)
    with torch.no_grad():
        moe.router.gate.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
    x = torch.tensor([[[2.0, 0, 0, 0], [3.0, 0, 0, 0], [4.0, 0, 0, 0], [0, 5.0, 0, 0]]])
    out = moe(x)  # capacity ceil(0.25 * 4 / 2) = 1: tokens 1 and 2 dropped
    assert torch.equal(out[0, 1], x[0, 1]) and torch.equal(out[0, 2], x[0, 2])
    assert not torch.equal(out[0, 0], x[0, 0])


def test_sequence_first_layout_matches_batch_first():
    torch.manual_seed(0)
    a = MoEFFN(8, 16, num_experts=2, router=NO_LOSS)
    b = MoEFFN(8, 16, num_experts=2, batch_first=False,
               router=NO_LOSS)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 5, 8)
    assert torch.allclose(a(x), b(x.transpose(0, 1)).transpose(0, 1), atol=1e-6)


def test_session_records_and_targets():
    moe = MoEFFN(4, 8, num_experts=2, router=dict(type='DatasetAwareRouter', gate_noise=0.0))
    x = torch.randn(2, 3, 4)
    with RoutingRecorder() as recorder:
        moe.eval()(x)  # no session: nothing recorded (and allowed in evaluation)
    assert recorder.pop() == []
    moe.train()
    with routing_session(moe, torch.tensor([1, 0])) as session:
        moe(x)
    (record, ) = session.records
    assert record.batch_shape == (2, 3) and record.name == ''  # the session's root module
    assert record.plan.target.tolist() == [1, 1, 1, 0, 0, 0]
    metrics = record.metrics()
    assert float(metrics['load'].sum()) == 6 and float(metrics['drop_fraction']) == 0.0
    with pytest.raises(ValueError, match='batch-first'), routing_session(
            moe, torch.tensor([1, 0, 1])):
        moe(x)


def test_invalid_arguments():
    with pytest.raises(ValueError, match='num_fcs'):
        MoEFFN(4, 8, num_fcs=3)
    with pytest.raises(ValueError, match='act_cfg'):
        MoEFFN(4, 8, act_cfg=dict(type='Mish'))


@pytest.mark.parametrize('router', [
    dict(type='TopKRouter'),  # balancing loss 0.1
    dict(type='DatasetAwareRouter'),  # DAMEX cross-entropy
    dict(type='FixedMapRouter'),  # follows the targets
])
def test_training_forward_outside_a_session_is_refused(router):
    moe = MoEFFN(4, 8, num_experts=2, router=router)
    x = torch.randn(2, 3, 4)
    with pytest.raises(RuntimeError, match='outside a routing session'):
        moe(x)
    with routing_session(moe):
        moe(x)  # inside one: fine
    moe.eval()(x)  # evaluation needs no session


def test_training_forward_without_auxiliary_loss_needs_no_session():
    moe = MoEFFN(4, 8, num_experts=2, router=dict(type='TopKRouter', balance_weight=0.0,
                                                  gate_noise=0.0))
    x = torch.randn(2, 3, 4)
    with routing_session(moe) as session:
        inside = moe(x)
    torch.testing.assert_close(moe(x), inside, rtol=0, atol=0)  # the session only records
    assert len(session.records) == 1


def test_session_refuses_a_layer_of_another_model():
    moe, other = (MoEFFN(4, 8, num_experts=2) for _ in range(2))
    with pytest.raises(ValueError, match='not part of the model'), routing_session(other):
        moe(torch.randn(1, 2, 4))


def test_recorder_gets_detached_records_of_every_session_closed_while_attached():
    model = nn.Sequential(MoEFFN(4, 8, num_experts=2), MoEFFN(4, 8, num_experts=2))
    x = torch.randn(2, 3, 4, requires_grad=True)
    with RoutingRecorder() as recorder:
        for _ in range(2):
            with routing_session(model, torch.tensor([0, 1])) as session:
                model(x)
    with routing_session(model):  # after detaching: not recorded
        model(x)
    sessions = recorder.pop()
    assert len(sessions) == 2 and recorder.pop() == []
    assert [r.name for r in sessions[0].records] == ['0', '1']
    assert session.records[0].plan.logits.requires_grad  # the session itself keeps the graph
    record = sessions[0].records[0]
    assert not record.plan.logits.requires_grad and record.plan.target.tolist() == [0] * 3 + [1] * 3


def test_relu_routing_sums_every_active_expert_weighted_by_its_gate():
    torch.manual_seed(0)
    moe = MoEFFN(4, 8, num_experts=3, router=dict(type='ReLURouter'))
    with torch.no_grad():
        moe.router.gate.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0],
                                                   [0, 0, 1.0, 0]]))
    x = torch.tensor([[[2.0, 1.0, -1.0, 0.0], [-1.0, -2.0, -3.0, 5.0]]])
    with routing_session(moe):
        out = moe(x)
    e = moe.experts

    def expert(i, token):
        return torch.relu(token @ e.w1[i] + e.b1[i]) @ e.w2[i] + e.b2[i]

    token = x[0, 0]
    expected = x[0, 0] + 2.0 * expert(0, token) + 1.0 * expert(1, token)
    assert torch.allclose(out[0, 0], expected, atol=1e-5)
    # every gate of the second token is <= 0: no expert, the residual only
    assert torch.equal(out[0, 1], x[0, 1])
