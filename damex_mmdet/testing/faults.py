"""Fault injection for resume tests: a training process that kills itself at a chosen point.

Add ``dict(type='KillAtHook', iteration=i, phase=p)`` to a config's
``custom_hooks`` (with ``damex_mmdet.testing.faults`` in ``custom_imports``)
and the process (rank 0 of a distributed run) dies by ``SIGKILL`` - no
handler, no clean-up, as a preempted job - at one of these points of
iteration ``i`` (0-based):

- ``'before_step'``: the batch is loaded, the step has not started;
- ``'during_step'``: in the middle of the forward pass (the backbone has run);
- ``'after_step'``: the weights are updated, the iteration's checkpoint (if
  any) is not written yet;
- ``'during_write'``: while the iteration's checkpoint file is being written
  (half of its bytes are on disk).

:func:`draw_faults` picks such points with a seeded generator.
"""
import os
import random
import signal
from typing import List, Sequence, Tuple

from mmengine.dist import get_rank
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

__all__ = ['KillAtHook', 'PHASES', 'draw_faults']

PHASES = ('before_step', 'during_step', 'after_step', 'during_write')


def _die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def _half_write_then_die(self, obj, filepath):
    """``LocalBackend.put`` replacement: half of the bytes reach the disk, then the process dies."""
    with open(filepath, 'wb') as f:
        f.write(obj[:len(obj) // 2])
        f.flush()
        os.fsync(f.fileno())
    _die()


@HOOKS.register_module()
class KillAtHook(Hook):
    """Kill this process with ``SIGKILL`` at ``phase`` of iteration ``iteration``.

    Args:
        iteration (int): 0-based training iteration.
        phase (str): One of :data:`PHASES`.
        rank (int): Only this rank dies (torchrun then stops the others).
            Defaults to 0.
    """

    priority = 'HIGHEST'  # after_step runs before the checkpoint hook writes

    def __init__(self, iteration: int, phase: str, rank: int = 0):
        if phase not in PHASES:
            raise ValueError(f'KillAtHook phase={phase!r}; use one of {PHASES}.')
        self.iteration, self.phase, self.rank = int(iteration), phase, int(rank)

    def _armed(self, runner) -> bool:
        return runner.iter == self.iteration and get_rank() == self.rank

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if not self._armed(runner):
            return
        if self.phase == 'before_step':
            _die()
        elif self.phase == 'during_step':
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            model.backbone.register_forward_hook(_die)
        elif self.phase == 'during_write':
            LocalBackend.put = _half_write_then_die

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.phase == 'after_step' and self._armed(runner):
            _die()


def draw_faults(seed: int, count: int, max_iters: int,
                checkpoint_iters: Sequence[int]) -> List[Tuple[int, str]]:
    """Draw ``count`` kill points with a seeded generator, the phases taken in turn.

    Point ``k`` has phase ``PHASES[k % 4]`` (so 4 points cover every phase)
    and an iteration drawn uniformly among those where that phase can happen.

    Args:
        seed (int): Seed of the draw.
        count (int): Number of points.
        max_iters (int): Iterations of the run (kills happen in ``[0, max_iters)``).
        checkpoint_iters (Sequence[int]): 0-based iterations after which a
            checkpoint is written (the only ones where ``'during_write'`` can
            happen).

    Returns:
        list[tuple[int, str]]: (iteration, phase) pairs.
    """
    rng = random.Random(seed)
    points = []
    for k in range(count):
        phase = PHASES[k % len(PHASES)]
        choices = list(checkpoint_iters) if phase == 'during_write' else list(range(max_iters))
        points.append((rng.choice(choices), phase))
    return points
