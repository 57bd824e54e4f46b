"""Optional tutel backend: tutel's capacity, dispatch and combine behind our routers.

tutel (https://github.com/microsoft/tutel) is not on the package index; this
module works when ``import tutel`` does and raises a clear error otherwise.

:class:`TutelMoEFFN` is a :class:`~damex_mmdet.moe.layer.MoEFFN` whose
mixture runs through ``tutel.moe.moe_layer``: tutel computes the capacity,
the top-k choice on the scores, the padded ``(E, C, D)`` dispatch and the
weighted combine; the gate is our router's (so the DAMEX cross-entropy, the
masked balancing losses and the routing metrics work unchanged) and the
experts compute with our :class:`~damex_mmdet.moe.experts.BatchedExperts`
parameters. Parameters and state dict are those of ``MoEFFN``: checkpoints
move freely between the backends.

Semantics, compared with the native backend:

- identical without gate noise (evaluation, ``gate_noise=0``): same tokens
  kept, same outputs and gradients (``tests/test_moe/test_tutel_backend.py``);
- with gate noise in training, tutel weighs an expert's output by the softmax
  of the *noisy* logits, the native backend by that of the clean logits (the
  choice is made on the noisy logits in both);
- ``FixedMapRouter`` (GEM) is not supported: its training dispatch follows the
  map, not the gate scores tutel chooses on.

Shape shorthand: ``N`` tokens, ``D`` model dim, ``H`` hidden dim, ``E``
experts, ``C`` capacity per expert.
"""
import importlib.util

import torch
import torch.distributed as dist
import torch.nn as nn
from torch import Tensor

from .context import RoutingRecord
from .dispatch import make_dispatch
from .layer import MoEFFN
from .plan import RoutingPlan
from .routers import FixedMapRouter

__all__ = ['tutel_available', 'TutelMoEFFN']

_INSTALL_HINT = ('tutel is not installed (it is not on the package index): install it from '
                 'https://github.com/microsoft/tutel (pip install --no-build-isolation '
                 "git+https://github.com/microsoft/tutel@main) or use backend='native'.")


def tutel_available() -> bool:
    """Whether ``import tutel`` can work here."""
    return importlib.util.find_spec('tutel') is not None


class _RouterGate(nn.Module):
    """What tutel calls as its gate: our router's (noisy) logits, recorded for the plan.

    Holds no parameter (the router's gate weight is registered once, on the
    layer); tutel adds no noise of its own (``gate_noise = 0``).
    """

    def __init__(self, layer: 'TutelMoEFFN', top_k: int, capacity_factor: float):
        super().__init__()
        object.__setattr__(self, '_layer', layer)  # a back reference, not a submodule
        self.top_k = top_k
        self.gate_noise = 0.0
        self.capacity_factor = capacity_factor

    def forward(self, x: Tensor) -> Tensor:
        """(N, D) tokens -> (N, E) logits that tutel chooses on."""
        router = self._layer.router
        logits = router.gate_logits(x)
        noisy = router._noisy(logits, self._layer.routing_context.generator)
        self._layer._logits = (logits, noisy)
        return noisy


class _SharedExperts(nn.Module):
    """tutel's expert interface over :class:`BatchedExperts` parameters (not re-registered)."""

    def __init__(self, experts, **tutel_kwargs):
        super().__init__()
        object.__setattr__(self, '_experts', experts)

    def forward(self, x: Tensor, ctx=None) -> Tensor:
        """(E, C, D) dispatched tokens (zero-padded) -> (E, C, D)."""
        experts = self._experts
        hidden = experts.drop(experts.activate(torch.baddbmm(experts.b1.unsqueeze(1), x,
                                                             experts.w1)))
        return experts.drop(torch.baddbmm(experts.b2.unsqueeze(1), hidden, experts.w2))


def _single_process_group():
    """tutel shards experts over its group: give each rank a group of its own."""
    if not dist.is_available() or not dist.is_initialized() or dist.get_world_size() == 1:
        return None
    group, _ = dist.new_subgroups(group_size=1)  # collective: every rank builds all of them
    return group


class TutelMoEFFN(MoEFFN):
    """:class:`MoEFFN` computed by ``tutel.moe.moe_layer`` (same arguments and state).

    Select it with ``moe_cfg=dict(backend='tutel', ...)`` in a MoE detector or
    build it directly. Experts are replicated on every rank as with the
    native layer (tutel's own expert sharding is not used).

    Raises:
        ImportError: tutel is not installed (the message says how to get it).
        ValueError: the router is a ``FixedMapRouter``.
    """

    def __init__(self, *args, **kwargs):
        if not tutel_available():
            raise ImportError(_INSTALL_HINT)
        super().__init__(*args, **kwargs)
        if isinstance(self.router, FixedMapRouter):
            raise ValueError("backend='tutel' cannot follow FixedMapRouter's fixed dataset->expert "
                             "dispatch (tutel chooses on the gate scores); use backend='native' "
                             'for GEM.')
        from tutel import moe as tutel_moe
        top_k = self.router.top_k
        moe = tutel_moe.moe_layer(
            gate_type=dict(type='top', k=top_k, capacity_factor=self.capacity_factor),
            model_dim=self.embed_dims,
            experts=dict(
                type='custom', module=self._expert_module, count_per_node=self.num_experts),
            batch_prioritized_routing=self.batch_prioritized,
            normalize_gate=self.router.normalize_topk,
            group=_single_process_group())
        moe.gates = nn.ModuleList([_RouterGate(self, top_k, self.capacity_factor)])
        # kept outside the module tree: its only state is a buffer with E, and
        # the state dict must stay the native layer's
        object.__setattr__(self, 'tutel_layer', moe)
        self._logits = None

    def _expert_module(self, **tutel_kwargs):
        return _SharedExperts(self.experts, **tutel_kwargs)

    def moe(self, x: Tensor) -> Tensor:
        """The mixture without residual: (B, T, D) -> (B, T, D)."""
        batch, tokens, dims = x.shape
        self.tutel_layer.train(self.training)
        # tutel reads the capacity from its gate at every call
        self.tutel_layer.gates[0].capacity_factor = self.active_capacity_factor
        out = self.tutel_layer(x.reshape(batch * tokens, dims))
        logits, noisy = self._logits
        self._logits = None
        context = self.routing_context
        if context.active:
            # the plan tutel followed: top-k of the noisy scores, weighted by them
            scores = noisy.softmax(-1)
            index = scores.topk(self.router.top_k, dim=-1).indices
            weight = scores.gather(1, index)
            if self.router.top_k > 1 and self.router.normalize_topk:
                weight = weight / weight.sum(-1, keepdim=True)
            plan = RoutingPlan(index, weight.to(x.dtype), logits, noisy,
                               context.token_targets(batch, tokens))
            kept = make_dispatch(index, weight, self.num_experts, self.active_capacity_factor,
                                 self.batch_prioritized).kept
            context.add(RoutingRecord(self, self.layer_name, plan, kept, (batch, tokens)))
        return out.view(batch, tokens, dims)

    def extra_repr(self):
        return super().extra_repr() + ', backend=tutel'
