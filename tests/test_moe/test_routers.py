import pytest
import torch

from damex_mmdet.moe import DatasetAwareRouter, FixedMapRouter, TopKRouter, build_router


def _router_with_gate(cls, weight, **kwargs):
    router = cls(weight.shape[1], weight.shape[0], **kwargs)
    with torch.no_grad():
        router.gate.weight.copy_(weight)
    return router


def test_topk_routes_to_argmax_and_weights_by_gate_prob():
    router = _router_with_gate(TopKRouter, torch.eye(3), gate_noise=0.0).eval()
    x = torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    plan = router(x)
    assert plan.expert_index[:, 0].tolist() == [0, 2]
    expected = x.softmax(-1).max(-1).values
    assert torch.allclose(plan.combine_weight[:, 0], expected)


def test_top2_weights_are_renormalised():
    router = _router_with_gate(TopKRouter, torch.eye(3), top_k=2, gate_noise=0.0).eval()
    plan = router(torch.tensor([[2.0, 1.0, 0.0]]))
    assert plan.expert_index.tolist() == [[0, 1]]
    assert float(plan.combine_weight.sum()) == pytest.approx(1.0)


def test_gate_noise_only_in_training():
    router = TopKRouter(4, 4, gate_noise=1.0)
    x = torch.randn(50, 4)
    train_plan = router.train()(x)
    assert not torch.equal(train_plan.noisy_logits, train_plan.logits)
    eval_plan = router.eval()(x)
    assert torch.equal(eval_plan.noisy_logits, eval_plan.logits)


def test_gating_is_fp32_under_autocast():
    router = TopKRouter(8, 4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        plan = router(torch.randn(3, 8))
    assert plan.logits.dtype == torch.float32


def test_damex_router_ce_zero_when_perfect_and_needs_targets():
    router = _router_with_gate(DatasetAwareRouter, 40 * torch.eye(2), gate_noise=0.0)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    plan = router(x, torch.tensor([0, 1]))
    losses = router.losses(plan)
    assert set(losses) == {'loss_damex'}
    assert float(losses['loss_damex']) < 1e-6
    plan = router(x, torch.tensor([1, 0]))
    assert float(router.losses(plan)['loss_damex']) == pytest.approx(0.1 * 40, rel=1e-3)
    with pytest.raises(RuntimeError, match="'dataset_name'"):
        router.losses(router(x))


def test_fixed_map_router_dispatches_by_map_in_training_and_by_gate_in_eval():
    router = _router_with_gate(FixedMapRouter, torch.eye(2), ce_weight=0.1)
    x = torch.tensor([[3.0, 0.0], [3.0, 0.0]])
    target = torch.tensor([1, -1])
    plan = router.train()(x, target)
    assert plan.expert_index[:, 0].tolist() == [1, 0]  # map where known, gate elsewhere
    assert plan.combine_weight.tolist() == [[1.0], [1.0]]
    plan = router.eval()(x, target)
    assert plan.expert_index[:, 0].tolist() == [0, 0]
    with pytest.raises(ValueError, match='top_k must be 1'):
        FixedMapRouter(2, 2, top_k=2)


def test_vanilla_balance_loss_key_and_weight():
    router = TopKRouter(4, 4, balance_weight=0.5, balance_loss='switch', gate_noise=0.0)
    with torch.no_grad():
        router.gate.weight.zero_()
    plan = router(torch.randn(8, 4))
    # uniform probs, all tokens on expert 0 (topk tie -> first): f=(1,0,0,0), P=1/4 -> 4*1/4 = 1
    assert float(router.losses(plan)['loss_balance']) == pytest.approx(0.5)


def test_build_router_errors():
    with pytest.raises(ValueError, match='unknown'):
        build_router(dict(type='Nope'), 4, 2)
    with pytest.raises(ValueError, match='balance_loss'):
        build_router(dict(type='TopKRouter', balance_loss='x'), 4, 2)
