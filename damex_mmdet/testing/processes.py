"""Run a function on W CPU processes joined in one gloo group (distributed tests)."""
import os.path as osp
from typing import Callable, List

import torch
import torch.multiprocessing as mp

__all__ = ['spawn_ranks']


def spawn_ranks(worker: Callable, tmp_dir: str, world_size: int) -> List[dict]:
    """Spawn ``worker(rank, init_file, out_dir)`` on ``world_size`` processes.

    The worker opens its process group with ``init_method=f'file://{init_file}'``
    and saves its results to ``f'{out_dir}/rank{rank}.pth'``.

    Args:
        worker (callable): a module-level function (it is pickled).
        tmp_dir (str): an empty directory for the rendezvous file and results.
        world_size (int): number of processes.

    Returns:
        list[dict]: what each rank saved, in rank order.
    """
    mp.spawn(worker, args=(osp.join(tmp_dir, 'init'), tmp_dir), nprocs=world_size, join=True)
    return [
        torch.load(osp.join(tmp_dir, f'rank{rank}.pth'), weights_only=False)
        for rank in range(world_size)
    ]
