"""Test with mmdet's own tools/test.py after importing damex_mmdet.

Same arguments as mmdet's script (``python tools/test.py CONFIG CHECKPOINT [--work-dir
DIR] [--out results.pkl] [--show-dir DIR]``). Importing
damex_mmdet first registers its modules and lets configs inherit
``damex_mmdet::...`` bases. ``mim test mmdet CONFIG --checkpoint CKPT`` works as well for the
shipped configs.

Checkpoints load with ``weights_only=True`` and damex_mmdet's allow-list
(:mod:`damex_mmdet.utils.safe_checkpoint`); ``--trust-checkpoint`` (ours, taken
out before mmdet's script parses the rest) loads a file you trust fully.

``--launcher pytorch`` (torchrun, ``tools/dist_test.sh``) also runs on CPU
processes (:mod:`damex_mmdet.utils.cpu_distributed`).

Before mmdet's script runs, the checkpoint's class names (``meta.dataset_meta``)
are compared with the config's test dataset: a checkpoint scored against
another label space stops with a message naming both files.
"""
import os.path as osp
import runpy
import sys

import mmdet

import damex_mmdet  # noqa: F401  (registers modules and the config scope)
from damex_mmdet.apis.inference import CheckpointClassesError, check_config_matches_checkpoint
from damex_mmdet.utils.cpu_distributed import prepare_cpu_distributed
from damex_mmdet.utils.safe_checkpoint import trust_local_checkpoints


def _check_classes(argv):
    """Compare the checkpoint's classes with the config's (positional CONFIG CHECKPOINT)."""
    positional = [a for a in argv if not a.startswith('-')]
    if len(positional) < 2 or not osp.isfile(positional[0]) or not osp.isfile(positional[1]):
        return  # mmdet's script reports the usage error
    try:
        check_config_matches_checkpoint(positional[0], positional[1])
    except CheckpointClassesError as err:
        raise SystemExit(f'tools/test.py: {err}') from None


if __name__ == '__main__':
    if '--trust-checkpoint' in sys.argv:
        sys.argv.remove('--trust-checkpoint')
        trust_local_checkpoints()
    _check_classes(sys.argv[1:3])
    sys.argv = prepare_cpu_distributed(sys.argv)
    runpy.run_path(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'test.py'), run_name='__main__')
