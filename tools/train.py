"""Train with mmdet's own tools/train.py after importing damex_mmdet.

Same arguments as mmdet's script (``python tools/train.py CONFIG [--work-dir
DIR] [--resume] [--cfg-options ...] [--launcher pytorch]``). Importing
damex_mmdet first registers its modules and lets configs inherit
``damex_mmdet::...`` bases. ``mim train mmdet CONFIG`` works as well for the
shipped configs.
"""
import os.path as osp
import runpy

import mmdet

import damex_mmdet  # noqa: F401  (registers modules and the config scope)

if __name__ == '__main__':
    runpy.run_path(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py'), run_name='__main__')
