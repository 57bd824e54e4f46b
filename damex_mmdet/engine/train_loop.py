"""An iteration-based train loop whose resumed runs repeat uninterrupted ones bit for bit.

mmengine's ``IterBasedTrainLoop`` continues a resumed run by loading every
trained batch again ("replay") and then training on, with whatever random
state the process has at that point. :class:`ResumableIterBasedTrainLoop`
is the same loop (same arguments, same draws in an uninterrupted run) with:

- **the random state restored at the resume point**: once the data loader
  stands where the interrupted run stood, the snapshot that
  :class:`~damex_mmdet.engine.ResumableCheckpointHook` stored in the
  checkpoint is put back (torch, CUDA, NumPy, ``random``; per rank);
- **two ways to reach the resume point**, ``resume_data``:
  ``'replay'`` (default) loads the trained batches again like mmengine, so
  the data workers' augmentation streams advance as they did; ``'skip'``
  moves the sampler to the resume position without loading a single image
  of the skipped batches. Skipping is exact only when augmentation does not
  depend on the workers' history, i.e. with per-sample seeds
  (``MultiDatasetSampler(per_sample_seeds=True)``), which changes what a run
  draws and is therefore a switch for new runs; the loop refuses ``'skip'``
  otherwise;
- **validation leaves no trace** on the training random state (its data
  loader draws a seed from torch's generator): a run's trajectory does not
  depend on ``val_interval``, and a run resumed from a checkpoint written
  just before a validation repeats the uninterrupted one;
- finite epochs without mmengine's per-epoch warning "Reach the end of the
  dataloader": ``MultiDatasetSampler`` is epoch-based by design (a dataset
  is walked through across epochs), the loop starts the next epoch exactly
  as mmengine does (``sampler.set_epoch``, a new iterator).
"""
import time

from mmengine.runner import IterBasedTrainLoop
from torch.utils.data import BatchSampler
from mmdet.registry import LOOPS

from damex_mmdet.datasets.samplers import MultiDatasetSampler
from damex_mmdet.utils.random_state import preserved_random_state, restore_random_state

__all__ = ['ResumableIterBasedTrainLoop', 'EpochDataIterator']

_RESUME_DATA = ('replay', 'skip')


def _epoch_sampler(dataloader):
    """The sampler whose ``set_epoch`` mmengine calls: the loader's, else its batch sampler's.

    (A loader built with a ``batch_sampler`` holds a default sequential
    sampler of its own.) None when neither has ``set_epoch``.
    """
    for sampler in (dataloader.sampler, getattr(dataloader.batch_sampler, 'sampler', None)):
        if hasattr(sampler, 'set_epoch'):  # the sampler protocol mmengine's loops use
            return sampler
    return None


class EpochDataIterator:
    """Endless iteration over the finite epochs of a data loader, able to jump ahead.

    Args:
        dataloader (DataLoader): The training data loader; its sampler's
            ``set_epoch`` is called at each new epoch.
        iterator (Iterator, optional): An iterator of ``dataloader`` already
            started (its creation drew the loader's base seed from torch's
            generator at a point of the run that must not move). Defaults to
            a new one.
    """

    def __init__(self, dataloader, iterator=None):
        self._dataloader = dataloader
        self._iterator = iter(dataloader) if iterator is None else iterator
        self.epoch = 0

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._iterator)
        except StopIteration:
            self._start_epoch(self.epoch + 1)
            return next(self._iterator)

    def _start_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        sampler = _epoch_sampler(self._dataloader)
        if sampler is not None:
            sampler.set_epoch(epoch)
        time.sleep(2)  # as mmengine: lets persistent workers settle between epochs
        self._iterator = iter(self._dataloader)

    def skip(self, num_batches: int) -> None:
        """Stand after ``num_batches`` batches of the run without loading them.

        Args:
            num_batches (int): Batches already trained (epochs included).
        """
        per_epoch = len(self._dataloader)
        epoch, offset = divmod(int(num_batches), per_epoch)
        self.epoch = epoch
        sampler = self._dataloader.sampler
        sampler.set_epoch(epoch)
        sampler.skip(offset * self._dataloader.batch_size)
        self._iterator = iter(self._dataloader)


def check_skippable(dataloader) -> None:
    """Refuse ``resume_data='skip'`` for a data loader that cannot skip exactly.

    Raises:
        ValueError: naming the sampler / batch sampler and the fix.
    """
    if type(dataloader.batch_sampler) is not BatchSampler:
        raise ValueError(
            "train_cfg.resume_data='skip' counts batches of a plain batch sampler; "
            f'train_dataloader.batch_sampler is {type(dataloader.batch_sampler).__name__}, '
            "whose batches do not follow the sampler's order. Remove batch_sampler or use "
            "resume_data='replay'.")
    sampler = dataloader.sampler
    if not isinstance(sampler, MultiDatasetSampler) or not sampler.per_sample_seeds:
        raise ValueError(
            "train_cfg.resume_data='skip' needs train_dataloader.sampler="
            "dict(type='MultiDatasetSampler', per_sample_seeds=True, ...), got "
            f'{type(sampler).__name__}'
            + (' without per_sample_seeds' if isinstance(sampler, MultiDatasetSampler) else '')
            + ": without per-sample augmentation seeds the skipped batches would leave the "
            "data workers' random state behind the uninterrupted run's. Use "
            "resume_data='replay' (the default) otherwise.")


@LOOPS.register_module()
class ResumableIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` that resumes exactly (see the module docstring).

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): Training data loader or its config.
        max_iters (int): Total training iterations.
        val_begin (int): First iteration that may validate. Defaults to 1.
        val_interval (int): Validate every this many iterations. Defaults
            to 1000.
        dynamic_intervals (list[tuple[int, int]], optional): (milestone,
            interval) pairs, as mmengine's. Defaults to None.
        resume_data (str): How a resumed run reaches its position in the
            data: ``'replay'`` (load the trained batches again; exact with
            any sampler) or ``'skip'`` (no image of a skipped batch is
            loaded; needs ``MultiDatasetSampler(per_sample_seeds=True)``).
            Defaults to ``'replay'``.
    """

    def __init__(self, runner, dataloader, max_iters: int, val_begin: int = 1,
                 val_interval: int = 1000, dynamic_intervals=None,
                 resume_data: str = 'replay') -> None:
        if resume_data not in _RESUME_DATA:
            raise ValueError(f'train_cfg.resume_data={resume_data!r}; use one of {_RESUME_DATA}.')
        super().__init__(runner, dataloader, max_iters, val_begin=val_begin,
                         val_interval=val_interval, dynamic_intervals=dynamic_intervals)
        if resume_data == 'skip':
            check_skippable(self.dataloader)
        self.resume_data = resume_data
        # this rank's random-state snapshot of the checkpoint resumed from
        # (set by ResumableCheckpointHook), restored at the resume point
        self.resume_random_state = None
        # mmengine's iterator, started in super().__init__ at the point of the
        # run where an uninterrupted run starts it, continues here
        self.dataloader_iterator = EpochDataIterator(self.dataloader,
                                                     self.dataloader_iterator._iterator)

    def run(self):
        """Train from the current iteration to ``max_iters``."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        if self._iter > 0:
            start = time.time()
            if self.resume_data == 'skip':
                self.dataloader_iterator.skip(self._iter)
            else:
                for _ in range(self._iter):
                    next(self.dataloader_iterator)
            self.runner.logger.info(
                f'resume: data loader at iteration {self._iter} by {self.resume_data} '
                f'({time.time() - start:.1f} s)')
        if self.resume_random_state is not None:
            restore_random_state(self.resume_random_state)
            self.resume_random_state = None
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            data_batch = next(self.dataloader_iterator)
            self.run_iter(data_batch)
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
                with preserved_random_state():
                    self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model
