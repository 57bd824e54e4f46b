"""Turn chosen FFNs of any mmdet DETR-family model into ``MoEFFN`` by config.

Which FFNs is given by ``layers``: either a mapping from a transformer part to
layer indices, ``dict(decoder=[0, 2, 4])`` (the DAMEX paper: alternate decoder
layers), resolved to ``<part>.layers.<i>.ffn``, or an explicit list of module
paths such as ``['decoder.layers.0.ffn']`` for models laid out differently.
"""
from typing import Dict, Mapping, Sequence, Union

import torch.nn as nn

from damex_mmdet.moe import MoEFFN, RoutingContext
from damex_mmdet.moe.tutel_backend import TutelMoEFFN

__all__ = ['resolve_ffn_paths', 'convert_ffns_to_moe', 'MOE_LAYER_KEYS']

# keys of ``moe_cfg`` passed on to every MoEFFN
MOE_LAYER_KEYS = ('num_experts', 'router', 'capacity_factor', 'batch_prioritized')

LayersSpec = Union[Mapping[str, Sequence[int]], Sequence[str]]


def resolve_ffn_paths(model: nn.Module, layers: LayersSpec) -> list:
    """Resolve ``layers`` to module paths and check they are two-layer FFNs.

    Raises:
        ValueError: a path that does not exist, an index out of range or a
            module that is not an FFN, with the valid choices.
    """
    if isinstance(layers, Mapping):
        paths = []
        for part, indices in layers.items():
            stack = getattr(model, part, None)
            stack = getattr(stack, 'layers', None)
            if stack is None:
                raise ValueError(
                    f"moe_cfg.layers names '{part}' but {type(model).__name__} has no "
                    f"'{part}.layers'; use one of its transformer parts (e.g. 'decoder') or "
                    'give explicit module paths.')
            for i in indices:
                if not -len(stack) <= i < len(stack):
                    raise ValueError(f"moe_cfg.layers['{part}'] has index {i} but '{part}' "
                                     f'has {len(stack)} layers.')
                paths.append(f'{part}.layers.{i % len(stack)}.ffn')
    else:
        paths = list(layers)
    modules = dict(model.named_modules())
    for path in paths:
        if path not in modules:
            raise ValueError(f"moe_cfg.layers: module '{path}' does not exist in "
                             f'{type(model).__name__}.')
        linears = [m for m in modules[path].modules() if isinstance(m, nn.Linear)]
        if isinstance(modules[path], MoEFFN) or len(linears) != 2:
            raise ValueError(f"moe_cfg.layers: '{path}' is a {type(modules[path]).__name__}, "
                             'not a two-layer FFN that can become an MoE.')
    if len(set(paths)) != len(paths):
        raise ValueError(f'moe_cfg.layers lists a module twice: {paths}.')
    return paths


def convert_ffns_to_moe(model: nn.Module, layers: LayersSpec, context: RoutingContext,
                        expert_init: str = 'fresh', backend: str = 'native',
                        **moe_kwargs) -> Dict[str, MoEFFN]:
    """Replace the chosen FFNs in place.

    Args:
        model (nn.Module): the detector.
        layers: see the module docstring.
        context (RoutingContext): shared by all converted layers.
        expert_init (str): ``'fresh'`` (each expert initialised on its own) or
            ``'upcycle'`` (every expert starts as the FFN it replaces).
        backend (str): ``'native'`` (:class:`MoEFFN`) or ``'tutel'``
            (:class:`~damex_mmdet.moe.tutel_backend.TutelMoEFFN`, needs tutel).
        **moe_kwargs: ``MoEFFN`` options (see :data:`MOE_LAYER_KEYS`).

    Returns:
        dict[str, MoEFFN]: path -> new layer, in model order.
    """
    if expert_init not in ('fresh', 'upcycle'):
        raise ValueError(f"moe_cfg.expert_init must be 'fresh' or 'upcycle', got {expert_init!r}.")
    if backend not in ('native', 'tutel'):
        raise ValueError(f"moe_cfg.backend must be 'native' or 'tutel', got {backend!r}.")
    layer_type = TutelMoEFFN if backend == 'tutel' else MoEFFN
    converted = {}
    for path in resolve_ffn_paths(model, layers):
        parent_path, _, attr = path.rpartition('.')
        parent = model.get_submodule(parent_path)
        dense = getattr(parent, attr)
        upcycle = expert_init == 'upcycle'
        layer = layer_type.from_dense(
            dense, copy_weights=upcycle, init_mode='upcycle' if upcycle else 'xavier',
            **moe_kwargs)
        layer.routing_context = context
        layer.layer_name = path
        setattr(parent, attr, layer)
        converted[path] = layer
    return converted
