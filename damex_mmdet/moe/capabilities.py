"""What routers and MoE layers declare about themselves, and the build-time check.

Every router declares *how it dispatches* (``dispatch``) and, from its
options, whether training needs the mapped expert of every token
(``needs_targets``) and which auxiliary losses it returns over which token
set (``loss_token_sets``). Every MoE layer declares the dispatch kinds it
can mix (``mixes``), whether it mixes tokens across positions
(``mixes_tokens``: then the session's token groups are needed) and whether
expert parallelism can shard it (``expert_parallel``). The detector, the
expert-parallel wrapper and the tutel backend read these declarations;
:func:`check_router_fits_layer` refuses an unsupported pair when the layer
is built, naming both sides.

Dispatch kinds:

- ``'topk'``: the top-k of a softmax gate (vanilla MoE, DAMEX);
- ``'map'``: training dispatch follows the targets ``h(d)`` (GEM);
- ``'relu'``: a variable number of experts per token (ReMoE);
- ``'slots'``: soft mixtures of tokens into expert slots (Soft MoE);
- ``'cheap'``: top-k over FFN experts and closed-form cheap experts (MoE++).
"""
__all__ = ['DISPATCH_KINDS', 'TOKEN_SET_ROLES', 'check_router_fits_layer']

DISPATCH_KINDS = ('topk', 'map', 'relu', 'slots', 'cheap')
# which moe_cfg key selects the tokens of an auxiliary loss: 'ce' -> ce_tokens,
# 'balance' -> balance_tokens, 'all' -> every token the layer saw
TOKEN_SET_ROLES = ('ce', 'balance', 'all')


def check_router_fits_layer(layer_cls: type, router_cls: type) -> None:
    """Refuse a router whose dispatch the layer (or its backend) cannot mix.

    Args:
        layer_cls (type): the MoE layer class (declares ``mixes`` and ``backend``).
        router_cls (type): the router class (declares ``dispatch``).

    Raises:
        ValueError: naming both classes, the dispatch and what the layer mixes.
    """
    if router_cls.dispatch not in DISPATCH_KINDS:
        raise ValueError(f'{router_cls.__name__} declares dispatch={router_cls.dispatch!r}; '
                         f'declare one of {DISPATCH_KINDS}.')
    if router_cls.dispatch in layer_cls.mixes:
        return
    layers, routers = _registered()
    fitting_layers = sorted(name for name, cls in layers.items()
                            if router_cls.dispatch in cls.mixes)
    fitting_routers = sorted(name for name, cls in routers.items()
                             if cls.dispatch in layer_cls.mixes)
    is_backend = layer_cls.backend != 'native'
    where = f" (backend='{layer_cls.backend}')" if is_backend else ''
    raise ValueError(
        f"{layer_cls.__name__}{where} mixes dispatch plans of kind {sorted(layer_cls.mixes)}, "
        f"but router {router_cls.__name__} dispatches by '{router_cls.dispatch}'. Give the "
        f'layer a router of its kind ({fitting_routers or "none registered"}) or the router a '
        f'layer that mixes it ({fitting_layers or "none registered"}: moe_cfg '
        f"layer=dict(type=...){', backend=native' if is_backend else ''}).")


def _registered() -> tuple:
    """Registered MoE layer classes and router classes, by name."""
    from .layer import MoEFFN
    from .registry import MOE_MODULES
    from .routers import Router
    modules = MOE_MODULES.module_dict
    return ({name: cls for name, cls in modules.items() if issubclass(cls, MoEFFN)},
            {name: cls for name, cls in modules.items() if issubclass(cls, Router)})
