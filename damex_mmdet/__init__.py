"""damex_mmdet: dataset-aware Mixture-of-Experts detection for MMDetection 3.x.

Importing the package registers its modules into ``mmdet.registry`` (configs
load it with ``custom_imports=dict(imports=['damex_mmdet'])``). The pure
PyTorch parts, :mod:`damex_mmdet.moe` and :mod:`damex_mmdet.planning`, do not
need mmcv or mmdet: when mmdet cannot be imported, only they are available.
"""
import importlib.util

from .version import __version__

__all__ = ['__version__']

if importlib.util.find_spec('mmdet') is not None:
    from .utils.config_scope import register_config_scope
    from .utils.env_check import check_environment
    from .utils.safe_checkpoint import register_checkpoint_loaders

    check_environment()
    register_config_scope()
    register_checkpoint_loaders()
    from . import datasets, engine, evaluation, models  # noqa: F401,E402

    __all__ += ['datasets', 'engine', 'evaluation', 'models']
