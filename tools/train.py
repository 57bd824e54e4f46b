"""Train with mmdet's own tools/train.py after importing damex_mmdet.

Same arguments as mmdet's script (``python tools/train.py CONFIG [--work-dir
DIR] [--resume] [--cfg-options ...] [--launcher pytorch]``). Importing
damex_mmdet first registers its modules and lets configs inherit
``damex_mmdet::...`` bases. ``mim train mmdet CONFIG`` works as well for the
shipped configs.

Without CUDA, ``--launcher pytorch`` (torchrun, ``tools/dist_train.sh``)
opens a gloo process group first and wraps the model in DDP without device
ids (:mod:`damex_mmdet.utils.cpu_distributed`), so data-parallel training
also runs on CPU processes.

Checkpoints (``load_from``, ``--resume``) load with ``weights_only=True`` and
damex_mmdet's allow-list (:mod:`damex_mmdet.utils.safe_checkpoint`);
``--trust-checkpoint`` (ours, taken out before mmdet's script parses the rest)
loads files you trust fully.
"""
import os.path as osp
import runpy
import sys

import mmdet

import damex_mmdet  # noqa: F401  (registers modules and the config scope)
from damex_mmdet.utils.cpu_distributed import prepare_cpu_distributed
from damex_mmdet.utils.safe_checkpoint import trust_local_checkpoints

if __name__ == '__main__':
    if '--trust-checkpoint' in sys.argv:
        sys.argv.remove('--trust-checkpoint')
        trust_local_checkpoints()
    sys.argv = prepare_cpu_distributed(sys.argv)
    runpy.run_path(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py'), run_name='__main__')
