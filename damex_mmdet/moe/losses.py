"""Auxiliary MoE losses: balancing (DAMEX eq. 4-8, Switch) and the DAMEX CE (eq. 9).

Shape shorthand: ``N`` tokens, ``E`` experts, ``K`` experts chosen per token.

Every loss takes an optional boolean ``mask`` of shape (N,) selecting the
tokens it covers (e.g. foreground tokens only). An empty selection returns an
exact zero that is still connected to the graph (so distributed training sees
a gradient for the gate), never NaN.
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'cv_squared', 'importance_loss', 'load_loss', 'importance_load_loss',
    'switch_loss', 'damex_ce_loss'
]

_EPS = 1e-10


def _select(tensor, mask):
    return tensor if mask is None else tensor[mask]


def _zero_like_graph(tensor):
    """A zero scalar that keeps ``tensor`` in the autograd graph."""
    return tensor.sum() * 0.0


def cv_squared(values: Tensor) -> Tensor:
    """Squared coefficient of variation ``Var(v) / Mean(v)^2`` (population variance).

    Args:
        values (Tensor): (E,) non-negative per-expert totals.

    Returns:
        Tensor: scalar; 0 when all entries are equal.
    """
    values = values.float()
    return values.var(unbiased=False) / (values.mean()**2 + _EPS)


def importance_loss(probs: Tensor, mask: Tensor = None) -> Tensor:
    """Importance loss, DAMEX eq. 4-5: ``I_i = sum_x p_i(x)``, loss ``CV(I)^2``.

    Args:
        probs (Tensor): (N, E) softmax of the clean gate logits.
        mask (Tensor, optional): (N,) bool, tokens to include.

    Returns:
        Tensor: scalar.
    """
    selected = _select(probs, mask)
    if selected.shape[0] == 0:
        return _zero_like_graph(probs)
    return cv_squared(selected.sum(0))


def load_loss(logits: Tensor,
              noisy_logits: Tensor,
              top_k: int,
              gate_noise: float,
              mask: Tensor = None) -> Tensor:
    """Smooth load loss, DAMEX eq. 6-7, with the noisy-gate normal CDF.

    ``L_i = sum_x Phi((g_i(x) - t_k(x)) / sigma)`` where ``g`` are the clean
    logits, ``t_k(x)`` the k-th largest *noisy* logit of token x and
    ``sigma = gate_noise / E``: the probability that expert i would still be
    chosen if the noise were drawn again (Shazeer et al. 2017; tutel evaluates
    the same CDF around the k-th noisy value). With ``gate_noise <= 0`` the
    load is the hard count of chosen experts (no gradient), documented so
    that evaluation-time values stay defined.

    Args:
        logits (Tensor): (N, E) clean gate logits (fp32).
        noisy_logits (Tensor): (N, E) logits used for the top-k choice.
        top_k (int): number of experts chosen per token.
        gate_noise (float): noise scale; sigma is ``gate_noise / E``.
        mask (Tensor, optional): (N,) bool, tokens to include.

    Returns:
        Tensor: scalar ``CV(L)^2``.
    """
    logits = _select(logits, mask)
    noisy_logits = _select(noisy_logits, mask)
    if logits.shape[0] == 0:
        return _zero_like_graph(logits)
    num_experts = logits.shape[-1]
    if gate_noise <= 0:
        chosen = noisy_logits.topk(top_k, dim=-1).indices.reshape(-1)
        load = torch.bincount(chosen, minlength=num_experts).float()
        return cv_squared(load) + _zero_like_graph(logits)
    sigma = gate_noise / num_experts
    threshold = noisy_logits.detach().topk(top_k, dim=-1).values[:, -1:]
    z = (logits - threshold) / (sigma * math.sqrt(2.0))
    prob_chosen = 0.5 * (1.0 + torch.erf(z))
    return cv_squared(prob_chosen.sum(0))


def importance_load_loss(logits: Tensor,
                         noisy_logits: Tensor,
                         top_k: int,
                         gate_noise: float,
                         mask: Tensor = None) -> Tensor:
    """DAMEX eq. 8: ``(L_importance + L_load) / 2``; 0 for perfectly balanced routing."""
    probs = logits.float().softmax(-1)
    return 0.5 * (importance_loss(probs, mask) +
                  load_loss(logits, noisy_logits, top_k, gate_noise, mask))


def switch_loss(probs: Tensor, expert_index: Tensor, mask: Tensor = None) -> Tensor:
    """Switch/GShard balancing loss ``E * sum_i f_i * P_i``.

    ``f_i`` is the fraction of tokens whose first choice is expert i and
    ``P_i`` the mean gate probability of expert i. Its minimum, 1, is reached
    by perfectly balanced routing.

    Args:
        probs (Tensor): (N, E) gate probabilities.
        expert_index (Tensor): (N, K) chosen experts (first column = top-1).
        mask (Tensor, optional): (N,) bool, tokens to include.

    Returns:
        Tensor: scalar.
    """
    probs = _select(probs, mask)
    first = _select(expert_index[:, 0], mask)
    if probs.shape[0] == 0:
        return _zero_like_graph(probs)
    num_experts = probs.shape[-1]
    fraction = torch.bincount(first, minlength=num_experts).float() / first.numel()
    return num_experts * (fraction * probs.mean(0)).sum()


def damex_ce_loss(logits: Tensor, target: Tensor, mask: Tensor = None) -> Tensor:
    """DAMEX eq. 9: cross-entropy of the gate against the mapped expert ``h(d)``.

    Args:
        logits (Tensor): (N, E) clean gate logits.
        target (Tensor): (N,) long, expert ``h(d)`` of each token's dataset;
            ``-1`` marks tokens without a target (excluded).
        mask (Tensor, optional): (N,) bool, tokens to include.

    Returns:
        Tensor: scalar mean over the covered tokens (0 when none).
    """
    keep = target >= 0
    if mask is not None:
        keep = keep & mask
    if not bool(keep.any()):
        return _zero_like_graph(logits)
    return F.cross_entropy(logits[keep].float(), target[keep])
