"""Each rank's final weights, for tests that compare ranks (mmengine saves rank 0's only)."""
import os
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

__all__ = ['DumpRankWeightsHook']


@HOOKS.register_module()
class DumpRankWeightsHook(Hook):
    """After training, every rank saves its model's state dict to ``out_dir/rank{r}.pth``.

    Args:
        out_dir (str): Folder for the files.
    """

    def __init__(self, out_dir: str):
        self.out_dir = out_dir

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        os.makedirs(self.out_dir, exist_ok=True)
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()},
                   osp.join(self.out_dir, f'rank{get_rank()}.pth'))
