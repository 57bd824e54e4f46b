"""Soft MoE (Puigcerver et al., ICLR 2024): experts process soft mixtures of tokens.

Shape shorthand: ``B`` images, ``T`` tokens per image, ``N = B * T``, ``D``
model dim, ``E`` experts, ``S`` slots per expert, ``G`` token groups.

Within a group of ``T_g`` tokens ``X`` (T_g, D) the slot logits are
``L = X Phi`` (T_g, E * S). Dispatch weights are a softmax of ``L`` over the
tokens (each slot is a convex mixture of tokens), combine weights a softmax
over the slots (each token a convex mixture of slot outputs)::

    slots = softmax_tokens(L)^T X        (E * S, D)
    out   = softmax_slots(L) f(slots)     (T_g, D), f: expert e on its S slots

No token is dropped and there is no auxiliary loss.

Which tokens share slots. A slot mixes every token of its group, so one
group must never span tokens that may not see each other. In a DETR decoder
the self-attention mask says which those are: DINO's keeps every denoising
group apart from the others, and keeps the matching queries from seeing any
denoising query (which carry noised ground truth). The groups are therefore
the classes of *mutual* visibility of the decoder's attention mask (one per
denoising group, one for the matching queries; see :mod:`.token_groups`),
mixed separately for every image; the MoE detectors hand the decoder's mask
to the routing session, which derives the groups when a layer asks for
them. Without a mask (inference, Deformable DETR, DETR) all queries of an
image form one group. Images never
share slots (per-image mixing, as the paper's per-sequence slots), so a
prediction does not depend on the rest of its batch.

Routing statistics: the plan recorded for a Soft MoE layer summarises the
combine weights per expert, ``logits[t, e] = logsumexp_s L[t, (e, s)]``, so
``plan.probs`` is the share of token t's output that expert e produces and
``expert_index`` its largest contributor; nothing is dropped.
"""
from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .layer import MoEFFN
from .plan import RoutingPlan
from .registry import MOE_MODULES
from .routers import Router

__all__ = ['SoftMoERouter', 'SoftMoEFFN']


@MOE_MODULES.register_module()
class SoftMoERouter(Router):
    """Slot logits of Soft MoE: ``Phi`` (D, E * S), optionally normalised.

    With ``normalize=True`` (the paper's recipe for stable training) tokens
    and the columns of ``Phi`` are L2-normalised and the logits multiplied by
    a learned scalar initialised to 1.

    Args:
        embed_dims (int): ``D``.
        num_experts (int): ``E``.
        slots_per_expert (int): ``S``. Default 1.
        normalize (bool): see above. Default True.
    """

    dispatch = 'slots'  # no dispatch plan: SoftMoEFFN mixes tokens with slot_logits

    def __init__(self, embed_dims: int, num_experts: int, slots_per_expert: int = 1,
                 normalize: bool = True):
        super().__init__()
        if slots_per_expert < 1:
            raise ValueError(f'slots_per_expert must be >= 1, got {slots_per_expert}.')
        self.num_experts = num_experts
        self.slots_per_expert = slots_per_expert
        self.normalize = normalize
        self.phi = nn.Parameter(torch.empty(embed_dims, num_experts * slots_per_expert))
        self.scale = nn.Parameter(torch.ones(())) if normalize else None
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """LeCun-normal ``Phi`` (std ``D ** -0.5``); scale 1."""
        nn.init.normal_(self.phi, std=self.phi.shape[0]**-0.5)
        if self.scale is not None:
            self.scale.fill_(1.0)

    def slot_logits(self, x: Tensor) -> Tensor:
        """(..., D) tokens -> (..., E * S) fp32 slot logits."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            x, phi = x.float(), self.phi.float()
            if self.normalize:
                x = F.normalize(x, dim=-1)
                phi = F.normalize(phi, dim=0) * self.scale.float()
            return x @ phi

    def extra_repr(self):
        return (f'num_experts={self.num_experts}, slots_per_expert={self.slots_per_expert}, '
                f'normalize={self.normalize}')


@MOE_MODULES.register_module()
class SoftMoEFFN(MoEFFN):
    """:class:`MoEFFN` with Soft MoE mixing.

    Same constructor and expert tensors as :class:`MoEFFN` (a dense checkpoint
    is upcycled the same way); the router holds ``phi`` (and ``scale``)
    instead of a gate matrix.

    Args:
        router (dict): ``dict(type='SoftMoERouter', slots_per_expert=1,
            normalize=True)``; another router type is refused.
        capacity_factor, eval_capacity_factor, batch_prioritized: must be at
            their defaults (Soft MoE drops nothing).
        **kwargs: see :class:`MoEFFN`.
    """

    mixes = frozenset({'slots'})
    mixes_tokens = True  # a slot mixes every token of its group: needs the session's groups
    expert_parallel = False

    def __init__(self, *args, router: dict = dict(type='SoftMoERouter'), **kwargs):
        router = dict(router)
        router.setdefault('type', 'SoftMoERouter')
        for key in ('capacity_factor', 'eval_capacity_factor', 'batch_prioritized'):
            if kwargs.get(key):
                raise ValueError(f'SoftMoEFFN drops no token: {key} must be 0 / False, got '
                                 f'{kwargs[key]!r}.')
        super().__init__(*args, router=router, **kwargs)

    def route_and_mix(self, flat: Tensor, batch_shape: tuple,
                      session=None) -> Tuple[RoutingPlan, Tensor, Tensor]:
        """Soft MoE on (N, D) tokens, mixing within each image's token groups.

        Returns:
            tuple: the summary plan (see the module docstring), the (N, D)
            mixture and an all-True (N, 1) kept mask.
        """
        batch, tokens = batch_shape
        dims = flat.shape[-1]
        experts, slots = self.num_experts, self.router.slots_per_expert
        groups = None if session is None else session.groups_for(tokens)
        x = flat.view(batch, tokens, dims)
        logits = self.router.slot_logits(x)  # (B, T, E*S) fp32
        members = self._group_members(groups, tokens, flat.device)
        # slots of every (image, group): (B, G, E*S, D)
        slot_in = torch.stack([
            torch.einsum('bts,btd->bsd', logits[:, idx].softmax(1).to(x.dtype), x[:, idx])
            for idx in members
        ], 1)
        num_groups = len(members)
        # expert-major rows for the grouped experts: (E * B * G * S, D)
        expert_rows = slot_in.view(batch, num_groups, experts, slots, dims).permute(
            2, 0, 1, 3, 4).reshape(-1, dims)
        counts = [batch * num_groups * slots] * experts
        expert_out = self.experts(expert_rows, counts).view(experts, batch, num_groups, slots,
                                                            dims)
        slot_out = expert_out.permute(1, 2, 0, 3, 4).reshape(batch, num_groups,
                                                             experts * slots, dims)
        pieces = [
            torch.einsum('bts,bsd->btd', logits[:, idx].softmax(-1).to(x.dtype), slot_out[:, g])
            for g, idx in enumerate(members)
        ]
        order = torch.cat(members)
        out = torch.cat(pieces, 1)
        if not torch.equal(order, torch.arange(tokens, device=order.device)):
            out = out[:, torch.argsort(order)]
        plan = self._summary_plan(logits.detach().reshape(batch * tokens, experts, slots))
        if session is not None:  # for the router-accuracy statistic only; never routes
            plan.target = session.token_targets(batch, tokens)
        kept = torch.ones(batch * tokens, 1, dtype=torch.bool, device=flat.device)
        return plan, out.reshape(batch * tokens, dims), kept

    @staticmethod
    def _group_members(groups, tokens: int, device) -> List[Tensor]:
        """Token indices of every group (one group of all tokens when None)."""
        if groups is None:
            return [torch.arange(tokens, device=device)]
        return [(groups == g).nonzero().flatten() for g in torch.unique(groups).tolist()]

    @staticmethod
    def _summary_plan(logits: Tensor) -> RoutingPlan:
        """(N, E, S) slot logits -> plan of per-expert combine shares, top-1 first."""
        expert_logits = logits.logsumexp(-1)  # (N, E): softmax = combine share per expert
        index = expert_logits.argmax(-1, keepdim=True)
        weight = expert_logits.softmax(-1).gather(1, index)
        return RoutingPlan(index, weight, expert_logits, expert_logits, None)

    def extra_repr(self):
        return super().extra_repr() + ', mixing=soft'
