"""Routing sessions: the one explicit scope in which a forward pass routes tokens.

Shape shorthand: ``B`` images, ``T`` tokens per image, ``N = B * T``.

Everything the MoE layers need from outside and everything they report goes
through one object, opened around a forward pass::

    with routing_session(detector, image_targets, generator) as session:
        losses = detector_forward(...)        # every MoE layer records into it
    aux = losses_from(session.records)        # (layer name, plan, kept mask)

The targets (the mapped expert of each image) go in once; every MoE layer of
the module tree, however it got there (``moe_cfg`` conversion, a
``DAMEXDecoderLayer`` built from a config, a layer placed by hand), reads its
per-token targets from the session and appends a :class:`RoutingRecord`.
Nothing is stored on the modules: the session is found through a context
variable for the duration of the ``with`` block only.

Tools that want to look at routing (statistics hooks, the analysis
collector, inference) attach a :class:`RoutingRecorder`; each session that
closes while it is attached hands it a detached copy of its records.
"""
import contextlib
import contextvars
from dataclasses import dataclass, fields, replace
from typing import Dict, Iterator, List, Optional

import torch
import torch.nn as nn
from torch import Tensor

from .plan import RoutingPlan
from .token_groups import groups_from_attention_mask

__all__ = [
    'RoutingRecord', 'RoutingSession', 'RoutingRecorder', 'routing_session', 'current_session'
]

_SESSION: contextvars.ContextVar = contextvars.ContextVar('damex_routing_session', default=None)
_RECORDERS: contextvars.ContextVar = contextvars.ContextVar('damex_routing_recorders',
                                                            default=())


@dataclass
class RoutingRecord:
    """Routing of one MoE layer in one forward pass.

    Attributes:
        layer (nn.Module): the MoE layer (its router turns the plan into losses).
        name (str): the layer's name in the model, e.g. ``decoder.layers.0.ffn``.
        plan (RoutingPlan): the router's plan over N = B * T tokens.
        kept (Tensor): (N, K) bool, assignments within capacity.
        batch_shape (tuple): ``(B, T)``.
    """
    layer: nn.Module
    name: str
    plan: RoutingPlan
    kept: Tensor
    batch_shape: tuple

    def metrics(self) -> dict:
        """Detached statistics of the layer (``MoEFFN.routing_metrics``:
        :func:`~damex_mmdet.moe.plan.routing_metrics` plus what the layer and
        its router add, e.g. MoE++'s share of tokens taking the cheap experts)."""
        return self.layer.routing_metrics(self.plan, self.kept)

    def detached(self) -> 'RoutingRecord':
        """A copy whose tensors do not hold the autograd graph."""
        plan = replace(self.plan, **{
            field.name: getattr(self.plan, field.name).detach()
            for field in fields(self.plan) if getattr(self.plan, field.name) is not None})
        return replace(self, plan=plan, kept=self.kept.detach())


def _detach_tree(value):
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, dict):
        return {key: _detach_tree(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_detach_tree(item) for item in value)
    return value


class RoutingSession:
    """What one forward pass tells its MoE layers, and what they record.

    Args:
        model (nn.Module): the module the session was opened on; records are
            named relative to it (its module names are looked up at the
            first record, so a pass that records nothing never walks them).
        image_targets (Tensor, optional): (B,) long mapped expert per image;
            None at inference (routing never needs a dataset label there).
        generator (torch.Generator, optional): source of the gate noise
            (torch's global generator when None).

    Attributes:
        records (list[RoutingRecord]): one per MoE layer call, in call order.
        head_inputs (dict, optional): the detector's head inputs of this pass
            (for the foreground/matching token masks), when it reported them.
        attention_mask (Tensor, optional): (T, T) bool self-attention mask of
            the decoder (True: may not attend), set by the detector before its
            decoder runs (DINO's ``dn_mask``); None: all tokens see each other.
        token_groups (Tensor, optional): (T,) long group id of each decoder
            token: tokens of one group may see each other (DINO: each
            denoising group, and the matching queries); layers that mix tokens
            (Soft MoE) mix only within a group. Derived from
            ``attention_mask`` when first read (routings that treat tokens one
            by one never pay for it, nor fail on a mask without groups), or
            set directly. None: one group per image.
        carry (dict): what an MoE layer hands on to the next ones in this
            pass (MoE++'s gating residual), keyed by the layer's choice.
    """

    def __init__(self, model: nn.Module, image_targets: Optional[Tensor] = None,
                 generator: Optional[torch.Generator] = None):
        self._model = model
        self._layer_names: Optional[Dict[int, str]] = None
        self.image_targets = image_targets
        self.generator = generator
        self.records: List[RoutingRecord] = []
        self.head_inputs: Optional[dict] = None
        self._attention_mask: Optional[Tensor] = None
        self._token_groups: Optional[Tensor] = None
        self.carry: dict = {}

    @property
    def attention_mask(self) -> Optional[Tensor]:
        """(T, T) bool decoder self-attention mask (True: may not attend), or None."""
        return self._attention_mask

    @attention_mask.setter
    def attention_mask(self, mask: Optional[Tensor]) -> None:
        self._attention_mask = mask
        self._token_groups = None  # groups of the previous mask, if any, no longer hold

    @property
    def token_groups(self) -> Optional[Tensor]:
        """(T,) group ids: set directly, else derived from ``attention_mask``.

        Raises:
            ValueError: the attention mask is not block-structured (see
                :func:`groups_from_attention_mask`).
        """
        if self._token_groups is None and self.attention_mask is not None:
            self._token_groups = groups_from_attention_mask(self.attention_mask)
        return self._token_groups

    @token_groups.setter
    def token_groups(self, groups: Optional[Tensor]) -> None:
        self._token_groups = groups

    def groups_for(self, tokens: int) -> Optional[Tensor]:
        """The (T,) token groups when they describe sequences of ``tokens``, else None.

        (An encoder MoE layer sees another token count than the decoder the
        groups were given for; its tokens all see each other.)
        """
        if self.attention_mask is not None and self.attention_mask.shape[-1] != tokens:
            return None  # another sequence than the decoder's: no need to derive its groups
        groups = self.token_groups
        if groups is None or groups.numel() != tokens:
            return None
        return groups

    def token_targets(self, batch: int, tokens: int) -> Optional[Tensor]:
        """(B * T,) per-token targets in batch-first order, or None.

        Raises:
            ValueError: when the targets were given for another batch size.
        """
        if self.image_targets is None:
            return None
        if self.image_targets.shape[0] != batch:
            raise ValueError(
                f'the routing session holds targets for {self.image_targets.shape[0]} images '
                f'but an MoE layer received a batch of {batch}; MoE layers expect '
                'batch-first tokens (set batch_first=False for sequence-first layers).')
        return self.image_targets[:, None].expand(batch, tokens).reshape(-1)

    def record(self, layer: nn.Module, plan: RoutingPlan, kept: Tensor,
               batch_shape: tuple) -> None:
        """Append the routing of one MoE layer call.

        Raises:
            ValueError: ``layer`` is not part of the session's model.
        """
        if self._layer_names is None:
            self._layer_names = {id(m): n for n, m in self._model.named_modules()}
        name = self._layer_names.get(id(layer))
        if name is None:
            raise ValueError(
                f'a {type(layer).__name__} that is not part of the model of the open routing '
                'session routed tokens; open the session on the module that contains every '
                'MoE layer of the forward pass (routing_session(model, ...)).')
        self.records.append(RoutingRecord(layer, name, plan, kept, tuple(batch_shape)))

    def detached(self) -> 'RoutingSession':
        """A copy of the records and head inputs without the autograd graph."""
        copy = RoutingSession(self._model, self.image_targets, None)
        copy._layer_names = self._layer_names
        copy.records = [record.detached() for record in self.records]
        copy.head_inputs = _detach_tree(self.head_inputs)
        copy._attention_mask = self._attention_mask
        copy._token_groups = self._token_groups
        return copy


class RoutingRecorder:
    """Collects every routing session that closes while the recorder is attached.

    Use as a context manager, or :meth:`attach` / :meth:`detach` where a
    ``with`` block does not fit (e.g. across the two calls of a hook)::

        with RoutingRecorder() as recorder:
            model.test_step(batch)
        (session, ) = recorder.pop()

    Attributes:
        sessions (list[RoutingSession]): detached copies, in closing order.
    """

    def __init__(self):
        self.sessions: List[RoutingSession] = []

    def attach(self) -> 'RoutingRecorder':
        if self not in _RECORDERS.get():
            _RECORDERS.set(_RECORDERS.get() + (self, ))
        return self

    def detach(self) -> None:
        _RECORDERS.set(tuple(r for r in _RECORDERS.get() if r is not self))

    def pop(self) -> List[RoutingSession]:
        """Return the sessions recorded so far and forget them."""
        sessions, self.sessions = self.sessions, []
        return sessions

    def __enter__(self) -> 'RoutingRecorder':
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()


def current_session() -> Optional[RoutingSession]:
    """The routing session open in this context, or None."""
    return _SESSION.get()


@contextlib.contextmanager
def routing_session(model: nn.Module,
                    image_targets: Optional[Tensor] = None,
                    generator: Optional[torch.Generator] = None) -> Iterator[RoutingSession]:
    """Open the routing scope of one forward pass of ``model``.

    Args:
        model (nn.Module): the module whose forward runs in the block; its
            MoE layers are named relative to it.
        image_targets (Tensor, optional): (B,) long mapped expert per image.
        generator (torch.Generator, optional): source of the gate noise.

    Yields:
        RoutingSession: filled while the block runs; attached recorders get
        a detached copy when it closes (also when the block raises).
    """
    session = RoutingSession(model, image_targets, generator)
    token = _SESSION.set(session)
    try:
        yield session
    finally:
        _SESSION.reset(token)
        for recorder in _RECORDERS.get():
            recorder.sessions.append(session.detached())
