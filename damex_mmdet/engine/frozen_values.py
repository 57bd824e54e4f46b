"""Training that leaves chosen values of a model bit for bit as they were.

Frozen mode of adding a dataset: only the new expert, the new router row and
the new class rows train. A zero gradient is not enough (AdamW's weight decay
and a momentum from before still move a parameter), so
:class:`KeepTrainedValuesHook`:

- turns off ``requires_grad`` of every parameter with nothing trainable in it
  (no gradient: torch's optimizers, AdamW's decay included, skip it);
- zeroes the gradient of the frozen rows of partly trainable tensors as it
  is computed, so gradient clipping's norm and the optimizer's moments see
  only what trains;
- before training, snapshots what can still move: the buffers (BatchNorm
  statistics are values too) and the frozen rows of partly trainable tensors;
- after every iteration, writes that snapshot back, so the optimizer's update
  of the trained rows' neighbours (weight decay on a whole tensor) is undone
  exactly.

What may train is given per state key as the first trainable row along the
first axis (the rows appended by growing, see
:func:`~damex_mmdet.models.grow.grow_state_dict`).
"""
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

__all__ = ['KeepTrainedValuesHook']


def _zero_rows_before(row: int):
    """A gradient hook that zeroes rows ``[0, row)`` of the gradient."""

    def hook(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        grad[:row] = 0
        return grad

    return hook


@HOOKS.register_module()
class KeepTrainedValuesHook(Hook):
    """Keep every value of the model except ``trainable_rows`` bit for bit.

    Args:
        trainable_rows (dict): state key -> first trainable row (rows from it
            on may train; 0: the whole tensor). Keys not listed are frozen.

    Raises:
        ValueError: a key that is not in the model's state, or a row out of range.
    """

    # after the optimizer step (inside train_step), before every hook that reads the
    # model after an iteration (the checkpoint hook, EMA)
    priority = 'VERY_HIGH'

    def __init__(self, trainable_rows: Dict[str, int]):
        self.trainable_rows = {str(k): int(v) for k, v in trainable_rows.items()}
        self._snapshot: Optional[Dict[str, torch.Tensor]] = None

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        model = self._model(runner)
        state = model.state_dict(keep_vars=True)
        unknown = sorted(set(self.trainable_rows) - set(state))
        if unknown:
            raise ValueError(f'KeepTrainedValuesHook: trainable_rows names {unknown[:5]}, which '
                             f'are not in the state of {type(model).__name__}.')
        for key, row in self.trainable_rows.items():
            rows = state[key].shape[0] if state[key].dim() else 1
            if not 0 <= row < rows:
                raise ValueError(f'KeepTrainedValuesHook: {key} has {rows} rows; its first '
                                 f'trainable row {row} leaves none to train.')
        for name, param in model.named_parameters():
            row = self.trainable_rows.get(name)
            if row is None:
                param.requires_grad_(False)
            elif row:
                param.register_hook(_zero_rows_before(row))
        buffers = {name for name, _ in model.named_buffers()}
        # key -> (rows to restore, their saved values); rows None: the whole tensor
        self._snapshot = {}
        for key, value in state.items():
            row = self.trainable_rows.get(key)
            if key in buffers and row is None:
                self._snapshot[key] = (None, value.detach().clone())
            elif row:
                self._snapshot[key] = (row, value.detach()[:row].clone())

    @torch.no_grad()
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        state = self._model(runner).state_dict(keep_vars=True)
        for key, (row, saved) in self._snapshot.items():
            if row is None:
                state[key].data.copy_(saved)
            else:
                state[key].data[:row] = saved
