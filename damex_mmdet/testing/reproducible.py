"""Short, reproducible training runs of the built-in-data configs (tests and checks).

A resumed run repeats an uninterrupted one by itself (the shipped configs'
``ResumableIterBasedTrainLoop`` and ``ResumableCheckpointHook``). Two runs
of *different process layouts* (expert vs data parallel) draw different
random numbers by construction: rank-local model code draws in another
order. :class:`ReseedEachIterHook` seeds torch, ``random`` and NumPy from
the iteration index, so such runs compare iteration by iteration; it is a
test device for that comparison only, never part of a shipped config.
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
                    checkpoint_interval: int, batch_size: int = 2, num_workers: int = 0,
                    reseed_each_iter: bool = False) -> Config:
    """A built-in-data config (``*_damex-default.py``) cut down to a few iterations at seed 0.

    Data is read from ``data_root/<dataset>/`` (see
    :func:`damex_mmdet.datasets.synthetic.generate_default_benchmark`) by
    ``num_workers`` loader processes (0: the main process), without
    validation. Everything else, the train loop and the checkpoint hook
    included, is the shipped config's.

    Args:
        reseed_each_iter (bool): Add :class:`ReseedEachIterHook` (runs of
            different process layouts only). Defaults to False.

    Returns:
        Config: ready for ``Runner.from_cfg`` or to be dumped for ``tools/train.py``.
    """
    cfg = Config.fromfile(config)
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        loader.num_workers, loader.persistent_workers = num_workers, num_workers > 0
        for name, dataset in loader.dataset.datasets.items():
            dataset.data_root = osp.join(data_root, name) + '/'
    cfg.train_dataloader.batch_size = batch_size
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_cfg.max_iters = max_iters
    cfg.default_hooks.checkpoint.interval = checkpoint_interval
    cfg.default_hooks.logger.interval = 1
    cfg.custom_imports = dict(imports=['damex_mmdet', 'damex_mmdet.testing.reproducible',
                                       'damex_mmdet.testing.faults'],
                              allow_failed_imports=False)
    if reseed_each_iter:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='ReseedEachIterHook')]
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0)
    return cfg
