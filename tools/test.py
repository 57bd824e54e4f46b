"""Test with mmdet's own tools/test.py after importing damex_mmdet.

Same arguments as mmdet's script (``python tools/test.py CONFIG CHECKPOINT [--work-dir
DIR] [--out results.pkl] [--show-dir DIR]``). Importing
damex_mmdet first registers its modules and lets configs inherit
``damex_mmdet::...`` bases. ``mim test mmdet CONFIG --checkpoint CKPT`` works as well for the
shipped configs.

Checkpoints load with ``weights_only=True`` and damex_mmdet's allow-list
(:mod:`damex_mmdet.utils.safe_checkpoint`); ``--trust-checkpoint`` (ours, taken
out before mmdet's script parses the rest) loads a file you trust fully.
"""
import os.path as osp
import runpy
import sys

import mmdet

import damex_mmdet  # noqa: F401  (registers modules and the config scope)
from damex_mmdet.utils.safe_checkpoint import trust_local_checkpoints

if __name__ == '__main__':
    if '--trust-checkpoint' in sys.argv:
        sys.argv.remove('--trust-checkpoint')
        trust_local_checkpoints()
    runpy.run_path(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'test.py'), run_name='__main__')
