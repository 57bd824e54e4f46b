"""Optional tutel backend: tutel's capacity, dispatch and combine behind our routers.

tutel (https://github.com/microsoft/tutel) is not on the package index; this
module works when ``import tutel`` does and raises a clear error otherwise.

:class:`TutelMoEFFN` is a :class:`~damex_mmdet.moe.layer.MoEFFN` whose
mixing step (:meth:`TutelMoEFFN.mix`) runs through tutel's kernels: from the
softmax of the plan's (noisy) logits ``tutel.moe.extract_critical`` computes
the capacity, the top-k choice and the slot of every token,
``tutel.moe.fast_encode`` builds the padded ``(E, C, D)`` dispatch and
``tutel.moe.fast_decode`` the weighted combine; the experts compute with our
:class:`~damex_mmdet.moe.experts.BatchedExperts` parameters. Routing and
recording are the base layer's (so the DAMEX cross-entropy, the masked
balancing losses and the routing metrics work unchanged), and parameters and
state dict are those of ``MoEFFN``: checkpoints move freely between the
backends.

Semantics, compared with the native backend:

- identical without gate noise (evaluation, ``gate_noise=0``): same tokens
  kept, same outputs and gradients (``tests/test_moe/test_tutel_backend.py``);
- with gate noise in training, tutel weighs an expert's output by the softmax
  of the *noisy* logits, the native backend by that of the clean logits (the
  choice is made on the noisy logits in both; the recorded plan is the
  router's, and the routers' losses do not read its combine weights);
- ``FixedMapRouter`` (GEM) is not supported: its training dispatch follows the
  map, not the gate scores tutel chooses on.

Shape shorthand: ``N`` tokens, ``D`` model dim, ``H`` hidden dim, ``E``
experts, ``C`` capacity per expert.
"""
import importlib.util
from typing import Tuple

import torch
import torch.distributed as dist
from torch import Tensor

from .dispatch import make_dispatch
from .layer import MoEFFN
from .plan import RoutingPlan

__all__ = ['tutel_available', 'TutelMoEFFN']

_INSTALL_HINT = ('tutel is not installed (it is not on the package index): install it from '
                 'https://github.com/microsoft/tutel (pip install --no-build-isolation '
                 "git+https://github.com/microsoft/tutel@main) or use backend='native'.")


def tutel_available() -> bool:
    """Whether ``import tutel`` can work here."""
    return importlib.util.find_spec('tutel') is not None


def _run_experts(experts, x: Tensor) -> Tensor:
    """(E, C, D) dispatched tokens (zero-padded) -> (E, C, D) through ``experts``."""
    hidden = experts.drop(experts.activate(torch.baddbmm(experts.b1.unsqueeze(1), x,
                                                         experts.w1)))
    return experts.drop(torch.baddbmm(experts.b2.unsqueeze(1), hidden, experts.w2))


def _single_process_group():
    """tutel all-reduces the dynamic capacity over its group: give each rank its own."""
    if not dist.is_available() or not dist.is_initialized() or dist.get_world_size() == 1:
        return None
    group, _ = dist.new_subgroups(group_size=1)  # collective: every rank builds all of them
    return group


class TutelMoEFFN(MoEFFN):
    """:class:`MoEFFN` mixed by tutel's dispatch kernels (same arguments and state).

    Select it with ``moe_cfg=dict(backend='tutel', ...)`` in a MoE detector or
    build it directly. Experts are replicated on every rank as with the
    native layer (tutel's own expert sharding is not used).

    Raises:
        ImportError: tutel is not installed (the message says how to get it).
        ValueError: the router does not dispatch by a softmax top-k (GEM's
            ``FixedMapRouter``, ReMoE, Soft MoE, MoE++): see ``mixes``.
    """

    mixes = frozenset({'topk'})  # tutel chooses a fixed top-k on the softmax scores
    expert_parallel = False  # tokens are exchanged natively by ExpertParallelMoEFFN
    backend = 'tutel'

    def __init__(self, *args, **kwargs):
        if not tutel_available():
            raise ImportError(_INSTALL_HINT)
        super().__init__(*args, **kwargs)
        self.group = _single_process_group()

    def mix(self, flat: Tensor, plan: RoutingPlan) -> Tuple[Tensor, Tensor]:
        """:meth:`MoEFFN.mix` by tutel's kernels: (N, D) -> (N, D), kept (N, K)."""
        from tutel import moe as tutel_moe
        scores = plan.noisy_logits.softmax(-1)
        critical, _ = tutel_moe.extract_critical(
            scores, top_k=self.router.top_k, loss_fn=None,
            capacity_factor=self.active_capacity_factor,
            batch_prioritized_routing=self.batch_prioritized,
            normalize_gate=self.router.normalize_topk, group=self.group)
        dispatched = tutel_moe.fast_encode(flat.to(scores.dtype).contiguous(), critical)
        out = _run_experts(self.experts, dispatched.to(flat.dtype))
        mixed = tutel_moe.fast_decode(out.to(scores.dtype).contiguous(), critical)
        # the assignments tutel kept: the same capacity rule as the native dispatch
        kept = make_dispatch(plan.expert_index, plan.combine_weight, self.num_experts,
                             self.active_capacity_factor, self.batch_prioritized).kept
        return mixed.to(flat.dtype), kept

    def extra_repr(self):
        return super().extra_repr() + ', backend=tutel'
