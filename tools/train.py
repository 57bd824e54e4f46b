"""Train with mmdet's own tools/train.py after importing damex_mmdet.

Same arguments as mmdet's script (``python tools/train.py CONFIG [--work-dir
DIR] [--resume] [--cfg-options ...] [--launcher pytorch]``). Importing
damex_mmdet first registers its modules and lets configs inherit
``damex_mmdet::...`` bases. ``mim train mmdet CONFIG`` works as well for the
shipped configs.

mmengine's ``pytorch`` launcher assumes CUDA (``torch.cuda.set_device`` and
DDP with ``device_ids``). Without CUDA, ``--launcher pytorch`` (torchrun)
here opens a gloo process group from torchrun's environment first (mmengine
reuses it) and wraps the model in DDP without device ids, so data-parallel
training also runs on CPU processes.

Checkpoints (``load_from``, ``--resume``) load with ``weights_only=True`` and
damex_mmdet's allow-list (:mod:`damex_mmdet.utils.safe_checkpoint`);
``--trust-checkpoint`` (ours, taken out before mmdet's script parses the rest)
loads files you trust fully.
"""
import os.path as osp
import runpy
import sys

import mmdet
import torch
import torch.distributed as dist

import damex_mmdet  # noqa: F401  (registers modules and the config scope)
from damex_mmdet.utils.safe_checkpoint import trust_local_checkpoints

# no wrapper type: mmengine defaults it to MMDistributedDataParallel and keeps a
# configured one (e.g. ExpertParallelDistributedDataParallel)
CPU_DDP_OPTIONS = ('model_wrapper_cfg.device_ids=None', 'model_wrapper_cfg.broadcast_buffers=False')


def prepare_cpu_distributed(argv):
    """Open a gloo group and add CPU DDP options when launched by torchrun without CUDA.

    Returns:
        list[str]: the arguments for mmdet's script.
    """
    launcher = argv[argv.index('--launcher') + 1] if '--launcher' in argv else 'none'
    if launcher != 'pytorch' or torch.cuda.is_available():
        return argv
    if not dist.is_initialized():
        dist.init_process_group('gloo')  # RANK, WORLD_SIZE, MASTER_* set by torchrun
    argv = list(argv)
    if '--cfg-options' in argv:  # a second --cfg-options would replace the user's
        at = argv.index('--cfg-options') + 1
        argv[at:at] = CPU_DDP_OPTIONS
    else:
        argv += ['--cfg-options', *CPU_DDP_OPTIONS]
    return argv


if __name__ == '__main__':
    if '--trust-checkpoint' in sys.argv:
        sys.argv.remove('--trust-checkpoint')
        trust_local_checkpoints()
    sys.argv = prepare_cpu_distributed(sys.argv)
    runpy.run_path(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py'), run_name='__main__')
