"""Routers: decide which experts serve each token.

Shape shorthand: ``N`` tokens, ``D`` model dim, ``E`` experts, ``K`` experts
chosen per token.

Every router derives from :class:`Router`, is registered in
:data:`~damex_mmdet.moe.registry.MOE_MODULES` and declares how it dispatches
and what it needs (:mod:`~damex_mmdet.moe.capabilities`). It is called as
``plan = router(x, target, generator)`` with ``x`` (N, D), an optional
``target`` (N,) long of mapped experts ``h(d)`` (``-1`` unknown) and an
optional ``torch.Generator`` for the gate noise (the detectors pass one so
that the noise never advances torch's global stream, see
:func:`~damex_mmdet.moe.noise.stream_preserving_generator`), and returns a
:class:`RoutingPlan`. Its auxiliary losses are computed afterwards by
``router.losses(plan, ce_mask, balance_mask)``, because in detection the token
masks (foreground queries) are only known after the head has matched
predictions to ground truth. Losses come back already weighted, keyed
``loss_damex`` / ``loss_balance``.

- :class:`TopKRouter`: vanilla MoE; learned softmax gate, top-k, gate noise,
  balancing loss (DAMEX eq. 8 or Switch).
- :class:`DatasetAwareRouter`: DAMEX; dispatches by its own top-1 and learns
  ``h`` by cross-entropy (eq. 9), optionally also balanced.
- :class:`FixedMapRouter`: GEM; training dispatch follows ``h`` exactly, the
  gate learns to reproduce it so inference needs no dataset id.
- :class:`ReLURouter`: ReMoE; ReLU gate, a variable number of experts per
  token, L1 with an adaptive coefficient steering the sparsity.

Soft MoE's and MoE++'s routers live with their layers
(:mod:`~damex_mmdet.moe.soft_moe`, :mod:`~damex_mmdet.moe.moe_plus_plus`),
since those routings also change how tokens are mixed.
"""
from typing import ClassVar, Dict, Optional

import torch
import torch.distributed as dist
import torch.nn as nn
from torch import Tensor

from .distributed_stats import global_importance_load_loss
from .losses import damex_ce_loss, importance_load_loss, switch_loss
from .plan import RoutingPlan
from .registry import MOE_MODULES, lookup

__all__ = [
    'Router', 'TopKRouter', 'DatasetAwareRouter', 'FixedMapRouter', 'ReLURouter',
    'router_class', 'build_router'
]

BALANCE_LOSSES = ('importance_load', 'switch')


class Router(nn.Module):
    """Base of every router: the declarations and the defaults of a routing.

    A subclass sets ``dispatch`` (one of
    :data:`~damex_mmdet.moe.capabilities.DISPATCH_KINDS`), implements
    ``forward(x, target, generator) -> RoutingPlan`` and ``reset_parameters``,
    and overrides ``needs_targets`` / ``loss_token_sets`` / ``losses`` /
    ``extra_metrics`` where it has them. Its constructor takes
    ``(embed_dims, num_experts, **options)``.
    """

    # how the plan chooses experts (the layer must mix this kind)
    dispatch: ClassVar[Optional[str]] = None
    # mean experts per token the router steers towards, where it steers it (ReMoE);
    # None: a fixed number (top-k) or no steering
    target_active: Optional[float] = None

    @property
    def needs_targets(self) -> bool:
        """Whether a training forward reads the mapped expert ``h(d)`` of every token."""
        return False

    @property
    def loss_token_sets(self) -> Dict[str, str]:
        """Auxiliary loss name -> the role of the tokens it covers.

        Roles (:data:`~damex_mmdet.moe.capabilities.TOKEN_SET_ROLES`):
        ``'ce'`` (``moe_cfg.ce_tokens``), ``'balance'``
        (``moe_cfg.balance_tokens``) or ``'all'``. Empty: no auxiliary loss.
        """
        return {}

    def losses(self, plan: RoutingPlan, ce_mask: Tensor = None,
               balance_mask: Tensor = None) -> dict:
        """Weighted auxiliary losses of one plan (none by default)."""
        return {}

    def extra_metrics(self) -> dict:
        """Detached statistics of the router itself for the logs (none by default)."""
        return {}

    def reset_parameters(self) -> None:
        """Re-initialise the router's parameters."""
        raise NotImplementedError(f'{type(self).__name__} must define reset_parameters().')


@MOE_MODULES.register_module()
class TopKRouter(Router):
    """Learned softmax gate with top-k selection (vanilla MoE).

    Args:
        embed_dims (int): token dim ``D``.
        num_experts (int): ``E``.
        top_k (int): experts per token ``K``; 1 as in the DAMEX paper.
        gate_noise (float): in training, ``N(0, (gate_noise / E)^2)`` noise is
            added to the logits before choosing (tutel's convention). 0 turns it off.
        balance_loss (str): ``'importance_load'`` (DAMEX eq. 8) or ``'switch'``.
        balance_weight (float): weight of ``loss_balance``; 0 disables it.
        normalize_topk (bool): for K > 1, renormalise the chosen gate scores
            to sum to 1 (GShard); ignored for K = 1.
        sync_stats (bool): compute the importance+load loss on the per-expert
            totals summed over all ranks (one all-reduce per layer and step)
            instead of on this rank's tokens; every rank then gets the loss of
            the global batch. Off by default (per-rank, like BatchNorm without
            SyncBN); has no effect without torch.distributed. Only for
            ``balance_loss='importance_load'``.
    """

    def __init__(self,
                 embed_dims: int,
                 num_experts: int,
                 top_k: int = 1,
                 gate_noise: float = 1.0,
                 balance_loss: str = 'importance_load',
                 balance_weight: float = 0.1,
                 normalize_topk: bool = True,
                 sync_stats: bool = False):
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f'top_k must be in [1, num_experts={num_experts}], got {top_k}.')
        if balance_loss not in BALANCE_LOSSES:
            raise ValueError(
                f'balance_loss={balance_loss!r} is unknown; use one of {BALANCE_LOSSES}.')
        if gate_noise < 0 or balance_weight < 0:
            raise ValueError('gate_noise and balance_weight must be >= 0, got '
                             f'{gate_noise} and {balance_weight}.')
        self.num_experts = num_experts
        self.top_k = top_k
        self.gate_noise = float(gate_noise)
        self.balance_loss = balance_loss
        self.balance_weight = float(balance_weight)
        self.normalize_topk = normalize_topk
        if sync_stats and balance_loss != 'importance_load':
            raise ValueError(f"sync_stats=True is implemented for balance_loss='importance_load' "
                             f'only, got {balance_loss!r}.')
        self.sync_stats = sync_stats
        self.gate = nn.Linear(embed_dims, num_experts, bias=False)

    dispatch = 'topk'

    @property
    def loss_token_sets(self) -> Dict[str, str]:
        return {'loss_balance': 'balance'} if self.balance_weight > 0 else {}

    def gate_logits(self, x: Tensor) -> Tensor:
        """(N, D) -> (N, E) logits, computed in fp32 even under autocast."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return nn.functional.linear(x.float(), self.gate.weight.float())

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Xavier-uniform gate, as DETR-family ``init_weights`` treat their matrices."""
        nn.init.xavier_uniform_(self.gate.weight)

    def _noisy(self, logits: Tensor, generator: torch.Generator = None) -> Tensor:
        """Training logits plus ``N(0, (gate_noise / E)^2)`` noise drawn from
        ``generator`` (torch's global generator when None); eval logits unchanged."""
        if self.training and self.gate_noise > 0:
            noise = torch.randn(logits.shape, generator=generator, device=logits.device,
                                dtype=logits.dtype)
            return logits + noise * (self.gate_noise / self.num_experts)
        return logits

    def _choose(self, logits: Tensor, noisy: Tensor, target: Tensor):
        """Return (N, K) expert ids and (N, K) combine weights."""
        index = noisy.topk(self.top_k, dim=-1).indices
        weight = logits.softmax(-1).gather(1, index)
        if self.top_k > 1 and self.normalize_topk:
            weight = weight / weight.sum(-1, keepdim=True).clamp_min(1e-9)
        return index, weight

    def forward(self, x: Tensor, target: Tensor = None,
                generator: torch.Generator = None) -> RoutingPlan:
        """Route tokens.

        Args:
            x (Tensor): (N, D) tokens.
            target (Tensor, optional): (N,) long mapped expert per token.
            generator (torch.Generator, optional): source of the gate noise
                (torch's global generator when None).

        Returns:
            RoutingPlan: the plan.
        """
        logits = self.gate_logits(x)
        noisy = self._noisy(logits, generator)
        index, weight = self._choose(logits, noisy, target)
        return RoutingPlan(index, weight.to(x.dtype), logits, noisy, target)

    def losses(self, plan: RoutingPlan, ce_mask: Tensor = None,
               balance_mask: Tensor = None) -> dict:
        """Weighted auxiliary losses of this router.

        Args:
            plan (RoutingPlan): the plan returned by :meth:`forward`.
            ce_mask (Tensor, optional): (N,) bool tokens for the DAMEX CE.
            balance_mask (Tensor, optional): (N,) bool tokens for balancing
                (foreground only, in detection).

        Returns:
            dict[str, Tensor]: e.g. ``{'loss_balance': ...}``.
        """
        if self.balance_weight <= 0:
            return {}
        if self.balance_loss == 'switch':
            value = switch_loss(plan.probs, plan.expert_index, balance_mask)
        elif self.sync_stats:
            # collective (local without torch.distributed): every rank computes it at every step
            value = global_importance_load_loss(plan.logits, plan.noisy_logits, self.top_k,
                                                self.gate_noise, balance_mask)
        else:
            value = importance_load_loss(plan.logits, plan.noisy_logits, self.top_k,
                                         self.gate_noise, balance_mask)
        return {'loss_balance': self.balance_weight * value}

    def extra_repr(self):
        return (f'num_experts={self.num_experts}, top_k={self.top_k}, '
                f'gate_noise={self.gate_noise}, balance={self.balance_loss}'
                f'*{self.balance_weight}' + (', sync_stats=True' if self.sync_stats else ''))


@MOE_MODULES.register_module()
class DatasetAwareRouter(TopKRouter):
    """DAMEX router: the learned gate is trained to send dataset d to ``h(d)``.

    Dispatch uses the router's own (noisy, in training) top-k choice, as in
    the released DAMEX code; the gate learns ``h`` through the cross-entropy
    of eq. 9 (``ce_weight``). The balancing loss is off by default (the
    released code uses CE alone in DAMEX mode); ``balance_weight > 0`` adds it.

    Args:
        ce_weight (float): weight of ``loss_damex``. Default 0.1.
        **kwargs: see :class:`TopKRouter` (``balance_weight`` defaults to 0).
    """

    def __init__(self, embed_dims, num_experts, ce_weight: float = 0.1,
                 balance_weight: float = 0.0, **kwargs):
        super().__init__(embed_dims, num_experts, balance_weight=balance_weight, **kwargs)
        if ce_weight < 0:
            raise ValueError(f'ce_weight must be >= 0, got {ce_weight}.')
        self.ce_weight = float(ce_weight)

    @property
    def needs_targets(self) -> bool:
        return self.ce_weight > 0

    @property
    def loss_token_sets(self) -> Dict[str, str]:
        sets = dict(super().loss_token_sets)
        if self.ce_weight > 0:
            sets['loss_damex'] = 'ce'
        return sets

    def losses(self, plan, ce_mask=None, balance_mask=None):
        losses = super().losses(plan, ce_mask, balance_mask)
        if self.ce_weight > 0:
            if plan.target is None:
                raise RuntimeError(
                    f'{type(self).__name__} needs the mapped expert of every token '
                    'to compute loss_damex, but the forward pass had no dataset '
                    'information: open the routing session with image targets (the MoE '
                    "detectors do, from the 'dataset_name' MultiDataset stamps on every sample).")
            losses['loss_damex'] = self.ce_weight * damex_ce_loss(
                plan.logits, plan.target, ce_mask)
        return losses

    def extra_repr(self):
        return super().extra_repr() + f', ce_weight={self.ce_weight}'


@MOE_MODULES.register_module()
class FixedMapRouter(DatasetAwareRouter):
    """GEM router: in training, dispatch follows the compiled map exactly.

    Tokens with a target go to ``h(d)`` (top-1; ``top_k`` must be 1), tokens
    without one, and all tokens at inference, go to the gate's argmax. The gate
    is trained by cross-entropy to reproduce the map. By default experts'
    outputs are not scaled by the gate score (``combine='one'``), so routing
    stays a deterministic, interpretable table lookup in training and test.

    Args:
        combine (str): ``'one'`` (weight 1) or ``'gate'`` (gate score of the
            serving expert, as in the learned routers).
        **kwargs: see :class:`DatasetAwareRouter`; ``gate_noise`` defaults to 0.
    """

    def __init__(self, embed_dims, num_experts, combine: str = 'one',
                 gate_noise: float = 0.0, **kwargs):
        if kwargs.get('top_k', 1) != 1:
            raise ValueError('FixedMapRouter dispatches each token to one mapped '
                             'expert; top_k must be 1.')
        if combine not in ('one', 'gate'):
            raise ValueError(f"combine must be 'one' or 'gate', got {combine!r}.")
        super().__init__(embed_dims, num_experts, gate_noise=gate_noise, **kwargs)
        self.combine = combine

    dispatch = 'map'

    @property
    def needs_targets(self) -> bool:
        return True  # training dispatch follows the targets

    def _choose(self, logits, noisy, target):
        index = noisy.argmax(-1)
        if self.training and target is not None:
            index = torch.where(target >= 0, target, index)
        index = index[:, None]
        if self.combine == 'one':
            weight = torch.ones(index.shape, dtype=logits.dtype, device=logits.device)
        else:
            weight = logits.softmax(-1).gather(1, index)
        return index, weight


@MOE_MODULES.register_module()
class ReLURouter(TopKRouter):
    """ReMoE (Wang et al., ICLR 2025): a ReLU gate with an adaptively weighted L1.

    Every token is served by the experts whose gate ``relu(x W)`` is positive,
    weighted by that value (no softmax, no top-k, no capacity: dropless). The
    plan lists all ``E`` experts of a token, strongest first, with an
    ``active`` mask marking the positive gates. Sparsity is steered by the L1
    regulariser ``lambda * mean_t sum_e w_e * relu(x_t W)_e`` whose coefficient
    follows the paper's rule after every training step,
    ``lambda <- lambda * step ** sign(target_sparsity - sparsity)``, with
    ``sparsity`` the share of zero gates of the step and ``target_sparsity =
    1 - target_active / E``. With ``load_balanced=True`` (the paper's
    load-balancing refinement) ``w_e = E * f_e / target_active``, ``f_e`` the
    (detached) share of tokens expert e serves, so overloaded experts are
    pushed harder towards zero; otherwise ``w_e = 1`` (plain L1).

    Deviation from the paper, documented: every layer has its own
    coefficient and steers its own sparsity (the paper shares one
    coefficient over layers and steers the mean); in a distributed run the
    sparsity is averaged over ranks first, so the coefficient stays equal
    everywhere. The coefficient is a buffer: it is saved with the model, as
    a resumed run must continue with it.

    Args:
        embed_dims (int): ``D``.
        num_experts (int): ``E``.
        target_active (float): mean number of experts per token to steer
            towards (1 = the compute of top-1 routing). Default 1.
        l1_init (float): initial coefficient (paper: 1e-8).
        l1_step (float): multiplicative step ``> 1`` (paper: 1.2).
        load_balanced (bool): weight the L1 by expert load (see above).
    """

    def __init__(self, embed_dims: int, num_experts: int, target_active: float = 1.0,
                 l1_init: float = 1e-8, l1_step: float = 1.2, load_balanced: bool = True):
        super().__init__(embed_dims, num_experts, top_k=num_experts, gate_noise=0.0,
                         balance_weight=0.0)
        if not 0 < target_active <= num_experts:
            raise ValueError(f'target_active must be in (0, num_experts={num_experts}], '
                             f'got {target_active}.')
        if l1_init <= 0 or l1_step <= 1:
            raise ValueError(f'l1_init must be > 0 and l1_step > 1, got {l1_init} and {l1_step}.')
        self.target_active = float(target_active)
        self.target_sparsity = 1.0 - self.target_active / num_experts
        self.l1_step = float(l1_step)
        self.load_balanced = load_balanced
        self.register_buffer('l1_coefficient', torch.tensor(float(l1_init)))

    dispatch = 'relu'

    @property
    def loss_token_sets(self) -> Dict[str, str]:
        return {'loss_l1': 'all'}  # the regulariser steers the compute of every token

    def forward(self, x: Tensor, target: Tensor = None,
                generator: torch.Generator = None) -> RoutingPlan:
        """Route tokens: (N, D) -> plan with K = E columns, strongest first."""
        logits = self.gate_logits(x)
        gates = torch.relu(logits)
        index = gates.detach().argsort(dim=-1, descending=True, stable=True)
        weight = gates.gather(1, index)
        return RoutingPlan(index, weight.to(x.dtype), logits, logits, target,
                           active=weight.detach() > 0)

    def losses(self, plan: RoutingPlan, ce_mask: Tensor = None,
               balance_mask: Tensor = None) -> dict:
        """``loss_l1`` over all tokens, then the coefficient update.

        Args:
            plan (RoutingPlan): this router's plan of the step.
            ce_mask, balance_mask: unused (the regulariser covers every token,
                since it steers the compute of every token).

        Returns:
            dict[str, Tensor]: ``{'loss_l1': lambda * L1}``.
        """
        gates = torch.relu(plan.logits)  # (N, E) in expert order
        if gates.shape[0] == 0:
            return {'loss_l1': plan.logits.sum() * 0.0}
        weight = 1.0
        if self.load_balanced:
            with torch.no_grad():
                share = (gates > 0).float().mean(0)  # f_e
                weight = share * (self.num_experts / self.target_active)
        l1 = (gates * weight).sum(-1).mean()
        coefficient = self.l1_coefficient.clone()
        if self.training:
            self._update_coefficient(gates)
        return {'loss_l1': coefficient * l1}

    @torch.no_grad()
    def _update_coefficient(self, gates: Tensor) -> None:
        """``lambda <- lambda * step ** sign(target_sparsity - sparsity)`` (in place)."""
        sparsity = (gates == 0).float().mean()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(sparsity)
            sparsity /= dist.get_world_size()
        direction = torch.sign(self.target_sparsity - sparsity)
        self.l1_coefficient.mul_(self.l1_step**direction)

    def extra_metrics(self) -> dict:
        """``{'l1_coefficient': lambda}`` (for the logs)."""
        return {'l1_coefficient': self.l1_coefficient.detach().clone()}

    def extra_repr(self):
        return (f'num_experts={self.num_experts}, target_active={self.target_active}, '
                f'l1_step={self.l1_step}, load_balanced={self.load_balanced}')


def router_class(cfg: dict) -> type:
    """The registered :class:`Router` subclass named by ``cfg['type']`` (default TopKRouter).

    Raises:
        ValueError: unknown ``type``, naming the valid ones.
    """
    return lookup(dict(cfg).get('type', 'TopKRouter'), 'router', Router)


def build_router(cfg: dict, embed_dims: int, num_experts: int) -> Router:
    """Build a router from ``dict(type='TopKRouter', **options)``.

    Raises:
        ValueError: unknown ``type``, naming the valid ones.
    """
    cfg = dict(cfg)
    cls = router_class(cfg)
    cfg.pop('type', None)
    return cls(embed_dims, num_experts, **cfg)
