"""Short, reproducible training runs of the built-in-data configs (tests and checks).

Two runs that should follow the same trajectory (resumed vs uninterrupted,
expert vs data parallel) must also draw the same random numbers: DINO's
denoising queries and the gate noise come from torch's global generator and
data augmentation from ``random`` / ``numpy``. :class:`ReseedEachIterHook`
seeds all three from the iteration index, so runs compare iteration by
iteration whatever they drew before (model init, another process layout).
"""
import os.path as osp
import random

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.config import Config
from mmengine.hooks import Hook

__all__ = ['ReseedEachIterHook', 'short_train_cfg']


@HOOKS.register_module()
class ReseedEachIterHook(Hook):
    """Seed torch, ``random`` and numpy from the iteration index before each step.

    Args:
        seed (int): torch gets ``seed + iter``; ``random`` and numpy ``iter``.
    """

    def __init__(self, seed: int = 1000):
        self.seed = seed

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        torch.manual_seed(self.seed + runner.iter)
        random.seed(runner.iter)
        np.random.seed(runner.iter)


def short_train_cfg(config: str, data_root: str, work_dir: str, max_iters: int,
                    checkpoint_interval: int, batch_size: int = 2) -> Config:
    """A built-in-data config (``*_damex-default.py``) cut down to a few reproducible iterations.

    Data is read from ``data_root/<dataset>/`` (see
    :func:`damex_mmdet.datasets.synthetic.generate_default_benchmark`), in the
    main process, without validation; :class:`ReseedEachIterHook` is added.

    Returns:
        Config: ready for ``Runner.from_cfg`` or to be dumped for ``tools/train.py``.
    """
    cfg = Config.fromfile(config)
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        loader.num_workers, loader.persistent_workers = 0, False
        for name, dataset in loader.dataset.datasets.items():
            dataset.data_root = osp.join(data_root, name) + '/'
    cfg.train_dataloader.batch_size = batch_size
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_cfg.max_iters = max_iters
    cfg.default_hooks.checkpoint.interval = checkpoint_interval
    cfg.default_hooks.logger.interval = 1
    cfg.custom_imports = dict(imports=['damex_mmdet', 'damex_mmdet.testing.reproducible'],
                              allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='ReseedEachIterHook')]
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0)
    return cfg
