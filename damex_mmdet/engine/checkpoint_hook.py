"""Checkpoints that a run resumes from exactly: random state inside, written atomically.

:class:`ResumableCheckpointHook` is mmengine's ``CheckpointHook`` with two
changes (same arguments, same file names):

- **Random state.** Before every periodic or last save, all ranks gather a
  snapshot of their global generators
  (:func:`damex_mmdet.utils.random_state.capture_random_state`) and rank 0
  stores them in ``meta['damex_random_state']``. On ``--resume`` the
  snapshot goes to :class:`~damex_mmdet.engine.ResumableIterBasedTrainLoop`,
  which restores it once the data loader stands where the interrupted run
  stood, so the resumed run draws what the uninterrupted run drew.
- **Atomic writes.** A checkpoint is written to a hidden ``.NAME.partial``
  file, flushed to disk and renamed into place; ``last_checkpoint`` is
  replaced the same way and only ever names a complete file; outdated
  checkpoints (``max_keep_ckpts``) are removed only after the new one is in
  place. A kill at any moment leaves the previous checkpoint usable and
  ``--resume`` takes it. (mmengine removes the outdated file first and
  writes in place, so a kill during the write of ``iter_200.pth`` with
  ``max_keep_ckpts=1`` leaves no usable checkpoint at all.)

Atomicity needs a local ``out_dir``; with another storage backend the hook
warns and writes like mmengine.
"""
import os
import os.path as osp

from mmengine.dist import all_gather_object, get_rank, get_world_size, is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.runner import IterBasedTrainLoop
from mmdet.registry import HOOKS

from damex_mmdet.utils.random_state import capture_random_state, restore_random_state
from .train_loop import ResumableIterBasedTrainLoop

__all__ = ['ResumableCheckpointHook', 'RANDOM_STATE_META_KEY', 'atomic_write_text']

RANDOM_STATE_META_KEY = 'damex_random_state'
PARTIAL_SUFFIX = '.partial'


def _fsync_path(path: str) -> None:
    """Flush a file's (or a folder's) content to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str, text: str) -> None:
    """Replace ``path`` by ``text`` so that readers see the old or the new content, never a part.

    Args:
        path (str): Local file path.
        text (str): New content.
    """
    tmp = osp.join(osp.dirname(path), f'.{osp.basename(path)}{PARTIAL_SUFFIX}')
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_path(osp.dirname(path) or '.')


@HOOKS.register_module()
class ResumableCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with every rank's random state in each checkpoint, written atomically.

    Same arguments as mmengine's ``CheckpointHook``. See the module docstring.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # every rank's snapshot while one save is under way (rank 0 writes them)
        self._random_states = None
        # meta[RANDOM_STATE_META_KEY] of the last loaded checkpoint, until before_train
        self._loaded_random_state = None

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not isinstance(self.file_backend, LocalBackend):
            runner.logger.warning(
                f'ResumableCheckpointHook: out_dir {self.out_dir!r} is not on a local disk; '
                'checkpoints are written in place (a kill during a write can leave a partial '
                'file there).')
        stored, self._loaded_random_state = self._loaded_random_state, None
        if runner.iter == 0 and runner.epoch == 0:
            return  # a start (load_from or nothing loaded), not a continuation
        state = self._rank_state(runner, stored)
        if state is None:
            return
        if isinstance(runner.train_loop, ResumableIterBasedTrainLoop):
            # restored once the loop has brought the data loader to the resume point
            runner.train_loop.resume_random_state = state
            return
        restore_random_state(state)
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            runner.logger.warning(
                "mmengine's IterBasedTrainLoop replays the trained batches after this point, "
                'which moves the random state: the resumed run will not repeat the '
                "uninterrupted one bit for bit. Use train_cfg.type='ResumableIterBasedTrainLoop'.")

    @staticmethod
    def _rank_state(runner, stored):
        """This rank's snapshot in a checkpoint's ``meta`` entry, or None (with a warning)."""
        if stored is None:
            runner.logger.warning(
                'The checkpoint holds no random state (written by another checkpoint hook): '
                'the resumed run continues but will not repeat the uninterrupted one bit for '
                'bit.')
            return None
        world_size = get_world_size()
        if stored['world_size'] != world_size:
            runner.logger.warning(
                f"The checkpoint holds the random state of {stored['world_size']} ranks and "
                f'this run has {world_size}: it is not restored, the resumed run will not '
                'repeat the uninterrupted one bit for bit.')
            return None
        return stored['ranks'][get_rank()]

    # ------------------------------------------------------------------ save
    def _save_checkpoint_with_step(self, runner, step, meta):
        # collective: every rank takes part, rank 0 writes
        states = [capture_random_state()]
        if get_world_size() > 1:
            states = all_gather_object(states[0])
        self._random_states = states
        try:
            if isinstance(self.file_backend, LocalBackend):
                self._save_atomically(runner, step, meta)
            else:
                super()._save_checkpoint_with_step(runner, step, meta)
        finally:
            self._random_states = None

    def _save_atomically(self, runner, step, meta):
        """mmengine's bookkeeping, with a write-then-rename and removal after the write."""
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        partial = f'.{filename}{PARTIAL_SUFFIX}'
        runner.save_checkpoint(self.out_dir, partial, self.file_client_args,
                               save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta,
                               by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        partial_path = self.file_backend.join_path(self.out_dir, partial)
        _fsync_path(partial_path)
        os.replace(partial_path, self.last_ckpt)
        _fsync_path(self.out_dir)
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old in outdated:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
            if old != step and self.file_backend.isfile(path):
                self.file_backend.remove(path)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Rank 0: put every rank's random-state snapshot into ``meta``."""
        if self._random_states is not None:
            checkpoint.setdefault('meta', {})[RANDOM_STATE_META_KEY] = dict(
                world_size=len(self._random_states), ranks=self._random_states)

    # ------------------------------------------------------------------ load
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the stored snapshots for :meth:`before_train` (used only when resuming)."""
        self._loaded_random_state = checkpoint.get('meta', {}).get(RANDOM_STATE_META_KEY)
