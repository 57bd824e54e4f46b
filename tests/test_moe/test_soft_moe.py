import pytest
import torch

from damex_mmdet.moe import MoEFFN, SoftMoEFFN, routing_session
from damex_mmdet.moe.expert_parallel import ExpertParallelMoEFFN


def _expert(layer, i, tokens):
    e = layer.experts
    return torch.relu(tokens @ e.w1[i] + e.b1[i]) @ e.w2[i] + e.b2[i]


def _layer(experts=3, slots=1, normalize=False, dims=4):
    torch.manual_seed(0)
    return SoftMoEFFN(dims, 8, num_experts=experts, add_identity=False,
                      router=dict(type='SoftMoERouter', slots_per_expert=slots,
                                  normalize=normalize)).eval()


def test_identical_tokens_one_slot_per_expert_by_hand():
    # identical tokens: every slot is the token itself (dispatch softmax is uniform), and every
    # token combines the E expert outputs with softmax(x Phi)
    layer = _layer()
    token = torch.tensor([0.5, -1.0, 2.0, 0.3])
    x = token.expand(1, 5, 4).clone()
    out = layer(x)
    weights = (token @ layer.router.phi).softmax(-1)
    expected = sum(weights[i] * _expert(layer, i, token) for i in range(3))
    assert torch.allclose(out, expected.expand(1, 5, 4), atol=1e-5)


def test_one_expert_one_slot_every_token_gets_the_expert_of_the_dispatch_mixture():
    layer = _layer(experts=1)
    x = torch.randn(2, 6, 4)
    out = layer(x)
    for b in range(2):
        mixture = ((x[b] @ layer.router.phi).softmax(0) * x[b]).sum(0)
        assert torch.allclose(out[b], _expert(layer, 0, mixture).expand(6, 4), atol=1e-5)


def test_slots_per_expert_and_normalisation_keep_the_convex_mixtures():
    """E=2, S=3, normalised: the output is the paper's formula, written out by hand."""
    layer = _layer(experts=2, slots=3, normalize=True)
    with torch.no_grad():
        layer.router.scale.fill_(2.5)  # a learned scale other than 1 must multiply the cosines
    x = torch.randn(1, 7, 4)
    logits = layer.router.slot_logits(x)
    assert logits.shape == (1, 7, 6)
    cosines = torch.nn.functional.normalize(x[0], dim=-1) @ torch.nn.functional.normalize(
        layer.router.phi, dim=0)
    torch.testing.assert_close(logits[0], 2.5 * cosines)
    dispatch = logits[0].softmax(0)  # (T, E*S): every slot is a convex mixture of the tokens
    combine = logits[0].softmax(1)  # (T, E*S): every token a convex mixture of the slots
    torch.testing.assert_close(dispatch.sum(0), torch.ones(6))
    torch.testing.assert_close(combine.sum(1), torch.ones(7))
    slots_in = dispatch.t() @ x[0]  # (E*S, D); slots 0-2 go to expert 0, 3-5 to expert 1
    slots_out = torch.cat([_expert(layer, s // 3, slots_in[s:s + 1]) for s in range(6)])
    torch.testing.assert_close(layer(x)[0], combine @ slots_out, atol=1e-5, rtol=1e-5)


def test_no_information_crosses_token_groups_or_images():
    layer = _layer(experts=2, slots=2).train()
    x = torch.randn(2, 7, 4, requires_grad=True)
    groups = torch.tensor([0, 0, 1, 1, 1, 2, 2])
    with routing_session(layer) as session:
        session.token_groups = groups
        out = layer(x)
    for b in range(2):
        for t in range(7):
            grad, = torch.autograd.grad(out[b, t].sum(), x, retain_graph=True)
            same = (groups == groups[t])
            assert grad[1 - b].abs().sum() == 0  # the other image: exactly zero
            assert torch.all(grad[b][~same] == 0)  # other groups: exactly zero
            assert grad[b][same].abs().sum() > 0
    # one group (no groups in the session): tokens of a group do see the others
    with routing_session(layer):
        mixed = layer(x)
    grad, = torch.autograd.grad(mixed[0, 6].sum(), x)
    assert grad[0, 0].abs().sum() > 0


def test_groups_are_ignored_for_another_sequence_length():
    layer = _layer()
    x = torch.randn(1, 5, 4)
    with routing_session(layer) as session:
        session.token_groups = torch.tensor([0, 1])  # given for a 2-token decoder
        out = layer(x)
    assert torch.allclose(out, layer(x))


def test_training_outside_a_session_is_refused_and_options_checked():
    layer = _layer().train()
    with pytest.raises(RuntimeError, match='routing session'):
        layer(torch.randn(1, 3, 4))
    with pytest.raises(ValueError, match='drops no token'):
        SoftMoEFFN(4, 8, num_experts=2, capacity_factor=1.25)
    with pytest.raises(ValueError, match='SoftMoERouter'):
        SoftMoEFFN(4, 8, num_experts=2, router=dict(type='TopKRouter'))
    # the declarations name both sides and the layer that fits the router
    with pytest.raises(ValueError, match=r"MoEFFN mixes .* SoftMoERouter dispatches by "
                       r"'slots'.*\['SoftMoEFFN'\]"):
        MoEFFN(4, 8, num_experts=2, router=dict(type='SoftMoERouter'))
    with pytest.raises(ValueError, match='expert-parallel'):
        ExpertParallelMoEFFN.from_moe(_layer())


def test_recorded_plan_summarises_the_combine_shares():
    layer = _layer(experts=2, slots=2)
    x = torch.randn(1, 4, 4)
    with routing_session(layer) as session:
        layer(x)
    (record, ) = session.records
    # share of each token's output produced by each expert: its slots' combine weights summed
    shares = (x[0] @ layer.router.phi).softmax(-1).view(4, 2, 2).sum(-1)
    assert torch.allclose(record.plan.probs, shares, atol=1e-5)
    assert record.plan.expert_index[:, 0].tolist() == shares.argmax(-1).tolist()
    assert bool(record.kept.all()) and float(record.metrics()['drop_fraction']) == 0.0
