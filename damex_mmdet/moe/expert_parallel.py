"""Expert parallelism: each rank holds ``E / W`` experts and tokens travel to them.

Shape shorthand: ``N`` local tokens, ``D`` model dim, ``H`` expert hidden dim,
``E`` experts in total, ``W`` ranks in the process group, ``L = E / W`` local
experts, ``M`` kept local (token, expert) assignments, ``R`` assignments this
rank's experts receive from all ranks.

Rank ``r`` owns experts ``[r * L, (r + 1) * L)``. One forward of
:class:`ExpertParallelMoEFFN` on every rank:

1. route and dispatch the local tokens exactly as :class:`MoEFFN` does (the
   router is replicated, the capacity is applied to the local tokens);
2. exchange the per-expert counts with one ``all_to_all`` of an (E,) tensor,
   so every rank knows how many rows it will receive from each rank;
3. send the grouped tokens to the ranks owning their experts
   (``all_to_all_single`` with variable split sizes), regroup the received
   rows by local expert, run the ``L`` local experts, undo the regrouping;
4. send the outputs back with the reverse ``all_to_all_single`` and combine.

Gradients flow through both exchanges (the backward of an all-to-all is the
all-to-all with swapped split sizes), so a local expert's gradient sums the
contributions of the tokens of *every* rank. Those parameters must therefore
not be averaged again by data parallelism: see :func:`expert_parameter_names`.
Everything here is plain ``torch.distributed`` (gloo on CPU, NCCL on GPU).
"""
import copy
import math
from typing import Dict, List, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

from .dispatch import combine, gather, make_dispatch
from .experts import BatchedExperts, init_expert_tensors
from .layer import MoEFFN, dense_ffn_tensors
from .plan import RoutingPlan

__all__ = [
    'all_to_all_rows', 'shard_experts', 'gather_experts', 'expert_parameter_names',
    'ExpertParallelMoEFFN', 'check_expert_parallel', 'convert_to_expert_parallel',
    'clip_grad_norm_expert_parallel'
]

_EXPERT_PARAMS = ('w1', 'b1', 'w2', 'b2')


class _AllToAllRows(torch.autograd.Function):
    """Differentiable ``all_to_all_single`` along dim 0 with variable splits."""

    @staticmethod
    def forward(ctx, x, send_sizes, recv_sizes, group):
        ctx.sizes, ctx.group = (send_sizes, recv_sizes), group
        out = x.new_empty((sum(recv_sizes), ) + tuple(x.shape[1:]))
        dist.all_to_all_single(out, x.contiguous(), recv_sizes, send_sizes, group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        send_sizes, recv_sizes = ctx.sizes
        back = _AllToAllRows.apply(grad.contiguous(), recv_sizes, send_sizes, ctx.group)
        return back, None, None, None


def all_to_all_rows(x: Tensor, send_sizes: List[int], recv_sizes: List[int],
                    group=None) -> Tensor:
    """Send ``x[rows of block j]`` to rank ``j``; differentiable.

    Args:
        x (Tensor): (sum(send_sizes), ...) rows grouped by destination rank.
        send_sizes (list[int]): (W,) rows for each destination rank.
        recv_sizes (list[int]): (W,) rows coming from each source rank.
        group (ProcessGroup, optional): defaults to the world.

    Returns:
        Tensor: (sum(recv_sizes), ...) rows grouped by source rank.
    """
    return _AllToAllRows.apply(x, list(send_sizes), list(recv_sizes), group)


def _rank_and_size(group) -> tuple:
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError('expert parallelism needs an initialised torch.distributed process '
                           'group; call torch.distributed.init_process_group first.')
    return dist.get_rank(group), dist.get_world_size(group)


def shard_experts(experts: BatchedExperts, rank: int, world_size: int) -> BatchedExperts:
    """Copy the ``L = E / W`` experts of ``rank`` into a new :class:`BatchedExperts`.

    Args:
        experts (BatchedExperts): all ``E`` experts (identical on every rank).
        rank (int): this rank in the expert-parallel group.
        world_size (int): ``W``; must divide ``E``.

    Returns:
        BatchedExperts: ``L`` experts, same activation and dropout.
    """
    num_experts, embed_dims, hidden = experts.w1.shape
    if world_size < 1 or num_experts % world_size:
        raise ValueError(f'expert parallelism needs num_experts divisible by the group size, '
                         f'got num_experts={num_experts} and world_size={world_size}; choose '
                         'a number of experts that is a multiple of the number of ranks.')
    local = num_experts // world_size
    shard = BatchedExperts(local, embed_dims, hidden, act_cfg=None, ffn_drop=experts.drop.p)
    shard.activate = experts.activate
    with torch.no_grad():
        for name in _EXPERT_PARAMS:
            full = getattr(experts, name)
            getattr(shard, name).copy_(full[rank * local:(rank + 1) * local])
    return shard.to(device=experts.w1.device, dtype=experts.w1.dtype)


@torch.no_grad()
def gather_experts(experts: BatchedExperts, group=None) -> Dict[str, Tensor]:
    """All-gather the local expert shards into full ``(E, ...)`` tensors on every rank.

    Every rank of ``group`` must call it (it is a collective).

    Args:
        experts (BatchedExperts): this rank's ``L`` experts.
        group (ProcessGroup, optional): the expert-parallel group.

    Returns:
        dict[str, Tensor]: ``w1`` (E, D, H), ``b1`` (E, H), ``w2`` (E, H, D),
        ``b2`` (E, D), experts in rank order, i.e. the state of the
        single-process :class:`BatchedExperts`.
    """
    _, world_size = _rank_and_size(group)
    full = {}
    for name in _EXPERT_PARAMS:
        local = getattr(experts, name).detach().contiguous()
        parts = [torch.empty_like(local) for _ in range(world_size)]
        dist.all_gather(parts, local, group=group)
        full[name] = torch.cat(parts, 0)
    return full


def expert_parameter_names(model: torch.nn.Module) -> List[str]:
    """Names of the parameters held by expert-parallel layers of ``model``.

    Data parallelism must leave them alone (their gradients already sum the
    tokens of every rank), e.g. ``DistributedDataParallel.
    _set_params_and_buffers_to_ignore_for_model(model, names)`` before
    wrapping.

    Returns:
        list[str]: e.g. ``['decoder.layers.0.ffn.experts.w1', ...]``.
    """
    names = []
    for prefix, module in model.named_modules():
        if isinstance(module, ExpertParallelMoEFFN):
            base = f'{prefix}.experts.' if prefix else 'experts.'
            names += [base + name for name in _EXPERT_PARAMS]
    return names


class ExpertParallelMoEFFN(MoEFFN):
    """:class:`MoEFFN` whose experts are spread over the ranks of a process group.

    Build it from a full layer with :meth:`from_moe` (same weights on every
    rank, e.g. the same seed or a loaded checkpoint). Every rank of the group
    must call ``forward`` (and later ``backward``) the same number of times,
    even with zero tokens, because the exchanges are collectives.

    Limits: the capacity is applied to each rank's tokens before the exchange
    (as under data parallelism), so with a finite ``capacity_factor`` the
    dropped tokens can differ from one process seeing all tokens; with
    ``capacity_factor=0`` (no dropping) results are identical.

    Attributes:
        group (ProcessGroup, optional): the expert-parallel group (world if None).
        experts (BatchedExperts): the ``L`` local experts; the state dict
            therefore holds ``(L, ...)`` tensors, see :meth:`full_expert_state`.
    """

    @classmethod
    def from_moe(cls, layer: MoEFFN, group=None) -> 'ExpertParallelMoEFFN':
        """Keep ``layer``'s router, dropout and settings and this rank's expert shard.

        Args:
            layer (MoEFFN): the full layer (all ``E`` experts).
            group (ProcessGroup, optional): defaults to the world.

        Returns:
            ExpertParallelMoEFFN: shares the router with ``layer``.

        Raises:
            ValueError: ``layer`` declares ``expert_parallel = False`` (Soft
                MoE, MoE++, the tutel backend).
        """
        check_expert_parallel(type(layer))
        rank, world_size = _rank_and_size(group)
        # MoEFFN.__init__ would allocate all E experts again: take over the layer's
        # whole state instead (every attribute, whatever a subclass adds), with
        # module containers of its own so that replacing the experts here leaves
        # ``layer`` intact
        parallel = cls.__new__(cls)
        parallel.__dict__.update({
            key: copy.copy(value) if isinstance(value, (dict, list, set)) else value
            for key, value in layer.__dict__.items()})
        parallel.experts = shard_experts(layer.experts, rank, world_size)
        parallel.group = group
        return parallel

    @torch.no_grad()
    def init_weights(self, dense: torch.nn.Module = None) -> None:
        """Initialise all ``E`` experts as :class:`MoEFFN` does and keep this rank's slice.

        Every rank draws the same numbers (same seed), so the shards together
        are exactly the full layer's initialisation.

        Args:
            dense (nn.Module, optional): see :meth:`MoEFFN.init_weights`.
        """
        self.router.reset_parameters()
        if self.init_mode == 'upcycle' and dense is not None:
            self.experts.copy_from_dense(*dense_ffn_tensors(dense))
            return
        rank, _ = _rank_and_size(self.group)
        local = self.experts.num_experts
        full = {
            name: getattr(self.experts, name).new_empty((self.num_experts, ) +
                                                        getattr(self.experts, name).shape[1:])
            for name in _EXPERT_PARAMS
        }
        init_expert_tensors(*(full[name] for name in _EXPERT_PARAMS), self.init_mode)
        for name in _EXPERT_PARAMS:
            getattr(self.experts, name).copy_(full[name][rank * local:(rank + 1) * local])

    def full_expert_state(self) -> Dict[str, Tensor]:
        """All experts as ``(E, ...)`` tensors on every rank (collective)."""
        return gather_experts(self.experts, self.group)

    def mix(self, flat: Tensor, plan: RoutingPlan) -> Tuple[Tensor, Tensor]:
        """:meth:`MoEFFN.mix` with the experts on their ranks: (N, D) -> (N, D), (N, K).

        Collective: every rank of the group calls it once per layer call.
        """
        _, world_size = _rank_and_size(self.group)
        local = self.experts.num_experts
        dispatch = make_dispatch(plan.expert_index, plan.combine_weight, self.num_experts,
                                 self.active_capacity_factor, self.batch_prioritized,
                                 plan.active)
        # 1. counts: row s of `recv` = rows rank s sends to each of my L experts
        send_counts = torch.tensor(dispatch.counts, dtype=torch.long, device=flat.device)
        recv = torch.empty_like(send_counts)
        dist.all_to_all_single(recv, send_counts, group=self.group)
        recv = recv.view(world_size, local)
        send_sizes = send_counts.view(world_size, local).sum(1).tolist()
        recv_sizes = recv.sum(1).tolist()
        # 2. tokens to their experts' ranks; received rows are (source, expert)-major
        received = all_to_all_rows(gather(flat, dispatch), send_sizes, recv_sizes,
                                   self.group)
        row_expert = torch.arange(local, device=flat.device).repeat(world_size)
        order = row_expert.repeat_interleave(recv.flatten()).sort(stable=True).indices
        out = self.experts(received.index_select(0, order), recv.sum(0).tolist())
        out = out.index_select(0, torch.argsort(order))  # back to (source, expert) order
        # 3. outputs back to the ranks that own the tokens, then the usual combine
        expert_out = all_to_all_rows(out, recv_sizes, send_sizes, self.group)
        return combine(expert_out, dispatch, flat.shape[0]), dispatch.kept

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """Accept full ``(E, ...)`` expert tensors (a gathered or single-process
        checkpoint) and keep this rank's slice; local ``(L, ...)`` ones load as is."""
        local = self.experts.num_experts
        for name in _EXPERT_PARAMS:
            key = f'{prefix}experts.{name}'
            value = state_dict.get(key)
            if value is not None and value.shape[0] == self.num_experts != local:
                rank = _rank_and_size(self.group)[0]
                state_dict[key] = value[rank * local:(rank + 1) * local]
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self):
        return super().extra_repr() + f', local_experts={self.experts.num_experts}'


def check_expert_parallel(layer_cls: type, name: str = None) -> None:
    """Refuse a layer class that does not declare ``expert_parallel``.

    Raises:
        ValueError: naming the layer, its mixing and the way out.
    """
    if layer_cls.expert_parallel:
        return
    where = f'{name} ({layer_cls.__name__})' if name else layer_cls.__name__
    if layer_cls.backend != 'native':
        fix = ("set moe_cfg.backend='native' (expert parallelism exchanges tokens natively; "
               'checkpoints are the same for both backends)')
    else:
        fix = 'train this layer without expert_parallel (data parallelism works for every layer)'
    raise ValueError(
        f'{where} declares expert_parallel=False (it mixes {sorted(layer_cls.mixes)} with '
        f"backend '{layer_cls.backend}'), which the expert-parallel exchange does not "
        f'implement; expert parallelism shards layers that mix dispatch plans natively '
        f'(MoEFFN with top-k, DAMEX, GEM or ReMoE routers): {fix}.')


def convert_to_expert_parallel(model: torch.nn.Module,
                               group=None) -> Dict[str, ExpertParallelMoEFFN]:
    """Replace every :class:`MoEFFN` of ``model`` by its expert-parallel version, in place.

    The model must hold the same weights on every rank (same seed or loaded
    checkpoint). The MoE detectors' ``moe_layers`` reads the module tree, so it
    lists the new layers; a plain ``moe_layers`` dict attribute of another
    model is updated to them.

    Args:
        model (nn.Module): e.g. a DAMEX detector.
        group (ProcessGroup, optional): the expert-parallel group.

    Returns:
        dict[str, ExpertParallelMoEFFN]: module name -> new layer.

    Raises:
        ValueError: ``model`` has no MoE layer, a layer uses the tutel
            backend, or a layer's ``num_experts`` is not a multiple of the
            group size.
    """
    found = [(name, module) for name, module in model.named_modules()
             if isinstance(module, MoEFFN) and not isinstance(module, ExpertParallelMoEFFN)]
    if not found and not any(isinstance(m, ExpertParallelMoEFFN) for m in model.modules()):
        raise ValueError(f'expert parallelism was requested but {type(model).__name__} has no '
                         'MoE layer; set model.moe_cfg (layers, num_experts, ...) or use the '
                         'plain data-parallel wrapper.')
    for name, layer in found:
        check_expert_parallel(type(layer), name)
    converted = {}
    for name, layer in found:
        parent_name, _, child = name.rpartition('.')
        parent = model.get_submodule(parent_name) if parent_name else model
        converted[name] = ExpertParallelMoEFFN.from_moe(layer, group)
        setattr(parent, child, converted[name])
    registry = getattr(model, 'moe_layers', None)
    if isinstance(registry, dict):
        by_old = {id(layer): converted[name] for name, layer in found}
        for key, layer in list(registry.items()):
            registry[key] = by_old.get(id(layer), layer)
    return converted


@torch.no_grad()
def clip_grad_norm_expert_parallel(parameters,
                                   max_norm: float,
                                   norm_type: float = 2.0,
                                   expert_parameters=(),
                                   group=None) -> Tensor:
    """``torch.nn.utils.clip_grad_norm_`` over the parameters of *all* ranks.

    Under expert parallelism the replicated parameters have the same gradient
    on every rank while each rank holds the gradients of its own experts, so
    the global norm is ``(sum_replicated |g|^p + sum_ranks sum_local_experts
    |g|^p)^(1/p)``: the expert part is all-reduced, the replicated part is
    not. Every rank then scales by the same coefficient, exactly what one
    process holding every expert would do. Collective: all ranks must call it.

    Args:
        parameters (Iterable[Tensor]): parameters with gradients.
        max_norm (float): largest allowed total norm.
        norm_type (float): p (``inf`` for the max norm).
        expert_parameters (Iterable[Tensor]): the sharded expert parameters
            among ``parameters``.
        group (ProcessGroup, optional): the expert-parallel group.

    Returns:
        Tensor: () the global total norm (before clipping).
    """
    params = [p for p in parameters if p.grad is not None]
    experts = {id(p) for p in expert_parameters}
    norm_type = float(norm_type)
    if not params:
        return torch.zeros(())
    device = params[0].grad.device

    def part(selected, reduce_op=None):
        grads = [p.grad.detach() for p in selected]
        if norm_type == math.inf:
            value = max((g.abs().max() for g in grads), default=torch.zeros((), device=device))
        else:
            value = sum((g.norm(norm_type)**norm_type for g in grads),
                        torch.zeros((), device=device))
        value = value.to(device=device, dtype=torch.float32)
        if reduce_op is not None:
            dist.all_reduce(value, op=reduce_op, group=group)
        return value

    shared = part([p for p in params if id(p) not in experts])
    if norm_type == math.inf:
        total = torch.maximum(
            shared, part([p for p in params if id(p) in experts], dist.ReduceOp.MAX))
    else:
        total = (shared + part([p for p in params if id(p) in experts], dist.ReduceOp.SUM))
        total = total**(1.0 / norm_type)
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for p in params:
        p.grad.detach().mul_(coef.to(p.grad.dtype))
    return total
