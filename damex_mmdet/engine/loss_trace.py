"""Per-iteration training losses, exactly as computed, for step-by-step comparisons of runs."""
import json
import os.path as osp
from typing import Dict, List, Optional

from mmengine.hooks import Hook
from mmdet.registry import HOOKS

__all__ = ['LossTraceHook', 'load_loss_trace']


@HOOKS.register_module()
class LossTraceHook(Hook):
    """Record every training iteration's losses and write them as JSON after training.

    The logger averages losses over its interval and prints four decimals;
    deciding whether two runs computed the same thing (say, one-expert DAMEX
    and dense DINO from matched starts) needs each iteration's value at full
    precision. Values are the ``log_vars`` of the training step (``loss`` and
    every term), as Python floats, written with ``repr`` precision (a float32
    loss round-trips exactly).

    Args:
        keys (list[str], optional): log keys to keep; None keeps every scalar.
        filename (str): written under the runner's ``work_dir``. Default
            ``loss_trace.json``: ``{"iters": [1, 2, ...], "losses": {key: [...]}}``.
    """

    priority = 'LOWEST'

    def __init__(self, keys: Optional[List[str]] = None, filename: str = 'loss_trace.json'):
        self.keys = None if keys is None else list(keys)
        self.filename = filename
        self.iters: List[int] = []
        self.losses: Dict[str, List[float]] = {}

    def before_train(self, runner) -> None:
        self.iters, self.losses = [], {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not outputs:
            return
        keys = self.keys if self.keys is not None else sorted(outputs)
        missing = [k for k in keys if k not in outputs]
        if missing:
            raise KeyError(f'LossTraceHook: the training step logged no {missing} (it logged '
                           f'{sorted(outputs)}); fix keys=... in the hook config.')
        self.iters.append(runner.iter + 1)
        for key in keys:
            value = outputs[key]
            value = float(value.item() if hasattr(value, 'item') else value)
            self.losses.setdefault(key, []).append(value)

    def after_train(self, runner) -> None:
        path = osp.join(runner.work_dir, self.filename)
        with open(path, 'w') as f:
            json.dump(dict(iters=self.iters, losses=self.losses), f)
        runner.logger.info(f'per-iteration losses of {len(self.iters)} iterations: {path}')


def load_loss_trace(path: str) -> Dict[str, List[float]]:
    """``{key: [value per iteration]}`` from a :class:`LossTraceHook` file.

    Raises:
        ValueError: the file is not a loss trace (names the file and what is missing).
    """
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict) or 'losses' not in data or 'iters' not in data:
        raise ValueError(f'{path} is not a loss trace of LossTraceHook (expected the keys '
                         '"iters" and "losses").')
    iters = data['iters']
    for key, values in data['losses'].items():
        if len(values) != len(iters):
            raise ValueError(f'{path}: "{key}" has {len(values)} values for {len(iters)} '
                             'iterations.')
    return data['losses']
