"""Training seconds of a run that survive an interruption: kept in every checkpoint."""
import time
from typing import Optional

from mmengine.hooks import Hook
from mmdet.registry import HOOKS

__all__ = ['TRAIN_SECONDS_META_KEY', 'TrainingClockHook']

#: ``checkpoint['meta']`` entry: training seconds spent on the iterations the checkpoint holds.
TRAIN_SECONDS_META_KEY = 'damex_train_seconds'


@HOOKS.register_module()
class TrainingClockHook(Hook):
    """Count the wall seconds of training across resumes.

    Every checkpoint stores the seconds spent training up to it (this process's
    seconds since ``before_train`` plus those stored in the checkpoint it
    resumed from). A resumed run then reports the time of the whole run, not of
    its last part. Seconds spent on iterations after the last checkpoint of an
    interrupted process are not counted: those iterations are trained again,
    and counted, by the resumed process.

    A run that starts from ``load_from`` without resuming (a fine-tuning start)
    counts from 0. A run resumed from a checkpoint written without this hook
    has an unknown earlier part: :attr:`complete` is False and :meth:`seconds`
    counts this process only.

    Changes no result: it reads the clock and writes one ``meta`` entry.
    """

    priority = 'VERY_LOW'

    def __init__(self):
        self._loaded: Optional[float] = None  # meta entry of the last loaded checkpoint
        self._before = 0.0  # seconds stored in the checkpoint this run resumed from
        self._start: Optional[float] = None  # perf_counter() at before_train
        self._stop: Optional[float] = None  # perf_counter() at after_train
        self.complete = True  # False when resumed from a checkpoint without the entry
        self.resumed = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the stored seconds for :meth:`before_train` (used only when resuming)."""
        self._loaded = checkpoint.get('meta', {}).get(TRAIN_SECONDS_META_KEY)

    def before_train(self, runner) -> None:
        self.resumed = runner.iter > 0 or runner.epoch > 0  # a start has iteration 0
        stored, self._loaded = self._loaded, None
        if self.resumed and stored is None:
            self.complete = False
            runner.logger.warning(
                'TrainingClockHook: the resumed checkpoint does not store the seconds spent '
                'before it; the run\'s training time counts this process only.')
        self._before = float(stored) if self.resumed and stored is not None else 0.0
        self._start, self._stop = time.perf_counter(), None

    def after_train(self, runner) -> None:
        self._stop = time.perf_counter()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._start is not None:  # a checkpoint saved while training
            checkpoint.setdefault('meta', {})[TRAIN_SECONDS_META_KEY] = self.seconds()

    def seconds(self) -> float:
        """Training seconds up to now (or to the end of training) over all processes."""
        if self._start is None:
            raise RuntimeError('TrainingClockHook.seconds() needs a run that has started '
                               'training (before_train not called).')
        end = self._stop if self._stop is not None else time.perf_counter()
        return self._before + (end - self._start)

    def seconds_this_process(self) -> float:
        """Training seconds of this process alone."""
        return self.seconds() - self._before
