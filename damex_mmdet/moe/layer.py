"""``MoEFFN``: a Mixture-of-Experts drop-in replacement for mmcv's ``FFN``.

Shape shorthand: ``B`` images, ``T`` tokens per image, ``D`` model dim,
``N = B * T`` tokens, ``E`` experts.

Same constructor arguments as ``mmcv.cnn.bricks.transformer.FFN`` where they
make sense and the same residual semantics: ``identity + drop(moe(x))`` with
``add_identity=True``. Tokens dropped by the capacity policy get a zero MoE
output, i.e. they pass through the residual only.

One forward is route -> mix -> record (:meth:`MoEFFN.moe`): the router
makes a :class:`~damex_mmdet.moe.plan.RoutingPlan` from the tokens and the
targets of the open routing session, :meth:`MoEFFN.mix` sends the tokens to
their experts and combines the outputs, and the plan with its kept mask is
recorded into the session. The expert-parallel and tutel backends override
:meth:`MoEFFN.mix` only.
"""
import warnings
from typing import ClassVar, FrozenSet, Tuple

import torch.nn as nn
from torch import Tensor

from .dispatch import combine, gather, make_dispatch
from .experts import BatchedExperts
from .plan import RoutingPlan, routing_metrics
from .capabilities import check_router_fits_layer
from .registry import MOE_MODULES
from .routers import build_router, router_class
from .session import current_session

__all__ = ['MoEFFN', 'DropPath', 'dense_ffn_tensors']


class DropPath(nn.Module):
    """Stochastic depth per sample (drops the whole residual branch)."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: Tensor) -> Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


def _dense_linears(ffn: nn.Module):
    linears = [m for m in ffn.modules() if isinstance(m, nn.Linear)]
    if len(linears) != 2:
        raise ValueError(f'can only convert a two-layer FFN, found {len(linears)} '
                         f'nn.Linear in {type(ffn).__name__}.')
    return linears


def dense_ffn_tensors(ffn: nn.Module):
    """``(fc1.weight, fc1.bias, fc2.weight, fc2.bias)`` of a two-layer FFN.

    Returns:
        tuple[Tensor]: (H, D), (H,), (D, H), (D,).
    """
    fc1, fc2 = _dense_linears(ffn)
    return fc1.weight, fc1.bias, fc2.weight, fc2.bias


def _build_dropout(cfg) -> nn.Module:
    if cfg is None:
        return nn.Identity()
    cfg = dict(cfg)
    kind, prob = cfg.pop('type'), cfg.pop('drop_prob', 0.0)
    if kind == 'DropPath':
        return DropPath(prob)
    if kind == 'Dropout':
        return nn.Dropout(prob)
    raise ValueError(f"dropout_layer type {kind!r} is not supported; use 'DropPath' or 'Dropout'.")


@MOE_MODULES.register_module()
class MoEFFN(nn.Module):
    """Top-k Mixture-of-Experts FFN with a pluggable router.

    Args:
        embed_dims (int): ``D``.
        feedforward_channels (int): hidden width of each expert.
        num_fcs (int): must be 2 (experts are two-layer FFNs).
        act_cfg (dict): activation, e.g. ``dict(type='ReLU', inplace=True)``.
        ffn_drop (float): dropout inside the experts.
        dropout_layer (dict, optional): ``DropPath`` / ``Dropout`` on the
            MoE output before the residual add.
        add_identity (bool): add the residual.
        num_experts (int): ``E``.
        router (dict): router config, ``type`` in ``TopKRouter``,
            ``DatasetAwareRouter``, ``FixedMapRouter`` plus its options.
        capacity_factor (float): tutel semantics (> 0 fixed, 0 no dropping,
            < 0 dynamic capped at ``|cf|``); see :func:`expert_capacity`.
        eval_capacity_factor (float): the same in evaluation. Default 0 (no
            token dropped at inference), so an image's prediction does not
            depend on the other images of its batch; set it to
            ``capacity_factor`` to drop at test time like the released DAMEX code.
        batch_prioritized (bool): keep most confident tokens under overflow.
        batch_first (bool): inputs are (B, T, D) (mmdet 3.x DETRs) or (T, B, D).
        init_mode (str): experts' init, ``'linear'``, ``'xavier'`` or ``'upcycle'``.
        layer_scale_init_value (float): must be 0 (mmcv's layer scale is not supported).
        init_cfg: accepted for config compatibility with mmcv's FFN; unused.

    The layer reads targets and gate-noise generator from the routing session
    open around the forward (:func:`~damex_mmdet.moe.session.routing_session`,
    opened by the MoE detectors) and records its plan into it. A training
    forward outside a session is refused when the router has an auxiliary
    loss or follows targets, since the loss would silently be lost.

    Declarations (class attributes, read by the detectors, the
    expert-parallel wrapper and the backends; a subclass states its own):
    ``mixes`` (the router dispatch kinds it can mix, see
    :mod:`~damex_mmdet.moe.capabilities`), ``mixes_tokens`` (a token's output
    depends on other tokens of its group), ``expert_parallel`` (its experts
    can be sharded over ranks) and ``backend`` (how it mixes).
    """

    # router dispatch kinds this layer mixes
    mixes: ClassVar[FrozenSet[str]] = frozenset({'topk', 'map', 'relu'})
    # whether the output of a token depends on other tokens (then the session's
    # token groups say which may be mixed)
    mixes_tokens: ClassVar[bool] = False
    # whether ExpertParallelMoEFFN can shard this layer's experts
    expert_parallel: ClassVar[bool] = True
    # the backend of the mixing step ('native' or 'tutel')
    backend: ClassVar[str] = 'native'

    def __init__(self,
                 embed_dims: int = 256,
                 feedforward_channels: int = 1024,
                 num_fcs: int = 2,
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 ffn_drop: float = 0.0,
                 dropout_layer: dict = None,
                 add_identity: bool = True,
                 num_experts: int = 8,
                 router: dict = dict(type='TopKRouter'),
                 capacity_factor: float = 0.0,
                 eval_capacity_factor: float = 0.0,
                 batch_prioritized: bool = False,
                 batch_first: bool = True,
                 init_mode: str = 'linear',
                 layer_scale_init_value: float = 0.0,
                 init_cfg=None):
        super().__init__()
        if num_fcs != 2:
            raise ValueError(
                f'MoEFFN experts are two-layer FFNs; num_fcs must be 2, got {num_fcs}.')
        if layer_scale_init_value:
            raise ValueError('MoEFFN does not support layer_scale_init_value > 0.')
        self.embed_dims = embed_dims
        self.feedforward_channels = feedforward_channels
        self.num_experts = num_experts
        self.capacity_factor = float(capacity_factor)
        self.eval_capacity_factor = float(eval_capacity_factor)
        self.batch_prioritized = batch_prioritized
        self.batch_first = batch_first
        self.add_identity = add_identity
        self.init_mode = init_mode
        check_router_fits_layer(type(self), router_class(router))
        self.router = build_router(router, embed_dims, self.num_routes)
        self.experts = BatchedExperts(num_experts, embed_dims, feedforward_channels, act_cfg,
                                      ffn_drop)
        self.dropout_layer = _build_dropout(dropout_layer)
        self.experts.reset_parameters(init_mode)

    @property
    def num_routes(self) -> int:
        """Gate columns a token can be routed to: the experts (MoE++ adds its cheap ones).

        The width of every plan's ``logits`` / ``probs`` and the range of
        ``expert_index`` (``num_experts`` counts the FFN experts only).
        """
        return self.num_experts

    @property
    def needs_session(self) -> bool:
        """Whether a training forward must run inside a routing session: the router
        reads targets or has an auxiliary loss, or the layer mixes token groups."""
        router = self.router
        return router.needs_targets or bool(router.loss_token_sets) or self.mixes_tokens

    @property
    def active_capacity_factor(self) -> float:
        """``capacity_factor`` in training, ``eval_capacity_factor`` otherwise."""
        return self.capacity_factor if self.training else self.eval_capacity_factor

    @classmethod
    def from_dense(cls, ffn: nn.Module, copy_weights: bool = False, **moe_kwargs) -> 'MoEFFN':
        """Build an MoEFFN matching an mmcv ``FFN`` (duck-typed, mmcv not imported).

        Args:
            ffn (nn.Module): an mmcv FFN with two fully connected layers.
            copy_weights (bool): upcycle, every expert starts as ``ffn``.
            **moe_kwargs: MoE options (``num_experts``, ``router``, ...).

        Returns:
            MoEFFN: on the same device and dtype as ``ffn``.
        """
        fc1, fc2 = _dense_linears(ffn)
        act = next((m for m in ffn.modules() if type(m).__name__ in ('ReLU', 'GELU', 'SiLU')),
                   None)
        drops = [m.p for m in ffn.modules() if isinstance(m, nn.Dropout)]
        kwargs = dict(
            embed_dims=fc1.in_features,
            feedforward_channels=fc1.out_features,
            act_cfg=dict(type=type(act).__name__) if act is not None else None,
            ffn_drop=drops[0] if drops else 0.0,
            add_identity=getattr(ffn, 'add_identity', True))
        kwargs.update(moe_kwargs)
        layer = cls(**kwargs)
        if hasattr(ffn, 'dropout_layer') and 'dropout_layer' not in moe_kwargs:
            layer.dropout_layer = ffn.dropout_layer
        if copy_weights:
            layer.experts.copy_from_dense(*dense_ffn_tensors(ffn))
        return layer.to(device=fc1.weight.device, dtype=fc1.weight.dtype)

    def init_weights(self, dense: nn.Module = None) -> None:
        """Re-initialise the router and the experts.

        Args:
            dense (nn.Module, optional): the (freshly initialised) dense FFN
                this layer replaces; with ``init_mode='upcycle'`` every expert
                becomes a copy of it, otherwise it is not used.
        """
        self.router.reset_parameters()
        if self.init_mode == 'upcycle' and dense is not None:
            self.experts.copy_from_dense(*dense_ffn_tensors(dense))
        else:
            self.experts.reset_parameters(self.init_mode)

    def moe(self, x: Tensor) -> Tensor:
        """The mixture without residual: route -> mix -> record, (B, T, D) -> (B, T, D).

        Raises:
            RuntimeError: a training forward outside a routing session with a
                router that has an auxiliary loss or follows targets.
        """
        batch, tokens, dims = x.shape
        flat = x.reshape(batch * tokens, dims)
        session = current_session()
        if session is None and self.training and self.needs_session:
            raise RuntimeError(
                f'{type(self).__name__} with {type(self.router).__name__} ran a training '
                'forward outside a routing session, so its auxiliary loss / dataset '
                'targets / token groups would be lost: use it inside an MoE detector '
                "(DAMEXDINO, MoEDeformableDETR, MoEDETR or type='MoEDetector'), or wrap the "
                'forward in `with routing_session(model, image_targets) as session:` and turn '
                'session.records into losses.')
        plan, out, kept = self.route_and_mix(flat, (batch, tokens), session)
        if session is not None:
            session.record(self, plan, kept, (batch, tokens))
        return out.view(batch, tokens, dims)

    def route_and_mix(self, flat: Tensor, batch_shape: tuple,
                      session=None) -> Tuple[RoutingPlan, Tensor, Tensor]:
        """One MoE step on flat tokens: :meth:`route`, then :meth:`mix`.

        Args:
            flat (Tensor): (N, D) tokens, N = B * T in batch-first order.
            batch_shape (tuple): ``(B, T)``.
            session (RoutingSession, optional): the open routing session.

        Returns:
            tuple: the plan, the (N, D) mixture and the (N, K) kept mask.
        """
        plan = self.route(flat, batch_shape, session)
        out, kept = self.mix(flat, plan)
        return plan, out, kept

    def route(self, flat: Tensor, batch_shape: tuple, session=None) -> RoutingPlan:
        """The router's plan for (N, D) tokens, with the session's targets and noise source."""
        if session is None:
            return self.router(flat, None, None)
        return self.router(flat, session.token_targets(*batch_shape), session.generator)

    def routing_metrics(self, plan: RoutingPlan, kept: Tensor) -> dict:
        """Detached statistics of one call (:func:`~damex_mmdet.moe.plan.routing_metrics`,
        plus the router's own, e.g. ReMoE's L1 coefficient)."""
        metrics = routing_metrics(plan, kept)
        metrics.update(self.router.extra_metrics())
        return metrics

    def mix(self, flat: Tensor, plan: RoutingPlan) -> Tuple[Tensor, Tensor]:
        """Send tokens to their experts and combine the outputs (the backend step).

        Args:
            flat (Tensor): (N, D) tokens.
            plan (RoutingPlan): the router's plan for them.

        Returns:
            tuple[Tensor, Tensor]: (N, D) mixture (zero for dropped tokens) and
            (N, K) bool, the assignments kept within capacity.
        """
        dispatch = make_dispatch(plan.expert_index, plan.combine_weight, self.num_experts,
                                 self.active_capacity_factor, self.batch_prioritized,
                                 plan.active)
        expert_out = self.experts(gather(flat, dispatch), dispatch.counts)
        return combine(expert_out, dispatch, flat.shape[0]), dispatch.kept

    def forward(self, x: Tensor, identity: Tensor = None) -> Tensor:
        """Same contract as mmcv's ``FFN.forward``.

        Args:
            x (Tensor): (B, T, D), or (T, B, D) with ``batch_first=False``.
            identity (Tensor, optional): residual; defaults to ``x``.

        Returns:
            Tensor: same shape as ``x``.
        """
        if self.batch_first:
            out = self.moe(x)
        else:
            out = self.moe(x.transpose(0, 1)).transpose(0, 1)
        out = self.dropout_layer(out)
        if not self.add_identity:
            return out
        return (x if identity is None else identity) + out

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """Upcycle transparently when given a dense mmcv FFN's weights.

        A checkpoint of the dense model holds ``{prefix}layers.0.0.weight``
        (fc1) and ``{prefix}layers.1.weight`` (fc2) where this layer expects
        ``{prefix}experts.w1`` ...; those keys are converted so that every
        expert starts as the trained dense FFN (the router keeps its init).
        """
        dense = [prefix + k for k in ('layers.0.0.weight', 'layers.0.0.bias', 'layers.1.weight',
                                      'layers.1.bias')]
        if all(k in state_dict for k in dense) and prefix + 'experts.w1' not in state_dict:
            fc1_w, fc1_b, fc2_w, fc2_b = (state_dict.pop(k) for k in dense)
            self.experts.copy_from_dense(fc1_w, fc1_b, fc2_w, fc2_b)
            for name, value in self.experts.state_dict().items():
                state_dict[prefix + 'experts.' + name] = value
            for name, value in self.router.state_dict().items():
                state_dict.setdefault(prefix + 'router.' + name, value)
            warnings.warn(f'{prefix[:-1] or "MoEFFN"}: the checkpoint holds a dense FFN here; '
                          f'upcycled: each of the {self.num_experts} experts starts as it, the '
                          'router keeps its initialisation.')
        self._check_shapes(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def _check_shapes(self, state_dict, prefix: str) -> None:
        """Stop, naming the layer and the config key, when checkpoint tensors do not fit.

        torch would only collect a size-mismatch message, and mmengine's
        non-strict load turns that into a warning: the run would start with
        this layer at its initialisation.

        Raises:
            ValueError: a tensor of this layer has another shape in the checkpoint.
        """
        for name, tensor in self.state_dict().items():
            value = state_dict.get(prefix + name)
            if value is None or tuple(value.shape) == tuple(tensor.shape):
                continue
            layer = prefix[:-1] or type(self).__name__
            if value.dim() == tensor.dim() and value.shape[0] != tensor.shape[0]:
                fix = (f'the checkpoint has {value.shape[0]} experts, the model '
                       f'{tensor.shape[0]}: set model.moe_cfg.num_experts={value.shape[0]}')
            else:
                fix = ('the expert width differs: set the FFN feedforward_channels / embed_dims '
                       'of the model to the checkpoint\'s')
            raise ValueError(
                f"{layer}: the checkpoint's {name} has shape {tuple(value.shape)}, this model's "
                f'{tuple(tensor.shape)}; {fix} (or start from a dense checkpoint, which is '
                'upcycled into any number of experts).')

    def extra_repr(self):
        return (f'capacity_factor={self.capacity_factor}, '
                f'eval_capacity_factor={self.eval_capacity_factor}, '
                f'batch_first={self.batch_first}, add_identity={self.add_identity}')
