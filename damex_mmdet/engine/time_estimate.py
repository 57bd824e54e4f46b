"""How long a training run takes on this machine, estimated from its first iterations."""
import time

from mmengine.hooks import Hook
from mmdet.registry import HOOKS

__all__ = ['TimeEstimateHook']


@HOOKS.register_module()
class TimeEstimateHook(Hook):
    """Log once, early, the measured seconds per iteration and the training time left.

    mmengine's logger prints an ETA every ``logger.interval`` iterations (50
    in the tiny configs, half a minute in); this hook says it after a few
    iterations, skipping the first ones (start-up, first allocations).

    Args:
        skip (int): Iterations not timed. Defaults to 2.
        measure (int): Iterations timed after those. Defaults to 5.
    """

    priority = 'VERY_LOW'

    def __init__(self, skip: int = 2, measure: int = 5):
        if skip < 0 or measure < 1:
            raise ValueError(f'TimeEstimateHook needs skip >= 0 and measure >= 1, got skip={skip}, '
                             f'measure={measure}.')
        self.skip, self.measure = skip, measure
        self._start = None
        self._first = None  # first timed iteration (a resumed run starts later)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self._first is None:
            self._first = runner.iter + self.skip
        if runner.iter == self._first:
            self._start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._start is None or runner.iter != self._first + self.measure - 1:
            return
        per_iter = (time.perf_counter() - self._start) / self.measure
        left = runner.max_iters - runner.iter - 1
        runner.logger.info(
            f'time estimate: {per_iter:.2f} s per iteration over iterations '
            f'{self._first + 1}-{runner.iter + 1} on this machine: about '
            f'{left * per_iter / 60:.1f} min for the remaining {left} of {runner.max_iters} '
            'training iterations.')
        self._start = None
