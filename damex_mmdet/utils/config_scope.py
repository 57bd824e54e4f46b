"""Let mmengine configs inherit ``damex_mmdet::<path>`` like ``mmdet::<path>``.

mmengine resolves ``package::path`` only for packages listed in its
``MODULE2PACKAGE`` table, and looks for ``<package>/.mim/configs/<path>``.
Our configs ship at ``damex_mmdet/.mim/configs`` (a link to ``configs/`` in a
source checkout); importing :mod:`damex_mmdet` adds the package to the table,
so the scope works in any process that imported it before parsing a config
(``tools/train.py``, ``tools/test.py``, Python code). ``mim train mmdet``
parses the config before ``custom_imports`` runs, so configs given to it must
reach our bases by path (as the shipped configs do).
"""
import os.path as osp

__all__ = ['register_config_scope', 'CONFIG_ROOT']

CONFIG_ROOT = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim', 'configs')


def register_config_scope() -> None:
    """Add ``damex_mmdet`` to mmengine's package-scope table (idempotent)."""
    from mmengine.config import utils as config_utils
    config_utils.MODULE2PACKAGE.setdefault('damex_mmdet', 'damex_mmdet')
