import pytest
import torch

from damex_mmdet.moe import combine, expert_capacity, gather, make_dispatch


@pytest.mark.parametrize('cf,max_load,expected', [
    (1.25, 7, 5),    # ceil(1.25 * 1 * 16 / 4) = 5
    (0.0, 7, 7),     # no dropping: the largest load
    (-1.25, 3, 3),   # dynamic: largest load, below the cap
    (-1.25, 9, 5),   # dynamic: capped at ceil(1.25 * 16 / 4)
    (0.25, 9, 1),    # never below one token
])
def test_expert_capacity(cf, max_load, expected):
    assert expert_capacity(16, 4, 1, cf, max_load) == expected


def test_capacity_one_drops_exactly_the_later_tokens():
    # 6 tokens on 3 experts; expert 0 gets tokens 0, 2, 3; expert 2 gets 1, 5; expert 1 gets 4
    index = torch.tensor([[0], [2], [0], [0], [1], [2]])
    weight = torch.ones(6, 1)
    plan = make_dispatch(index, weight, num_experts=3, capacity_factor=0.5)  # ceil(0.5*6/3)=1
    assert plan.capacity == 1
    assert plan.kept[:, 0].tolist() == [True, True, False, False, True, False]
    assert plan.token.tolist() == [0, 4, 1]  # grouped by expert, first come first kept
    assert plan.counts == [1, 1, 1]


def test_batch_prioritized_keeps_confident_tokens():
    index = torch.tensor([[0], [0], [0]])
    weight = torch.tensor([[0.2], [0.9], [0.5]])
    plan = make_dispatch(index, weight, 1, capacity_factor=0.5, batch_prioritized=True)
    # capacity ceil(0.5 * 3 / 1) = 2: the two most confident tokens (1, then 2)
    assert plan.token.tolist() == [1, 2]
    assert plan.kept[:, 0].tolist() == [False, True, True]


def test_top2_first_choices_have_priority_over_second():
    index = torch.tensor([[0, 1], [1, 0]])
    weight = torch.full((2, 2), 0.5)
    plan = make_dispatch(index, weight, 2, capacity_factor=0.5)  # ceil(0.5*2*2/2) = 1
    assert plan.kept.tolist() == [[True, False], [True, False]]


def test_combine_weights_and_zero_rows_for_dropped():
    index = torch.tensor([[0], [0], [1]])
    weight = torch.tensor([[0.5], [1.0], [2.0]])
    plan = make_dispatch(index, weight, 2, capacity_factor=0.5)  # capacity 1: token 1 dropped
    expert_out = torch.tensor([[1.0, 1.0], [3.0, 3.0]])  # outputs for tokens 0 and 2
    out = combine(expert_out, plan, 3)
    assert out.tolist() == [[0.5, 0.5], [0.0, 0.0], [6.0, 6.0]]


@pytest.mark.parametrize('weight_grad', [True, False])
def test_permutation_gather_and_combine_match_autograd(weight_grad):
    """Top-1 without drops takes the permutation path; its hand-written
    backward must give autograd's gradients for tokens, outputs and weights."""
    torch.manual_seed(0)
    index = torch.randint(0, 3, (7, 1))
    plan_weight = torch.rand(7, 1, requires_grad=weight_grad)
    plan = make_dispatch(index, plan_weight, 3, capacity_factor=0.0)
    assert plan.is_permutation and sorted(plan.token.tolist()) == list(range(7))
    assert plan.token[plan.inverse].tolist() == list(range(7))
    x = torch.randn(7, 5, requires_grad=True)
    upstream = torch.randn(7, 5)
    scale = torch.randn(7, 5)  # a stand-in for the experts, so the gradients differ per row

    out = combine(gather(x, plan) * scale, plan, 7)
    grads = torch.autograd.grad((out * upstream).sum(),
                                [x, plan_weight] if weight_grad else [x], retain_graph=True)
    # reference: the general (index_select / index_add_) path by hand
    ref_out = torch.zeros(7, 5).index_add_(
        0, plan.token, x.index_select(0, plan.token) * scale * plan.weight[:, None])
    ref = torch.autograd.grad((ref_out * upstream).sum(),
                              [x, plan_weight] if weight_grad else [x])
    torch.testing.assert_close(out, ref_out)
    for got, want in zip(grads, ref):
        torch.testing.assert_close(got, want)


def test_dropping_or_top2_is_not_a_permutation():
    dropped = make_dispatch(torch.tensor([[0], [0], [1]]), torch.ones(3, 1), 2, 0.5)
    top2 = make_dispatch(torch.tensor([[0, 1], [1, 0]]), torch.ones(2, 2), 2, 0.0)
    assert not dropped.is_permutation and not top2.is_permutation
    x = torch.arange(6.0).view(3, 2)
    assert gather(x, dropped).tolist() == [[0.0, 1.0], [4.0, 5.0]]  # token 1 dropped


def test_inactive_assignments_take_no_capacity_and_are_not_kept():
    # ReLU routing: 3 tokens x 2 columns; token 0 uses both experts, token 1 expert 1 only,
    # token 2 none. Capacity cf=1 -> ceil(1 * 2 * 3 / 2) = 3 per expert: nothing dropped.
    index = torch.tensor([[0, 1], [1, 0], [0, 1]])
    weight = torch.tensor([[0.5, 0.2], [0.7, 0.0], [0.0, 0.0]])
    active = weight > 0
    plan = make_dispatch(index, weight, 2, capacity_factor=1.0, active=active)
    assert plan.counts == [1, 2]
    assert plan.token.tolist() == [0, 1, 0]  # by expert; first choices before second
    assert plan.weight.tolist() == pytest.approx([0.5, 0.7, 0.2])
    assert plan.kept.tolist() == [[True, True], [True, False], [False, False]]
    x = torch.arange(6.0).view(3, 2)
    out = combine(gather(x, plan), plan, 3)  # identity "experts"
    assert torch.allclose(out, torch.stack([x[0] * 0.7, x[1] * 0.7, torch.zeros(2)]))
