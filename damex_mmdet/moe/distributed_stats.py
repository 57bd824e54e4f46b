"""Balancing statistics summed over the ranks of a process group (optional).

Shape shorthand: ``N`` local tokens, ``E`` experts, ``K`` experts per token,
``W`` ranks.

The balancing losses of :mod:`damex_mmdet.moe.losses` are squared
coefficients of variation of per-expert *totals* over tokens: importance
``I_i = sum_x p_i(x)`` (DAMEX eq. 4) and load ``L_i = sum_x Phi(...)``
(eq. 6). By default every rank computes them on its own tokens (a per-rank
batch statistic, like BatchNorm without SyncBN). This module sums the totals
over the group first, so every rank sees the statistic of the global batch,
which is what one process would compute on all tokens (a SyncBN-like choice).

Gradients: the sum is differentiable; its backward all-reduces the incoming
gradient (as ``torch.distributed.nn.all_reduce`` does). Every rank computes the
same global loss, so a rank's gradient w.r.t. its own logits is ``W`` times the
single-process one; data parallelism averages gate gradients over ``W`` ranks,
which gives exactly the gradient of the global loss.
"""
import math
from typing import Dict

import torch
import torch.distributed as dist
from torch import Tensor

from .losses import cv_squared

__all__ = ['all_reduce_sum', 'expert_totals', 'global_importance_load_loss']


class _AllReduceSum(torch.autograd.Function):

    @staticmethod
    def forward(ctx, tensor, group):
        ctx.group = group
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        return _AllReduceSum.apply(grad, ctx.group), None


def all_reduce_sum(tensor: Tensor, group=None) -> Tensor:
    """Differentiable sum over the ranks of ``group`` (identity without distribution).

    Args:
        tensor (Tensor): any shape, same shape on every rank.
        group (ProcessGroup, optional): defaults to the world.

    Returns:
        Tensor: the element-wise sum over ranks, on every rank.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return tensor
    return _AllReduceSum.apply(tensor, group)


def expert_totals(logits: Tensor,
                  noisy_logits: Tensor,
                  top_k: int,
                  gate_noise: float,
                  mask: Tensor = None,
                  group=None) -> Dict[str, Tensor]:
    """Per-expert totals behind the balancing losses, summed over ``group``.

    Same formulas as :func:`~damex_mmdet.moe.losses.importance_loss` and
    :func:`~damex_mmdet.moe.losses.load_loss` (normal CDF of the clean logit
    minus the k-th largest noisy logit, ``sigma = gate_noise / E``; hard counts
    when ``gate_noise <= 0``).

    Args:
        logits (Tensor): (N, E) clean gate logits.
        noisy_logits (Tensor): (N, E) logits the choice was made on.
        top_k (int): ``K``.
        gate_noise (float): noise scale.
        mask (Tensor, optional): (N,) bool, local tokens to include.
        group (ProcessGroup, optional): ranks to sum over; the local totals
            are returned when torch.distributed is not initialised.

    Returns:
        dict[str, Tensor]: ``importance`` (E,), ``load`` (E,) and ``counts``
        (E,) number of tokens choosing each expert (any of its K choices),
        ``tokens`` scalar number of covered tokens; all summed over ranks.
    """
    if mask is not None:
        logits, noisy_logits = logits[mask], noisy_logits[mask]
    logits = logits.float()
    num_experts = logits.shape[-1]
    chosen = noisy_logits.topk(top_k, dim=-1).indices.reshape(-1)
    counts = torch.bincount(chosen, minlength=num_experts).float()
    importance = logits.softmax(-1).sum(0)
    if gate_noise <= 0:
        load = counts + 0.0 * logits.sum()
    else:
        sigma = gate_noise / num_experts
        threshold = noisy_logits.detach().float().topk(top_k, dim=-1).values[:, -1:]
        load = 0.5 * (1.0 + torch.erf((logits - threshold) / (sigma * math.sqrt(2.0))))
        load = load.sum(0)
    tokens = torch.tensor([float(logits.shape[0])], device=logits.device)
    # one collective for all four statistics
    packed = all_reduce_sum(torch.cat([importance, load, counts, tokens]), group)
    return dict(
        importance=packed[:num_experts],
        load=packed[num_experts:2 * num_experts],
        counts=packed[2 * num_experts:3 * num_experts].detach(),
        tokens=packed[-1].detach())


def global_importance_load_loss(logits: Tensor,
                                noisy_logits: Tensor,
                                top_k: int,
                                gate_noise: float,
                                mask: Tensor = None,
                                group=None) -> Tensor:
    """DAMEX eq. 8 on the totals of every rank: ``(CV(I)^2 + CV(L)^2) / 2``.

    Equals :func:`~damex_mmdet.moe.losses.importance_load_loss` computed by one
    process on the tokens of all ranks. Every rank of ``group`` must call it.

    Returns:
        Tensor: scalar, identical on every rank; 0 when no rank has a token.
    """
    totals = expert_totals(logits, noisy_logits, top_k, gate_noise, mask, group)
    if float(totals['tokens']) == 0:
        return 0.0 * (totals['importance'].sum() + totals['load'].sum())
    return 0.5 * (cv_squared(totals['importance']) + cv_squared(totals['load']))
