"""Scope ``damex_mmdet`` for configs inherited through ``damex_mmdet::...``.

damex_mmdet registers every module into mmdet's registries. mmengine marks
configs inherited as ``damex_mmdet::<config>`` with ``_scope_='damex_mmdet'``
and then looks for registries of that scope; this module gives it one empty
child per mmdet registry, so every lookup falls through to mmdet's (where
our modules live). Nothing is registered here.
"""
from mmdet import registry as _mmdet_registry
from mmengine.registry import Registry

_PARENTS = {
    name: value
    for name, value in vars(_mmdet_registry).items() if isinstance(value, Registry)
}
__all__ = sorted(_PARENTS)
globals().update({
    name: Registry(parent.name, parent=parent, scope='damex_mmdet')
    for name, parent in _PARENTS.items()
})
