import pytest
import torch

from damex_mmdet.moe import (DatasetAwareRouter, FixedMapRouter, ReLURouter, RoutingPlan,
                             TopKRouter, build_router, routing_metrics)


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


# ------------------------------------------------------------------ ReMoE (ReLURouter)
def _relu_router(weight, **kwargs):
    router = ReLURouter(weight.shape[1], weight.shape[0], **kwargs)
    with torch.no_grad():
        router.gate.weight.copy_(weight)
    return router


def test_relu_router_serves_every_expert_with_a_positive_gate_strongest_first():
    router = _relu_router(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    plan = router(torch.tensor([[2.0, -1.0], [1.0, 3.0], [-1.0, -1.0]]))
    # logits: [2, -1, -2], [1, 3, -1], [-1, -1, 1]
    assert plan.expert_index[:, 0].tolist() == [0, 1, 2]
    assert plan.active.tolist() == [[True, False, False], [True, True, False],
                                    [True, False, False]]
    assert plan.combine_weight.tolist() == [[2.0, 0.0, 0.0], [3.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    assert plan.expert_index[1, :2].tolist() == [1, 0]
    metrics = routing_metrics(plan, torch.ones(3, 3, dtype=torch.bool))
    assert metrics['load'].tolist() == [2.0, 1.0, 1.0]  # active assignments only
    assert float(metrics['active_experts']) == pytest.approx(4 / 3)
    assert float(metrics['sparsity']) == pytest.approx(5 / 9)  # zero gates of 9
    assert float(metrics['drop_fraction']) == 0.0


def test_all_gates_closed_is_full_sparsity_and_no_drop():
    router = _relu_router(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    plan = router(torch.tensor([[-1.0, -2.0], [-3.0, -0.5]]))
    assert not bool(plan.active.any())
    metrics = routing_metrics(plan, torch.zeros(2, 2, dtype=torch.bool))
    assert float(metrics['active_experts']) == 0.0 and float(metrics['sparsity']) == 1.0
    assert float(metrics['drop_fraction']) == 0.0  # nothing was assigned, nothing dropped
    assert metrics['load'].tolist() == [0.0, 0.0]


@pytest.mark.parametrize('load_balanced,expected', [(False, 3.0), (True, 5.0)])
def test_relu_router_l1_by_hand(load_balanced, expected):
    # gates relu(logits) = [[1, 0], [3, 2]]; plain L1 = mean(1, 5) = 3; load-balanced:
    # f = [1, 0.5], w = E / k * f = [2, 1] -> mean(1 * 2, 3 * 2 + 2 * 1) = 5
    router = ReLURouter(2, 2, target_active=1.0, l1_init=0.5, load_balanced=load_balanced)
    logits = torch.tensor([[1.0, -1.0], [3.0, 2.0]])
    plan = RoutingPlan(torch.zeros(2, 2, dtype=torch.long), logits.relu(), logits, logits,
                       active=logits > 0)
    loss = router.losses(plan)['loss_l1']
    assert float(loss) == pytest.approx(0.5 * expected)


@pytest.mark.parametrize('zeros,factor', [(1, 1.2), (3, 1.0), (4, 1 / 1.2)])
def test_relu_router_coefficient_follows_the_sign_rule(zeros, factor):
    # E = 4, target 1 active -> target sparsity 0.75; one token whose gates have `zeros`
    # zeros: sparsity 0.25 is too dense (raise), 0.75 on target (keep), 1.0 too sparse (lower)
    router = ReLURouter(4, 4, target_active=1.0, l1_init=1e-3, l1_step=1.2)
    logits = torch.tensor([[1.0] * (4 - zeros) + [-1.0] * zeros])
    plan = RoutingPlan(torch.zeros_like(logits, dtype=torch.long), logits.relu(), logits,
                       logits, active=logits > 0)
    loss = router.train().losses(plan)['loss_l1']
    # the loss of this step uses the coefficient before the update (w_e = 4 * f_e)
    plain = float((logits.relu() * (logits > 0).float().mean(0) * 4).sum(-1).mean())
    assert float(loss) == pytest.approx(1e-3 * plain)
    assert float(router.l1_coefficient) == pytest.approx(1e-3 * factor)
    router.eval().losses(plan)  # evaluation never steers
    assert float(router.l1_coefficient) == pytest.approx(1e-3 * factor)
    assert 'l1_coefficient' in router.state_dict()


def _train_relu_router(regularise: bool, steps: int = 300):
    """Mean active experts per token over the last 100 steps of a task that wants every gate on."""
    torch.manual_seed(0)
    router = ReLURouter(8, 4, target_active=1.0, l1_init=1e-2, l1_step=1.2).train()
    optimizer = torch.optim.Adam(router.parameters(), lr=0.005)
    x = torch.randn(256, 8) + 1.0
    history = []
    for _ in range(steps):
        plan = router(x)
        loss = -plan.combine_weight.clamp(max=1.0).mean()
        if regularise:
            loss = loss + router.losses(plan)['loss_l1']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(float(plan.active.float().sum(-1).mean()))
    return history[0], sum(history[-100:]) / 100


def test_relu_router_l1_steers_the_active_experts_to_the_target():
    start, regularised = _train_relu_router(True)
    _, free = _train_relu_router(False)
    assert start > 1.5
    assert regularised == pytest.approx(1.0, abs=0.25)
    assert free > 2.5  # without the L1 the task turns most gates on


def test_relu_router_rejects_bad_targets():
    with pytest.raises(ValueError, match='target_active'):
        ReLURouter(4, 4, target_active=5)
    with pytest.raises(ValueError, match='l1_step'):
        ReLURouter(4, 4, l1_step=1.0)
