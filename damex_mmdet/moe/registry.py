"""The one registry of routers and MoE layers.

``moe/`` is plain PyTorch (it imports neither mmcv, mmdet nor mmengine), so
its registry is a small one of its own with the same calling convention as
mmengine's (``register_module()``, ``get``, ``module_dict``, ``build``).
Every router and MoE layer class lives here and only here; mmdet's
``MODELS`` holds the mmdet-facing classes (detectors, decoders, the DAMEX
decoder layer), which build MoE layers from ``moe_cfg`` through this
registry. Configs name routers and layers by class name
(``router=dict(type='DatasetAwareRouter')``, ``layer=dict(type='SoftMoEFFN')``).

A new routing registers itself and declares what it needs and supports
(:mod:`~damex_mmdet.moe.capabilities`); no file of the package changes::

    @MOE_MODULES.register_module()
    class MyRouter(Router):
        dispatch = 'topk'
        ...
"""
from typing import Callable, Dict, Optional

__all__ = ['Registry', 'MOE_MODULES', 'lookup']


class Registry:
    """Name -> class, filled by a decorator.

    Args:
        name (str): what it holds, for messages.
    """

    def __init__(self, name: str):
        self.name = name
        self._modules: Dict[str, type] = {}

    @property
    def module_dict(self) -> Dict[str, type]:
        """A copy of the registered classes by name."""
        return dict(self._modules)

    def get(self, name: str) -> Optional[type]:
        """The class registered as ``name``, or None."""
        return self._modules.get(name)

    def register_module(self, name: str = None, force: bool = False,
                        module: type = None) -> Callable:
        """Register ``module`` (or the decorated class) under ``name`` (its class name).

        Raises:
            KeyError: the name is taken by another class and ``force`` is False.
        """

        def register(cls: type) -> type:
            key = name or cls.__name__
            if not force and self._modules.get(key, cls) is not cls:
                raise KeyError(f'{key!r} is already registered in {self.name} (by '
                               f'{self._modules[key].__module__}); pick another name or pass '
                               'force=True.')
            self._modules[key] = cls
            return cls

        return register(module) if module is not None else register

    def build(self, cfg: dict, *args, **kwargs):
        """Instantiate ``cfg['type']`` with ``*args``, the other keys and ``**kwargs``."""
        cfg = dict(cfg)
        cls = self.get(cfg.pop('type'))
        if cls is None:
            raise KeyError(f'unknown type; registered in {self.name}: {sorted(self._modules)}.')
        return cls(*args, **cfg, **kwargs)

    def __repr__(self):
        return f'Registry({self.name!r}, {sorted(self._modules)})'


MOE_MODULES = Registry('damex_mmdet.moe (routers and MoE layers)')


def lookup(kind: str, role: str, base: type) -> type:
    """The registered class named ``kind``, which must subclass ``base``.

    Args:
        kind (str): ``type`` of the config dict.
        role (str): what it is for, for the message (e.g. ``'moe_cfg.router'``).
        base (type): the class it must derive from.

    Raises:
        ValueError: unknown name, or a class of another role, naming the
            valid ones.
    """
    cls = MOE_MODULES.get(kind)
    if cls is None or not issubclass(cls, base):
        valid = sorted(name for name, c in MOE_MODULES.module_dict.items()
                       if issubclass(c, base))
        raise ValueError(f'{role} type {kind!r} is unknown; use one of {valid} (or register '
                         'your own with @MOE_MODULES.register_module()).')
    return cls
