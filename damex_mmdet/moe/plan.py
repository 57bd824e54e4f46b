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
    """
    expert_index: Tensor
    combine_weight: Tensor
    logits: Tensor
    noisy_logits: Tensor
    target: Optional[Tensor] = None

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
        dropping), ``drop_fraction`` scalar, ``gate_entropy`` scalar mean
        entropy of the gate (nats), ``router_accuracy`` scalar share of
        tokens whose clean top-1 expert equals their target (only when
        targets exist).
    """
    probs = plan.probs
    metrics = dict(
        load=torch.bincount(
            plan.expert_index.reshape(-1), minlength=plan.num_experts).float(),
        drop_fraction=1.0 - kept.float().mean(),
        gate_entropy=-(probs * probs.clamp_min(1e-12).log()).sum(-1).mean(),
    )
    if plan.target is not None:
        has_target = plan.target >= 0
        if bool(has_target.any()):
            top1 = plan.logits.argmax(-1)
            metrics['router_accuracy'] = (
                top1[has_target] == plan.target[has_target]).float().mean()
    return metrics
