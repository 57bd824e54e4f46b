"""Test with mmdet's own tools/test.py after importing damex_mmdet.

Same arguments as mmdet's script (``python tools/test.py CONFIG CHECKPOINT [--work-dir
DIR] [--out results.pkl] [--show-dir DIR]``). Importing
damex_mmdet first registers its modules and lets configs inherit
``damex_mmdet::...`` bases. ``mim test mmdet CONFIG --checkpoint CKPT`` works as well for the
shipped configs.
"""
import os.path as osp
import runpy

import mmdet

import damex_mmdet  # noqa: F401  (registers modules and the config scope)

if __name__ == '__main__':
    runpy.run_path(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'test.py'), run_name='__main__')
