import math

import pytest
import torch

from damex_mmdet.moe import (cv_squared, damex_ce_loss, importance_load_loss, importance_loss,
                             load_loss, switch_loss)


def test_cv_squared_hand_values():
    assert cv_squared(torch.tensor([2.0, 2.0, 2.0])) == 0
    # values 1, 3: mean 2, population variance 1 -> 1 / 4
    assert math.isclose(float(cv_squared(torch.tensor([1.0, 3.0]))), 0.25, rel_tol=1e-6)


def test_importance_loss_balanced_is_zero_and_skew_positive():
    probs = torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    assert float(importance_loss(probs)) == pytest.approx(0.0, abs=1e-7)
    skewed = torch.tensor([[0.9, 0.1], [0.9, 0.1]])
    # I = (1.8, 0.2): mean 1, var 0.64
    assert float(importance_loss(skewed)) == pytest.approx(0.64, rel=1e-5)


def test_load_loss_balanced_minimum_and_gradient():
    logits = torch.tensor([[4.0, 0.0], [0.0, 4.0]], requires_grad=True)
    loss = load_loss(logits, logits.detach(), top_k=1, gate_noise=1.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    skewed = torch.tensor([[0.3, 0.0], [0.3, 0.0]], requires_grad=True)
    loss = load_loss(skewed, skewed.detach(), top_k=1, gate_noise=1.0)
    # sigma = 1 / 2; threshold 0.3: Phi(0) = 0.5 for expert 0, Phi(-0.6) for expert 1
    phi = 0.5 * (1 + math.erf(-0.6 / math.sqrt(2)))
    loads = [1.0, 2 * phi]
    mean = sum(loads) / 2
    expected = ((loads[0] - mean)**2 + (loads[1] - mean)**2) / 2 / mean**2
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    # pushing expert 0 logits down reduces the imbalance
    assert (skewed.grad[:, 0] > 0).all()


def test_load_loss_without_noise_counts_hard_choices():
    logits = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    # loads (3, 1): mean 2, var 1 -> 0.25
    assert float(load_loss(logits, logits, 1, 0.0)) == pytest.approx(0.25)


def test_importance_load_is_mean_of_both():
    logits = torch.randn(16, 4)
    noisy = logits + 0.1 * torch.randn(16, 4)
    expected = 0.5 * (importance_loss(logits.softmax(-1)) + load_loss(logits, noisy, 1, 1.0))
    assert torch.allclose(importance_load_loss(logits, noisy, 1, 1.0), expected)


def test_switch_loss_minimum_is_one_when_balanced():
    probs = torch.full((4, 2), 0.5)
    index = torch.tensor([[0], [1], [0], [1]])
    assert float(switch_loss(probs, index)) == pytest.approx(1.0)
    # all tokens on expert 0 with prob 0.9 -> 2 * (1 * 0.9) = 1.8
    probs = torch.tensor([[0.9, 0.1]] * 4)
    assert float(switch_loss(probs, torch.zeros(4, 1, dtype=torch.long))) == pytest.approx(1.8)


def test_damex_ce_perfect_router_is_near_zero_and_ignores_unknown_targets():
    logits = torch.tensor([[30.0, 0.0, 0.0], [0.0, 0.0, 30.0], [0.0, 30.0, 0.0]])
    target = torch.tensor([0, 2, -1])
    assert float(damex_ce_loss(logits, target)) < 1e-6
    wrong = torch.tensor([1, 2, -1])
    # first token: -log softmax(30,0,0)[1] = 30 + log(1 + 2e^-30) ~= 30; mean over 2 tokens
    assert float(damex_ce_loss(logits, wrong)) == pytest.approx(15.0, rel=1e-4)
    uniform = torch.zeros(2, 4)
    assert float(damex_ce_loss(uniform, torch.tensor([0, 3]))) == pytest.approx(math.log(4))


@pytest.mark.parametrize('fn', ['importance', 'load', 'switch', 'ce'])
def test_empty_mask_gives_finite_zero_with_graph(fn):
    logits = torch.randn(5, 3, requires_grad=True)
    mask = torch.zeros(5, dtype=torch.bool)
    if fn == 'importance':
        out = importance_loss(logits.softmax(-1), mask)
    elif fn == 'load':
        out = load_loss(logits, logits.detach(), 1, 1.0, mask)
    elif fn == 'switch':
        out = switch_loss(logits.softmax(-1), logits.argmax(-1, keepdim=True), mask)
    else:
        out = damex_ce_loss(logits, torch.zeros(5, dtype=torch.long), mask)
    assert torch.isfinite(out) and float(out) == 0.0
    out.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_mask_selects_tokens():
    probs = torch.tensor([[0.9, 0.1], [0.1, 0.9], [0.9, 0.1]])
    mask = torch.tensor([True, True, False])
    assert float(importance_loss(probs, mask)) == pytest.approx(0.0, abs=1e-7)
