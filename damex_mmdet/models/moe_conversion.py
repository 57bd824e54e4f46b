"""Turn chosen FFNs of any mmdet DETR-family model into ``MoEFFN`` by config.

Which FFNs is given by ``layers``: either a mapping from a transformer part to
layer indices, ``dict(decoder=[0, 2, 4])`` (the DAMEX paper: alternate decoder
layers), resolved to ``<part>.layers.<i>.ffn``, or an explicit list of module
paths such as ``['decoder.layers.0.ffn']`` for models laid out differently.
"""
from typing import Dict, Mapping, Sequence, Tuple, Union

import torch.nn as nn

from damex_mmdet.moe import MoEFFN, lookup
from damex_mmdet.moe.tutel_backend import TutelMoEFFN

__all__ = [
    'resolve_ffn_paths', 'convert_ffns_to_moe', 'moe_layer_class', 'swap_submodules',
    'check_moe_layers_match', 'MOE_LAYER_KEYS'
]

# keys of ``moe_cfg`` passed on to every MoEFFN
MOE_LAYER_KEYS = ('num_experts', 'router', 'capacity_factor', 'eval_capacity_factor',
                  'batch_prioritized')

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


def swap_submodules(model: nn.Module, modules: Mapping[str, nn.Module]) -> Dict[str, nn.Module]:
    """Put each module of ``modules`` at its path in ``model``, in place.

    A module that comes in is first moved to the device of the parameters of
    the one it replaces (so that initialising it draws from the same device's
    generator as the module that was there).

    Args:
        model (nn.Module): the model to edit.
        modules (Mapping[str, nn.Module]): dotted path -> module to put there.

    Returns:
        dict[str, nn.Module]: path -> the module that was there.
    """
    previous = {}
    for path, module in modules.items():
        parent_path, _, attr = path.rpartition('.')
        parent = model.get_submodule(parent_path) if parent_path else model
        previous[path] = getattr(parent, attr)
        param = next(previous[path].parameters(), None)
        if param is not None:
            module.to(param.device)
        setattr(parent, attr, module)
    return previous


def moe_layer_class(layer: dict = None, backend: str = 'native') -> Tuple[type, dict]:
    """The MoE layer class and its extra options from ``moe_cfg.layer``.

    Args:
        layer (dict, optional): ``dict(type='MoEFFN' | 'SoftMoEFFN' |
            'MoEPlusPlusFFN', **options)``; None is ``MoEFFN``.
        backend (str): ``'native'`` or ``'tutel'`` (``MoEFFN`` only).

    Returns:
        tuple: the class and the options to pass to it.

    Raises:
        ValueError: unknown type or backend, or tutel with another layer type.
    """
    if backend not in ('native', 'tutel'):
        raise ValueError(f"moe_cfg.backend must be 'native' or 'tutel', got {backend!r}.")
    options = dict(layer or {})
    cls = lookup(options.pop('type', 'MoEFFN'), 'moe_cfg.layer', MoEFFN)
    if backend == 'tutel':
        if cls is not MoEFFN:
            raise ValueError(f"backend='tutel' replaces the mixing step of MoEFFN; {cls.__name__}"
                             " mixes its own way (layer type and backend cannot both be set): "
                             "use backend='native'.")
        return TutelMoEFFN, options
    return cls, options


def convert_ffns_to_moe(model: nn.Module, layers: LayersSpec,
                        expert_init: str = 'fresh', backend: str = 'native',
                        layer: dict = None,
                        **moe_kwargs) -> Tuple[Dict[str, MoEFFN], Dict[str, nn.Module]]:
    """Replace the chosen FFNs in place.

    Args:
        model (nn.Module): the detector.
        layers: see the module docstring.
        expert_init (str): ``'fresh'`` (each expert initialised on its own) or
            ``'upcycle'`` (every expert starts as the FFN it replaces).
        backend (str): ``'native'`` (the layer class of ``layer``) or ``'tutel'``
            (:class:`~damex_mmdet.moe.tutel_backend.TutelMoEFFN`, needs tutel).
        layer (dict, optional): the MoE layer type and its own options, see
            :func:`moe_layer_class`.
        **moe_kwargs: ``MoEFFN`` options (see :data:`MOE_LAYER_KEYS`).

    Returns:
        tuple[dict, dict]: path -> new :class:`MoEFFN` (in model order), and
        path -> the dense FFN it replaced (no longer in the module tree; the
        detectors keep it to initialise the MoE layers like the dense model).
    """
    if expert_init not in ('fresh', 'upcycle'):
        raise ValueError(f"moe_cfg.expert_init must be 'fresh' or 'upcycle', got {expert_init!r}.")
    layer_type, options = moe_layer_class(layer, backend)
    converted = {}
    for path in resolve_ffn_paths(model, layers):
        upcycle = expert_init == 'upcycle'
        converted[path] = layer_type.from_dense(
            model.get_submodule(path), copy_weights=upcycle,
            init_mode='upcycle' if upcycle else 'xavier', **options, **moe_kwargs)
    return converted, swap_submodules(model, converted)


def check_moe_layers_match(state_dict: dict, prefix: str, moe_layers: Sequence[str]) -> None:
    """Refuse a checkpoint whose MoE layers are dense FFNs in this model.

    (Expert-count mismatches are refused by each MoE layer; dense FFNs in the
    checkpoint where this model has MoE layers are upcycled.)

    Args:
        state_dict (dict): the checkpoint's tensors.
        prefix (str): of the model in ``state_dict``.
        moe_layers (Sequence[str]): the model's MoE layer paths.

    Raises:
        ValueError: naming the layers and ``model.moe_cfg.layers``.
    """
    suffix = '.experts.w1'
    in_checkpoint = {key[len(prefix):-len(suffix)] for key in state_dict
                     if key.startswith(prefix) and key.endswith(suffix)}
    dense_here = sorted(in_checkpoint - set(moe_layers))
    if dense_here:
        raise ValueError(
            f'the checkpoint has MoE layers {dense_here} that are dense FFNs in this model '
            f'(its MoE layers: {list(moe_layers)}); set model.moe_cfg.layers to the '
            f"checkpoint's layers (its meta['damex_moe']['layers'] lists them).")
