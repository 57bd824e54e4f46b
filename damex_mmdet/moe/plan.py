"""The routing plan: what every router returns, and the metrics derived from it.

Shape shorthand: ``N`` tokens, ``E`` experts, ``K`` experts chosen per token.
"""
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

__all__ = ['RoutingPlan', 'routing_metrics']


@dataclass
class RoutingPlan:
    """Which experts serve which tokens, and with what weight.

    Attributes:
        expert_index (Tensor): (N, K) long, chosen experts, best first.
        combine_weight (Tensor): (N, K) float, weight of each chosen expert's
            output (differentiable w.r.t. the gate when it is a gate score).
        logits (Tensor): (N, E) fp32 clean gate logits.
        noisy_logits (Tensor): (N, E) logits the choice was made on (equal
            to ``logits`` without gate noise).
        target (Tensor, optional): (N,) long expert ``h(d)`` per token,
            ``-1`` where unknown; ``None`` when no dataset info was given.
        active (Tensor, optional): (N, K) bool, which of the K assignments are
            used at all; ``None`` means all. Routers with a variable number of
            experts per token (ReLU routing, ReMoE) give K = E columns and
            mark the experts whose gate is zero inactive: inactive
            assignments are neither dispatched nor counted as load or drops.
    """
    expert_index: Tensor
    combine_weight: Tensor
    logits: Tensor
    noisy_logits: Tensor
    target: Optional[Tensor] = None
    active: Optional[Tensor] = None

    @property
    def num_experts(self) -> int:
        return self.logits.shape[-1]

    @property
    def probs(self) -> Tensor:
        """(N, E) softmax of the clean logits."""
        return self.logits.softmax(-1)


@torch.no_grad()
def routing_metrics(plan: RoutingPlan, kept: Tensor) -> dict:
    """Detached per-layer routing statistics.

    Args:
        plan (RoutingPlan): the plan of one forward pass.
        kept (Tensor): (N, K) bool, True where the assignment was within
            capacity (False = dropped).

    Returns:
        dict: ``load`` (E,) tokens dispatched to each expert (before
        dropping), ``drop_fraction`` scalar share of the (active) assignments
        dropped, ``gate_entropy`` scalar mean entropy of the gate (nats),
        ``router_accuracy`` scalar share of tokens whose clean top-1 expert
        equals their target (only when targets exist), ``active_experts``
        scalar mean number of experts serving a token and ``sparsity`` the
        share of inactive assignments (only for plans with an ``active``
        mask; ReMoE lists every expert, so this is the share of zero gates).
    """
    probs = plan.probs
    if plan.active is None:
        load = torch.bincount(plan.expert_index.reshape(-1), minlength=plan.num_experts)
        drop = 1.0 - kept.float().mean()
    else:
        load = torch.bincount(plan.expert_index[plan.active], minlength=plan.num_experts)
        used = plan.active.sum()
        # share of the active assignments that overflowed (0 when none is active)
        drop = (used - (kept & plan.active).sum()) / used.clamp_min(1)
    metrics = dict(
        load=load.float(),
        drop_fraction=drop,
        gate_entropy=-(probs * probs.clamp_min(1e-12).log()).sum(-1).mean(),
    )
    if plan.active is not None:
        metrics['active_experts'] = plan.active.float().sum(-1).mean()
        metrics['sparsity'] = 1.0 - plan.active.float().mean()
    if plan.target is not None:
        has_target = plan.target >= 0
        if bool(has_target.any()):
            top1 = plan.logits.argmax(-1)
            metrics['router_accuracy'] = (
                top1[has_target] == plan.target[has_target]).float().mean()
    return metrics
