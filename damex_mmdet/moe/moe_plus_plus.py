"""MoE++ (Jin et al., ICLR 2025): FFN experts next to zero-computation experts.

Shape shorthand: ``N`` tokens, ``D`` model dim, ``E`` FFN experts, ``Z``
cheap (zero-computation) experts, ``E' = E + Z`` gate columns, ``K`` experts
per token (2 in the paper).

The gate chooses the top-K of ``E'`` columns, ordered
``[FFN 0..E-1, zero..., copy..., constant...]``. The cheap experts:

- zero: ``f(x) = 0`` (the token skips the layer's FFN);
- copy: ``f(x) = x``;
- constant: ``f(x) = a_1 x + a_2 v`` with ``[a_1, a_2] = softmax(W_c x)``,
  ``v`` (D,) and ``W_c`` (2, D) learned per constant expert.

Gating residual: the logits of an MoE++ layer add a learned linear map of the
previous MoE++ layer's logits of the same tokens,
``G_j(x) = W_j x + R_j G_{j-1}``; ``R_j`` (E', E') starts at zero, so a fresh
model routes as without it. The previous logits travel in the routing
session of the forward pass (``session.carry``), never on a module; a layer
outside a session (and the first MoE++ layer) has no residual.

Balancing: the Switch-style loss with the paper's heterogeneous weights,
``E' * sum_i eta_i f_i P_i`` over the balance tokens (foreground in the
detectors), ``f_i`` the share of the K * N assignments that go to column i,
``P_i`` the mean gate probability, ``eta_i = 1`` for FFN experts and ``tau``
for cheap ones (``tau < 1`` lets more tokens take them).
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .dispatch import combine, gather, make_dispatch
from .layer import MoEFFN
from .plan import RoutingPlan
from .capabilities import check_router_fits_layer
from .registry import MOE_MODULES
from .routers import TopKRouter, router_class

__all__ = ['MoEPlusPlusRouter', 'MoEPlusPlusFFN', 'CHEAP_KINDS', 'moe_plus_plus_balance_loss']

CHEAP_KINDS = ('zero', 'copy', 'constant')
_CARRY_KEY = 'moe++ gate logits'


def moe_plus_plus_balance_loss(probs: Tensor, expert_index: Tensor, num_ffn_experts: int,
                               tau: float, mask: Tensor = None) -> Tensor:
    """``E' * sum_i eta_i f_i P_i`` (see the module docstring).

    Args:
        probs (Tensor): (N, E') gate probabilities.
        expert_index (Tensor): (N, K) chosen columns.
        num_ffn_experts (int): ``E``; columns from ``E`` on are cheap (``eta = tau``).
        tau (float): weight of the cheap experts.
        mask (Tensor, optional): (N,) bool tokens to include.

    Returns:
        Tensor: scalar; an exact zero connected to the graph when no token is selected.
    """
    if mask is not None:
        probs, expert_index = probs[mask], expert_index[mask]
    if probs.shape[0] == 0:
        return probs.sum() * 0.0
    columns = probs.shape[-1]
    share = torch.bincount(expert_index.reshape(-1), minlength=columns).float()
    share = share / expert_index.numel()
    eta = torch.ones(columns, device=probs.device)
    eta[num_ffn_experts:] = tau
    return columns * (eta * share * probs.mean(0)).sum()


@MOE_MODULES.register_module()
class MoEPlusPlusRouter(TopKRouter):
    """Top-K gate over FFN and cheap experts, with gating residual and tau-balancing.

    Args:
        embed_dims (int): ``D``.
        num_experts (int): ``E'`` gate columns (FFN + cheap; the layer passes it).
        num_ffn_experts (int): ``E`` (the layer passes it).
        top_k (int): Default 2 (the paper).
        gate_noise (float): Default 0.
        balance_weight (float): weight of ``loss_balance``. Default 0.1 (as the
            vanilla MoE of this package).
        tau (float): ``eta`` of the cheap experts in the balancing loss. Default 0.75.
        normalize_topk (bool): renormalise the K chosen probabilities. Default
            False (the paper weights by the softmax over all columns).
        gating_residual (bool): add ``R_j G_{j-1}``. Default True.
    """

    dispatch = 'cheap'

    def __init__(self, embed_dims: int, num_experts: int, num_ffn_experts: int,
                 top_k: int = 2, gate_noise: float = 0.0, balance_weight: float = 0.1,
                 tau: float = 0.75, normalize_topk: bool = False, gating_residual: bool = True):
        super().__init__(embed_dims, num_experts, top_k=top_k, gate_noise=gate_noise,
                         balance_loss='switch', balance_weight=balance_weight,
                         normalize_topk=normalize_topk)
        if not 0 < num_ffn_experts <= num_experts:
            raise ValueError(f'num_ffn_experts must be in [1, {num_experts}], got '
                             f'{num_ffn_experts}.')
        if tau < 0:
            raise ValueError(f'tau must be >= 0, got {tau}.')
        self.num_ffn_experts = num_ffn_experts
        self.tau = float(tau)
        self.residual = (nn.Linear(num_experts, num_experts, bias=False)
                         if gating_residual else None)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Xavier-uniform gate; zero gating residual."""
        super().reset_parameters()
        if self.residual is not None:
            self.residual.weight.zero_()

    def forward(self, x: Tensor, target: Tensor = None, generator: torch.Generator = None,
                previous_logits: Tensor = None) -> RoutingPlan:
        """Route (N, D) tokens; ``previous_logits`` (N, E') of the previous MoE++ layer."""
        logits = self.gate_logits(x)
        if self.residual is not None and previous_logits is not None:
            if previous_logits.shape != logits.shape:
                raise ValueError(
                    f'MoE++ gating residual: the previous MoE++ layer gave logits of shape '
                    f'{tuple(previous_logits.shape)}, this one has {tuple(logits.shape)}; give '
                    'every MoE++ layer of the model the same experts, or gating_residual=False.')
            with torch.autocast(device_type=x.device.type, enabled=False):
                logits = logits + F.linear(previous_logits.float(), self.residual.weight.float())
        noisy = self._noisy(logits, generator)
        index, weight = self._choose(logits, noisy, target)
        return RoutingPlan(index, weight.to(x.dtype), logits, noisy, target)

    def losses(self, plan, ce_mask=None, balance_mask=None) -> dict:
        if self.balance_weight <= 0:
            return {}
        value = moe_plus_plus_balance_loss(plan.probs, plan.expert_index, self.num_ffn_experts,
                                           self.tau, balance_mask)
        return {'loss_balance': self.balance_weight * value}

    def extra_repr(self):
        return (super().extra_repr() + f', ffn_experts={self.num_ffn_experts}, tau={self.tau}, '
                f'gating_residual={self.residual is not None}')


@MOE_MODULES.register_module()
class MoEPlusPlusFFN(MoEFFN):
    """:class:`MoEFFN` with MoE++'s zero, copy and constant experts.

    ``num_experts`` counts the FFN experts (the expert map and the
    checkpoint's expert tensors refer to them); the gate has
    ``num_experts + num_zero + num_copy + num_constant`` columns.

    Args:
        num_zero_experts (int): Default 1.
        num_copy_experts (int): Default 1.
        num_constant_experts (int): Default 1.
        router (dict): ``dict(type='MoEPlusPlusRouter', ...)`` options; the
            column counts are filled in.
        **kwargs: see :class:`MoEFFN`.

    Attributes:
        constant_vectors (Parameter): (num_constant, D) ``v``.
        constant_gates (Parameter): (num_constant, 2, D) ``W_c``.
    """

    mixes = frozenset({'cheap'})
    expert_parallel = False  # the cheap experts are not sharded

    def __init__(self, *args, num_zero_experts: int = 1, num_copy_experts: int = 1,
                 num_constant_experts: int = 1, router: dict = dict(type='MoEPlusPlusRouter'),
                 **kwargs):
        counts = (num_zero_experts, num_copy_experts, num_constant_experts)
        if min(counts) < 0:
            raise ValueError(f'cheap expert counts must be >= 0, got zero/copy/constant {counts}.')
        router = dict(router)
        router.setdefault('type', 'MoEPlusPlusRouter')
        # before the column counts are added to the router's options
        check_router_fits_layer(type(self), router_class(router))
        # read by num_routes while MoEFFN.__init__ builds the router
        self.cheap_kinds = sum(([kind] * n for kind, n in zip(CHEAP_KINDS, counts)), [])
        num_experts = kwargs.get('num_experts', 8)
        router['num_ffn_experts'] = num_experts
        super().__init__(*args, router=router, **kwargs)
        if self.num_experts != num_experts:  # given positionally
            raise ValueError('give MoEPlusPlusFFN its num_experts as a keyword argument.')
        dims = self.embed_dims
        self.constant_vectors = nn.Parameter(torch.empty(num_constant_experts, dims))
        self.constant_gates = nn.Parameter(torch.empty(num_constant_experts, 2, dims))
        self._reset_constants()

    @property
    def num_routes(self) -> int:
        """FFN experts, then the cheap ones (the gate's columns)."""
        return self.num_experts + len(self.cheap_kinds)

    @torch.no_grad()
    def _reset_constants(self) -> None:
        nn.init.normal_(self.constant_vectors, std=0.02)
        nn.init.xavier_uniform_(self.constant_gates.view(-1, self.embed_dims))

    def init_weights(self, dense: nn.Module = None) -> None:
        """:meth:`MoEFFN.init_weights`, then the constant experts."""
        super().init_weights(dense)
        self._reset_constants()

    def route(self, flat: Tensor, batch_shape: tuple, session=None) -> RoutingPlan:
        """The plan, with the previous MoE++ layer's logits of this pass as residual."""
        if session is None:
            return self.router(flat, None, None)
        key = (_CARRY_KEY, tuple(batch_shape))
        plan = self.router(flat, session.token_targets(*batch_shape), session.generator,
                           previous_logits=session.carry.get(key))
        session.carry[key] = plan.logits
        return plan

    def mix(self, flat: Tensor, plan: RoutingPlan) -> Tuple[Tensor, Tensor]:
        """FFN experts on their tokens, the cheap experts in closed form: (N, D), (N, K)."""
        columns = self.num_routes
        dispatch = make_dispatch(plan.expert_index, plan.combine_weight, columns,
                                 self.active_capacity_factor, self.batch_prioritized, plan.active)
        rows = gather(flat, dispatch)
        ffn_rows = sum(dispatch.counts[:self.num_experts])
        pieces = [self.experts(rows[:ffn_rows], dispatch.counts[:self.num_experts])]
        start, constant = ffn_rows, 0
        for kind, count in zip(self.cheap_kinds, dispatch.counts[self.num_experts:]):
            chunk = rows[start:start + count]
            start += count
            if kind == 'zero':
                pieces.append(torch.zeros_like(chunk))
            elif kind == 'copy':
                pieces.append(chunk)
            else:
                mix = F.linear(chunk, self.constant_gates[constant]).softmax(-1)  # (count, 2)
                pieces.append(mix[:, :1] * chunk + mix[:, 1:] * self.constant_vectors[constant])
            constant += kind == 'constant'
        return combine(torch.cat(pieces, 0), dispatch, flat.shape[0]), dispatch.kept

    def routing_metrics(self, plan: RoutingPlan, kept: Tensor) -> dict:
        """:func:`routing_metrics` plus ``cheap_fraction`` and ``<kind>_fraction``:
        shares of the kept assignments served by the cheap experts."""
        metrics = super().routing_metrics(plan, kept)
        chosen = plan.expert_index[kept]
        total = max(chosen.numel(), 1)
        metrics['cheap_fraction'] = (chosen >= self.num_experts).sum() / total
        for kind in CHEAP_KINDS:
            columns = [self.num_experts + i for i, k in enumerate(self.cheap_kinds) if k == kind]
            if columns:
                hit = torch.isin(chosen, torch.tensor(columns, device=chosen.device))
                metrics[f'{kind}_fraction'] = hit.sum() / total
        return metrics

    def extra_repr(self):
        counts = {kind: self.cheap_kinds.count(kind) for kind in CHEAP_KINDS}
        return super().extra_repr() + f', cheap_experts={counts}'
