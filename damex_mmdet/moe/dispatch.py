"""Capacity policy and token dispatch/combine (native PyTorch backend).

Shape shorthand: ``N`` tokens, ``D`` model dim, ``E`` experts, ``K`` experts
per token, ``M`` kept (token, expert) assignments (``M <= N * K``).

Tokens are grouped by expert with one stable sort, so each expert reads a
contiguous slice (no (E, C, D) padding and no one-hot dispatch tensors); the
order inside an expert gives priority when capacity is short: all first
choices before second choices, then token order, or gate confidence with
``batch_prioritized=True``.

The common case, top-1 without dropping, is a permutation of the tokens;
:func:`gather` and :func:`combine` then use autograd functions whose backward
is a gather by the inverse permutation instead of autograd's zero-filled
scatter-add.
"""
import math
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

__all__ = ['expert_capacity', 'DispatchPlan', 'make_dispatch', 'gather', 'combine']


def expert_capacity(num_tokens: int, num_experts: int, top_k: int, capacity_factor: float,
                    max_load: int) -> int:
    """Per-expert capacity, with tutel's meaning of the factor.

    - ``capacity_factor > 0``: fixed, ``ceil(cf * K * N / E)``;
    - ``capacity_factor == 0``: no dropping, the largest expert load;
    - ``capacity_factor < 0``: dynamic, the largest load capped at
      ``ceil(|cf| * K * N / E)``.

    Args:
        num_tokens (int): ``N``.
        num_experts (int): ``E``.
        top_k (int): ``K``.
        capacity_factor (float): see above.
        max_load (int): the largest number of assignments any expert received.

    Returns:
        int: capacity ``C >= 1``.
    """
    if capacity_factor == 0:
        return max(int(max_load), 1)
    fixed = max(math.ceil(abs(capacity_factor) * top_k * num_tokens / num_experts), 1)
    if capacity_factor > 0:
        return fixed
    return max(min(fixed, int(max_load)), 1)


@dataclass
class DispatchPlan:
    """Where each kept assignment goes.

    Attributes:
        token (Tensor): (M,) source token of each kept assignment, grouped by expert.
        weight (Tensor): (M,) its combine weight.
        counts (list[int]): (E,) kept assignments per expert (slice lengths).
        kept (Tensor): (N, K) bool, False for assignments dropped by capacity.
        capacity (int): the capacity used.
    """
    token: Tensor
    weight: Tensor
    counts: list
    kept: Tensor
    capacity: int

    @property
    def is_permutation(self) -> bool:
        """Top-1 and nothing dropped: every token is dispatched exactly once."""
        return self.kept.shape[1] == 1 and self.token.numel() == self.kept.shape[0]

    @cached_property
    def inverse(self) -> Tensor:
        """(N,) position of each token in dispatch order; only for a permutation."""
        inverse = torch.empty_like(self.token)
        inverse[self.token] = torch.arange(self.token.numel(), device=self.token.device)
        return inverse


def make_dispatch(expert_index: Tensor, combine_weight: Tensor, num_experts: int,
                  capacity_factor: float, batch_prioritized: bool = False,
                  active: Tensor = None) -> DispatchPlan:
    """Group assignments by expert and apply the capacity.

    Args:
        expert_index (Tensor): (N, K) chosen experts.
        combine_weight (Tensor): (N, K) their weights.
        num_experts (int): ``E``.
        capacity_factor (float): see :func:`expert_capacity`.
        batch_prioritized (bool): keep the most confident tokens first
            when an expert overflows (instead of token order).
        active (Tensor, optional): (N, K) bool, assignments to dispatch at all
            (None: all); inactive ones take no capacity and are not kept.

    Returns:
        DispatchPlan: the plan.
    """
    num_tokens, top_k = expert_index.shape
    if top_k == 1 and not batch_prioritized and active is None:
        plan = _top1_without_drops(expert_index, combine_weight, num_experts, capacity_factor)
        if plan is not None:
            return plan
    # Priority order: choice rank k first, then token order (or confidence).
    if batch_prioritized:
        token_order = combine_weight[:, 0].detach().argsort(descending=True, stable=True)
    else:
        token_order = torch.arange(num_tokens, device=expert_index.device)
    flat_expert = expert_index[token_order].t().reshape(-1)  # (K*N,) k-major
    flat_token = token_order.repeat(top_k)
    flat_slot = torch.arange(top_k, device=expert_index.device).repeat_interleave(num_tokens)
    if active is not None:
        used = active[token_order].t().reshape(-1)
        flat_expert, flat_token, flat_slot = flat_expert[used], flat_token[used], flat_slot[used]
    sorted_expert, order = torch.sort(flat_expert, stable=True)
    loads = torch.bincount(sorted_expert, minlength=num_experts)
    starts = loads.cumsum(0) - loads
    position = torch.arange(order.numel(), device=order.device) - starts[sorted_expert]
    capacity = expert_capacity(num_tokens, num_experts, top_k, capacity_factor,
                               int(loads.max()) if flat_expert.numel() else 0)
    keep = position < capacity
    order = order[keep]
    token = flat_token[order]
    slot = flat_slot[order]
    kept = torch.zeros(num_tokens, top_k, dtype=torch.bool, device=expert_index.device)
    kept[token, slot] = True
    return DispatchPlan(
        token=token,
        weight=combine_weight[token, slot],
        counts=loads.clamp(max=capacity).tolist(),
        kept=kept,
        capacity=capacity)


def _top1_without_drops(expert_index, combine_weight, num_experts, capacity_factor):
    """The common case in one sort: top-1 and a capacity no expert exceeds.

    Returns:
        DispatchPlan or None: None when some token must be dropped (the
        general path then applies the priority order).
    """
    num_tokens = expert_index.shape[0]
    sorted_expert, token = torch.sort(expert_index[:, 0], stable=True)
    loads = torch.bincount(sorted_expert, minlength=num_experts)
    max_load = int(loads.max()) if num_tokens else 0
    capacity = expert_capacity(num_tokens, num_experts, 1, capacity_factor, max_load)
    if max_load > capacity:
        return None
    return DispatchPlan(
        token=token,
        weight=combine_weight[token, 0],
        counts=loads.tolist(),
        kept=torch.ones(num_tokens, 1, dtype=torch.bool, device=expert_index.device),
        capacity=capacity)


class _PermuteRows(torch.autograd.Function):
    """``x[order]`` for a permutation ``order``; backward gathers by its ``inverse``."""

    @staticmethod
    def forward(ctx, x, order, inverse):
        ctx.save_for_backward(inverse)
        return x.index_select(0, order)

    @staticmethod
    def backward(ctx, grad):
        inverse, = ctx.saved_tensors
        return grad.index_select(0, inverse), None, None


class _CombinePermutation(torch.autograd.Function):
    """``out[token] = expert_out * weight`` where ``token`` is a permutation.

    Both directions are gathers (``index_select``), which run about twice as
    fast as the equivalent scatter (``index_copy_``) on CPU.
    """

    @staticmethod
    def forward(ctx, expert_out, weight, token, inverse):
        ctx.save_for_backward(expert_out, weight, token)
        return (expert_out * weight[:, None]).index_select(0, inverse)

    @staticmethod
    def backward(ctx, grad):
        expert_out, weight, token = ctx.saved_tensors
        grad = grad.index_select(0, token)  # back to dispatch order
        grad_out = grad * weight[:, None] if ctx.needs_input_grad[0] else None
        grad_weight = torch.linalg.vecdot(grad, expert_out) if ctx.needs_input_grad[1] else None
        return grad_out, grad_weight, None, None


def gather(x: Tensor, plan: DispatchPlan) -> Tensor:
    """Tokens in dispatch order, the input of the experts.

    Args:
        x (Tensor): (N, D) tokens.
        plan (DispatchPlan): the dispatch plan.

    Returns:
        Tensor: (M, D), grouped by expert.
    """
    if plan.is_permutation:
        return _PermuteRows.apply(x, plan.token, plan.inverse)
    return x.index_select(0, plan.token)


def combine(expert_out: Tensor, plan: DispatchPlan, num_tokens: int) -> Tensor:
    """Weighted expert outputs back in token order (summed over a token's K experts).

    A permutation plan gathers by ``plan.inverse``; otherwise the outputs are
    scatter-added into a zero buffer.

    Args:
        expert_out (Tensor): (M, D) outputs in dispatch order.
        plan (DispatchPlan): the dispatch plan.
        num_tokens (int): ``N``.

    Returns:
        Tensor: (N, D); zero rows for tokens whose every assignment was dropped.
    """
    weight = plan.weight.to(expert_out.dtype)
    if plan.is_permutation:
        return _CombinePermutation.apply(expert_out, weight, plan.token, plan.inverse)
    weighted = expert_out * weight[:, None]
    # in place on a fresh buffer: autograd only needs the (M, D) source
    out = expert_out.new_zeros(num_tokens, expert_out.shape[-1])
    return out.index_add_(0, plan.token, weighted)
