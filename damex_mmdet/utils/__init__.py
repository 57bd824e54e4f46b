"""Helpers shared by the mmdet-facing parts of the package."""

__all__ = ['register_all_modules']


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register mmdet's and damex_mmdet's modules (OpenMMLab convention).

    mmengine calls ``<scope>.utils.register_all_modules(False)`` when a config
    inherited through ``damex_mmdet::...`` is built.

    Args:
        init_default_scope (bool): also make ``mmdet`` the default scope.
    """
    from mmdet.utils import register_all_modules as register_mmdet

    import damex_mmdet  # noqa: F401  (registers into mmdet's registries)
    register_mmdet(init_default_scope)
