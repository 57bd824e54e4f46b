"""torchrun on CPU: mmengine's ``pytorch`` launcher assumes CUDA, this opens gloo instead.

mmengine's ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` and its DDP
wrapper passes ``device_ids``; both fail without CUDA. Before mmdet's
train/test script runs, :func:`prepare_cpu_distributed` opens the process
group with gloo from torchrun's environment (mmengine then reuses it) and adds
the config options of a CPU DDP wrapper, so ``tools/dist_train.sh`` and
``tools/dist_test.sh`` also run on CPU processes (tests, laptops).
"""
from typing import List

import torch
import torch.distributed as dist

__all__ = ['CPU_DDP_OPTIONS', 'prepare_cpu_distributed']

# no wrapper type: mmengine defaults it to MMDistributedDataParallel and keeps a
# configured one (e.g. ExpertParallelDistributedDataParallel)
CPU_DDP_OPTIONS = ('model_wrapper_cfg.device_ids=None', 'model_wrapper_cfg.broadcast_buffers=False')


def prepare_cpu_distributed(argv: List[str]) -> List[str]:
    """Open a gloo group and add CPU DDP options when launched by torchrun without CUDA.

    Args:
        argv (list[str]): The script's command line (``sys.argv``).

    Returns:
        list[str]: The arguments for mmdet's script (unchanged with CUDA or
        without ``--launcher pytorch``).
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
