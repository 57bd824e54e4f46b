"""Mixture-of-Experts core in plain PyTorch (imports neither mmcv nor mmdet).

Shape shorthand used throughout: ``B`` images, ``T`` tokens per image,
``N`` tokens, ``D`` model dim, ``H`` expert hidden dim, ``E`` experts,
``K`` experts chosen per token, ``C`` expert capacity.

A forward pass routes inside one :func:`routing_session` (targets in, one
:class:`RoutingRecord` per MoE layer call out); every :class:`MoEFFN` is
route -> mix -> record, and its backends (expert-parallel, tutel) replace
the mixing step only. Routings: top-k (vanilla MoE), DAMEX, GEM's fixed map,
ReMoE's ReLU router (:class:`ReLURouter`), and two layers that also change
the mixing: Soft MoE (:class:`SoftMoEFFN`) and MoE++ (:class:`MoEPlusPlusFFN`).
"""
from .dispatch import DispatchPlan, combine, expert_capacity, gather, make_dispatch
from .expert_map import ExpertMap
from .experts import BatchedExperts, build_activation
from .layer import DropPath, MoEFFN, dense_ffn_tensors
from .losses import (cv_squared, damex_ce_loss, importance_load_loss, importance_loss,
                     load_loss, switch_loss)
from .noise import stream_preserving_generator
from .plan import RoutingPlan, routing_metrics
from .moe_plus_plus import MoEPlusPlusFFN, MoEPlusPlusRouter
from .capabilities import DISPATCH_KINDS, TOKEN_SET_ROLES, check_router_fits_layer
from .config import MoEConfig
from .registry import MOE_MODULES, lookup
from .routers import (DatasetAwareRouter, FixedMapRouter, ReLURouter, Router, TopKRouter,
                      build_router, router_class)
from .routing_losses import (TOKEN_SETS, needed_token_sets, routing_losses, short_layer_name,
                             token_set_masks)
from .session import (RoutingRecord, RoutingRecorder, RoutingSession, current_session,
                      routing_session)
from .soft_moe import SoftMoEFFN, SoftMoERouter
from .token_groups import groups_from_attention_mask

__all__ = [
    'RoutingRecord', 'RoutingRecorder', 'RoutingSession', 'current_session',
    'routing_session', 'DispatchPlan', 'combine', 'expert_capacity',
    'gather', 'make_dispatch', 'ExpertMap', 'BatchedExperts', 'build_activation', 'DropPath',
    'MoEFFN', 'dense_ffn_tensors', 'stream_preserving_generator',
    'cv_squared', 'damex_ce_loss', 'importance_load_loss', 'importance_loss', 'load_loss',
    'switch_loss', 'RoutingPlan', 'routing_metrics', 'Router', 'DatasetAwareRouter',
    'FixedMapRouter', 'TopKRouter', 'ReLURouter', 'build_router', 'router_class',
    'SoftMoEFFN', 'SoftMoERouter', 'groups_from_attention_mask', 'MoEPlusPlusFFN',
    'MoEPlusPlusRouter', 'MOE_MODULES', 'lookup', 'DISPATCH_KINDS', 'TOKEN_SET_ROLES',
    'check_router_fits_layer', 'MoEConfig', 'TOKEN_SETS', 'routing_losses',
    'short_layer_name', 'token_set_masks', 'needed_token_sets'
]
