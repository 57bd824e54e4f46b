import pytest
import torch

from damex_mmdet.moe import MoEPlusPlusFFN, routing_session
from damex_mmdet.moe.expert_parallel import ExpertParallelMoEFFN
from damex_mmdet.moe.moe_plus_plus import moe_plus_plus_balance_loss

# columns: FFN 0, FFN 1, zero (2), copy (3), constant (4)
ZERO, COPY, CONSTANT = 2, 3, 4


def _layer(top_k=1, **router):
    torch.manual_seed(0)
    layer = MoEPlusPlusFFN(4, 8, num_experts=2, router=dict(
        type='MoEPlusPlusRouter', top_k=top_k, balance_weight=0.0, **router)).eval()
    return layer


def _force(layer, column, margin=50.0):
    """Make the gate choose ``column`` for every token with (almost) all of the probability."""
    with torch.no_grad():
        layer.router.gate.weight.zero_()
        layer.router.gate.weight[column, 0] = margin


def _tokens():
    x = torch.randn(1, 6, 4)
    x[..., 0] = 1.0  # feature 0 drives the forced gate
    return x


def test_gate_has_a_column_per_ffn_and_cheap_expert():
    layer = _layer()
    assert layer.num_experts == 2
    assert layer.router.gate.weight.shape == (5, 4)
    assert layer.cheap_kinds == ['zero', 'copy', 'constant']
    assert layer.experts.w1.shape[0] == 2  # only FFN experts hold FFN weights


def test_zero_expert_adds_nothing():
    layer = _layer()
    _force(layer, ZERO)
    x = _tokens()
    assert torch.equal(layer(x), x)  # residual + 0


def test_copy_expert_returns_its_input_weighted_by_the_gate():
    layer = _layer()
    _force(layer, COPY, margin=2.0)
    x = _tokens()
    weight = torch.softmax(x[0] @ layer.router.gate.weight.t(), -1)[:, COPY]
    assert torch.allclose(layer(x)[0], x[0] + weight[:, None] * x[0], atol=1e-6)


def test_constant_expert_by_hand():
    layer = _layer()
    _force(layer, CONSTANT, margin=2.0)
    with torch.no_grad():
        layer.constant_vectors.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
        layer.constant_gates.zero_()
        layer.constant_gates[0, 1, 1] = 1.0  # a_2 logit = x_1, a_1 logit = 0
    x = _tokens()
    gate = torch.softmax(x[0] @ layer.router.gate.weight.t(), -1)[:, CONSTANT]
    a2 = torch.sigmoid(x[0, :, 1])  # softmax([0, x_1])[1]
    expected = (1 - a2)[:, None] * x[0] + a2[:, None] * layer.constant_vectors[0]
    assert torch.allclose(layer(x)[0], x[0] + gate[:, None] * expected, atol=1e-6)


def test_top2_mixes_an_ffn_expert_and_a_cheap_one():
    layer = _layer(top_k=2)
    with torch.no_grad():
        layer.router.gate.weight.zero_()
        layer.router.gate.weight[0, 0] = 3.0
        layer.router.gate.weight[ZERO, 0] = 2.0
    x = _tokens()
    probs = torch.softmax(x[0] @ layer.router.gate.weight.t(), -1)
    e = layer.experts
    ffn = torch.relu(x[0] @ e.w1[0] + e.b1[0]) @ e.w2[0] + e.b2[0]
    # not renormalised: the zero expert's share is simply missing from the output
    assert torch.allclose(layer(x)[0], x[0] + probs[:, :1] * ffn, atol=1e-5)
    with routing_session(layer) as session:
        layer(x)
    metrics = session.records[0].metrics()
    assert float(metrics['cheap_fraction']) == pytest.approx(0.5)
    assert float(metrics['zero_fraction']) == pytest.approx(0.5)
    assert float(metrics['copy_fraction']) == 0.0


def test_gating_residual_adds_the_previous_layers_logits_in_a_session_only():
    first, second = _layer(), _layer()
    with torch.no_grad():
        second.router.residual.weight.copy_(torch.eye(5) * 0.5)
    model = torch.nn.Sequential(first, second)
    x = _tokens()
    with routing_session(model) as session:
        second(first(x))
    logits_1 = session.records[0].plan.logits
    hidden = first(x).reshape(-1, 4)
    expected = hidden @ second.router.gate.weight.t() + 0.5 * logits_1
    assert torch.allclose(session.records[1].plan.logits, expected, atol=1e-5)
    # a fresh router starts with a zero residual: routing as without it
    assert float(first.router.residual.weight.abs().sum()) == 0.0
    # outside a session there is no previous layer to read
    assert torch.allclose(second.router(hidden).logits, hidden @ second.router.gate.weight.t())


def test_gating_residual_refuses_other_expert_counts():
    first = _layer()
    torch.manual_seed(1)
    other = MoEPlusPlusFFN(4, 8, num_experts=3, router=dict(type='MoEPlusPlusRouter')).eval()
    with routing_session(torch.nn.Sequential(first, other)):
        hidden = first(_tokens())
        with pytest.raises(ValueError, match='gating residual'):
            other(hidden)


def test_balance_loss_by_hand():
    # 2 tokens, 3 columns (FFN 0, FFN 1, cheap 2), top-1; tau = 0.5
    probs = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    index = torch.tensor([[0], [2]])
    # f = [0.5, 0, 0.5], P = [0.4, 0.25, 0.35], eta = [1, 1, 0.5]
    expected = 3 * (0.5 * 0.4 + 0.5 * 0.5 * 0.35)
    value = moe_plus_plus_balance_loss(probs, index, num_ffn_experts=2, tau=0.5)
    assert float(value) == pytest.approx(expected)
    empty = moe_plus_plus_balance_loss(probs, index, 2, 0.5, mask=torch.zeros(2, dtype=bool))
    assert float(empty) == 0.0


def test_options_are_checked_and_expert_parallel_is_refused():
    with pytest.raises(ValueError, match='MoEPlusPlusRouter'):
        MoEPlusPlusFFN(4, 8, num_experts=2, router=dict(type='TopKRouter'))
    with pytest.raises(ValueError, match='>= 0'):
        MoEPlusPlusFFN(4, 8, num_experts=2, num_zero_experts=-1)
    with pytest.raises(ValueError, match='expert-parallel'):
        ExpertParallelMoEFFN.from_moe(_layer())
