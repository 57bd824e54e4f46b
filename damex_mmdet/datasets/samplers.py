"""Dataset-aware sampler: per-dataset sampling ratios over finite epochs.

One epoch is a global sequence of ``total_size`` indices into a
:class:`~damex_mmdet.datasets.MultiDataset`; rank ``r`` of ``W`` reads the
positions ``r, r + W, r + 2W, ...`` of it, so ranks are disjoint and together
cover the epoch. The sequence is a pure function of ``(seed, epoch)``:

1. Dataset ``d`` (``n_d`` samples) gets probability ``p_d`` from ``mode``:
   ``natural`` ``p_d ~ n_d``, ``uniform`` ``p_d = 1 / D``, ``temperature``
   ``p_d ~ n_d ** temperature``, ``weights`` ``p_d ~ w_d`` given by name (0
   leaves a dataset out of the samples while its classes stay in the label
   space: training on a new dataset, or replaying old ones at a stated ratio).
2. Its quota ``q_d`` of the epoch is ``total_size * p_d`` rounded by largest
   remainders (the quotas sum to ``total_size`` exactly).
3. Each dataset has an endless stream of its local indices made of
   successive permutations (cycle ``c`` is seeded by ``(seed, d, c)``);
   epoch ``e`` takes stream positions ``[e * q_d, (e + 1) * q_d)``. Samples
   are thus drawn without replacement until the dataset is exhausted, then
   reshuffled, and a large dataset is walked through across epochs instead of
   restarting at every epoch. In ``natural`` mode ``q_d = n_d``: every sample
   appears exactly once per epoch.
4. The ``D`` streams are interleaved by a random permutation of the quota
   multiset, seeded by ``(seed, epoch)``.

Per-sample seeds (``per_sample_seeds=True``, off by default): every index
comes as a :class:`SeededIndex` carrying a seed derived from ``(seed,
epoch, position in the epoch)``, and ``MultiDataset`` runs that sample's
pipeline under it. Augmentation then depends neither on the number of data
workers nor on what a worker loaded before, which makes :meth:`skip` (resume
without loading the trained batches) exact. It changes what a run draws
compared with worker-seeded augmentation, so it is a switch for new runs.

With ``shuffle=False`` the streams are ``0, 1, ..., n_d - 1`` repeated and
the datasets follow each other in dataset-id (sorted name) order (``natural``
mode then yields
``0 .. len(dataset) - 1``).
"""
import math
from typing import Iterator, Mapping, Optional, Sequence

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from damex_mmdet.utils.random_state import derive_seed

from mmdet.registry import DATA_SAMPLERS

__all__ = ['MultiDatasetSampler', 'SeededIndex', 'dataset_probabilities', 'split_quotas']

_MODES = ('natural', 'uniform', 'temperature', 'weights')


def dataset_probabilities(sizes: Sequence[int],
                          mode: str,
                          temperature: float = 0.5,
                          weights: Optional[Sequence[float]] = None) -> np.ndarray:
    """Probability of drawing from each dataset.

    Args:
        sizes (Sequence[int]): Number of samples ``n_d`` per dataset, (D, ).
        mode (str): ``'natural'``, ``'uniform'``, ``'temperature'`` or ``'weights'``.
        temperature (float): Exponent ``alpha`` of ``p_d ~ n_d ** alpha`` in
            ``'temperature'`` mode (1 is ``natural``, 0 is ``uniform``; it is
            ``1 / T`` in the ``p ~ n ** (1 / T)`` notation).
        weights (Sequence[float], optional): (D,) ``w_d >= 0`` of ``'weights'``
            mode, at least one positive.

    Returns:
        np.ndarray: Probabilities, shape (D, ), summing to 1.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    if mode == 'weights':
        values = np.asarray(weights, dtype=np.float64)
        if values.shape != sizes.shape or (values < 0).any() or not values.sum() > 0:
            raise ValueError(f'MultiDatasetSampler weights {values.tolist()}: give one weight '
                             f'>= 0 per dataset ({sizes.size}), at least one positive.')
        return values / values.sum()
    if mode == 'natural':
        weights = sizes
    elif mode == 'uniform':
        weights = np.ones_like(sizes)
    elif mode == 'temperature':
        weights = sizes**temperature
    else:
        raise ValueError(f'MultiDatasetSampler got mode={mode!r}; use one of '
                         f'{_MODES}.')
    return weights / weights.sum()


def split_quotas(total: int, probs: np.ndarray) -> np.ndarray:
    """Split ``total`` draws by ``probs`` with largest-remainder rounding.

    Args:
        total (int): Number of draws to split.
        probs (np.ndarray): Probabilities, shape (D, ).

    Returns:
        np.ndarray: int64 quotas, shape (D, ), summing to ``total``; ties in
        the remainders go to the earlier dataset.
    """
    exact = total * np.asarray(probs, dtype=np.float64)
    quotas = np.floor(exact).astype(np.int64)
    missing = total - int(quotas.sum())
    if missing > 0:
        order = np.argsort(-(exact - quotas), kind='stable')
        quotas[order[:missing]] += 1
    return quotas


class SeededIndex(int):
    """A dataset index that carries the seed of its sample's augmentation.

    Behaves as the plain ``int`` index everywhere; ``MultiDataset`` runs the
    sample's pipeline under :func:`~damex_mmdet.utils.random_state.seeded_random_state`
    of ``seed``.

    Args:
        index (int): Global index into the dataset.
        seed (int): Seed in ``[0, 2**32)``.
    """

    def __new__(cls, index: int, seed: int):
        obj = super().__new__(cls, index)
        obj.seed = int(seed)
        return obj

    def __getnewargs__(self):  # pickled to the data workers with its seed
        return int(self), self.seed

    def __repr__(self) -> str:
        return f'SeededIndex({int(self)}, seed={self.seed})'


@DATA_SAMPLERS.register_module()
class MultiDatasetSampler(Sampler):
    """Sampler with per-dataset ratios for a ``MultiDataset``.

    Works with mmdet's ``AspectRatioBatchSampler`` (it reads
    ``sampler.dataset``) and with mmengine's epoch- and iteration-based train
    loops (both call :meth:`set_epoch` when an epoch ends). See the module
    docstring for how an epoch is drawn.

    Args:
        dataset (MultiDataset): Dataset exposing ``dataset_sizes`` (samples
            per source dataset, dataset-id order) and ``cumulative_sizes``.
        mode (str): ``'natural'`` (``p_d ~ n_d``), ``'uniform'``
            (``p_d = 1 / D``) or ``'temperature'`` (``p_d ~ n_d **
            temperature``). Defaults to ``'natural'``.
        temperature (float): Exponent used by ``'temperature'`` mode, >= 0.
            Defaults to 0.5.
        shuffle (bool): Shuffle inside datasets and interleave them randomly.
            Defaults to True.
        seed (int, optional): Seed shared by all ranks. ``None`` draws one on
            rank 0 and broadcasts it. Defaults to None.
        num_samples_per_epoch (int, optional): Samples per epoch over all
            ranks. Defaults to ``len(dataset)``.
        round_up (bool): Round the epoch up to a multiple of the world size
            (extra samples continue the streams, so ranks stay disjoint) so
            every rank gets the same length. With False the last ranks get
            one sample less when the epoch is not divisible. Defaults to True.
        rank (int, optional): Rank of this process; from
            ``mmengine.dist.get_dist_info`` when None.
        world_size (int, optional): Number of ranks; from
            ``mmengine.dist.get_dist_info`` when None.
        per_sample_seeds (bool): Yield :class:`SeededIndex` indices whose
            seed is a function of ``(seed, epoch, position)``, so that each
            sample's augmentation is too (see the module docstring).
            Defaults to False (augmentation seeded per data worker, as
            mmengine does).
        weights (Mapping[str, float], optional): ``'weights'`` mode: dataset
            name -> relative weight (>= 0) for every dataset of the
            ``MultiDataset``. Defaults to None.
    """

    def __init__(self,
                 dataset,
                 mode: str = 'natural',
                 temperature: float = 0.5,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 num_samples_per_epoch: Optional[int] = None,
                 round_up: bool = True,
                 rank: Optional[int] = None,
                 world_size: Optional[int] = None,
                 per_sample_seeds: bool = False,
                 weights: Optional[Mapping[str, float]] = None) -> None:
        if mode not in _MODES:
            raise ValueError(f'MultiDatasetSampler got mode={mode!r}; use one '
                             f'of {_MODES}.')
        if not temperature >= 0:
            raise ValueError('MultiDatasetSampler needs temperature >= 0 (the '
                             f'exponent of p ~ n ** temperature), got '
                             f'{temperature}.')
        if not hasattr(dataset, 'dataset_sizes'):
            raise TypeError(
                'MultiDatasetSampler samples a MultiDataset (it needs '
                f'`dataset_sizes`), got {type(dataset).__name__}; wrap the '
                "datasets in dict(type='MultiDataset', datasets=dict(...)).")
        dist_rank, dist_world_size = get_dist_info()
        self.rank = dist_rank if rank is None else int(rank)
        self.world_size = (
            dist_world_size if world_size is None else int(world_size))
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f'MultiDatasetSampler got rank={self.rank} and '
                             f'world_size={self.world_size}; need 0 <= rank '
                             '< world_size.')

        self.dataset = dataset
        self.mode = mode
        self.temperature = float(temperature)
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else int(seed)
        if self.seed < 0:
            raise ValueError('MultiDatasetSampler needs a non-negative seed '
                             f'(it seeds numpy SeedSequence), got {seed}.')
        self.round_up = round_up
        self.per_sample_seeds = bool(per_sample_seeds)
        self.epoch = 0
        self._skip = 0  # samples of this rank's share to leave out once (skip())

        self.sizes = np.asarray(dataset.dataset_sizes, dtype=np.int64)
        if (self.sizes <= 0).any():
            raise ValueError('MultiDatasetSampler cannot sample an empty '
                             f'dataset; dataset sizes are {self.sizes.tolist()}.')
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        epoch_size = (
            len(dataset)
            if num_samples_per_epoch is None else int(num_samples_per_epoch))
        if epoch_size <= 0:
            raise ValueError('MultiDatasetSampler needs num_samples_per_epoch '
                             f'> 0, got {num_samples_per_epoch}.')
        if round_up:
            self.total_size = (
                math.ceil(epoch_size / self.world_size) * self.world_size)
        else:
            self.total_size = epoch_size
        ordered = None
        if (mode == 'weights') != (weights is not None):
            raise ValueError("MultiDatasetSampler: give weights=dict(name=w, ...) with "
                             "mode='weights', and only then.")
        if weights is not None:
            names = list(dataset.dataset_names)
            if sorted(weights) != sorted(names):
                raise ValueError(f'MultiDatasetSampler weights name {sorted(weights)}; give one '
                                 f'per dataset of the MultiDataset: {names}.')
            ordered = [float(weights[name]) for name in names]
        self.probabilities = dataset_probabilities(self.sizes, mode,
                                                   self.temperature, ordered)
        self.quotas = split_quotas(self.total_size, self.probabilities)

    def _stream(self, dataset_id: int, start: int, count: int) -> np.ndarray:
        """Positions ``[start, start + count)`` of one dataset's stream.

        Returns:
            np.ndarray: Local indices, shape (count, ).
        """
        size = int(self.sizes[dataset_id])
        first, last = start // size, (start + count - 1) // size
        cycles = []
        for cycle in range(first, last + 1):
            if self.shuffle:
                rng = np.random.default_rng([self.seed, 1, dataset_id, cycle])
                cycles.append(rng.permutation(size))
            else:
                cycles.append(np.arange(size))
        skip = start - first * size
        return np.concatenate(cycles)[skip:skip + count]

    def epoch_indices(self) -> np.ndarray:
        """Global indices of the whole epoch, before splitting over ranks.

        Returns:
            np.ndarray: int64 indices into the dataset, shape (total_size, ).
        """
        owners = np.repeat(np.arange(len(self.sizes)), self.quotas)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, 0, self.epoch])
            rng.shuffle(owners)
        indices = np.empty(self.total_size, dtype=np.int64)
        for dataset_id, quota in enumerate(self.quotas):
            if quota == 0:
                continue
            local = self._stream(dataset_id, self.epoch * int(quota),
                                 int(quota))
            indices[owners == dataset_id] = local + self.offsets[dataset_id]
        return indices

    def __iter__(self) -> Iterator[int]:
        """Iterate over this rank's share of the current epoch.

        After :meth:`skip`, this one iteration starts that many samples in.
        """
        skip, self._skip = self._skip, 0
        indices = self.epoch_indices()[self.rank::self.world_size][skip:]
        if not self.per_sample_seeds:
            return iter(indices.tolist())
        first = self.rank + skip * self.world_size  # position in the whole epoch
        positions = range(first, self.total_size, self.world_size)
        epoch = self.epoch  # seeds derived lazily, as the loader asks for indices
        return (SeededIndex(index, derive_seed(self.seed, 2, epoch, position))
                for index, position in zip(indices.tolist(), positions))

    def skip(self, num_samples: int) -> None:
        """Start the next iteration ``num_samples`` samples into this rank's share.

        Used to resume a run without loading the samples it already trained
        on (exact with ``per_sample_seeds``).

        Args:
            num_samples (int): Samples of the current epoch already consumed
                on this rank, ``0 <= num_samples <= len(self)``.
        """
        if not 0 <= num_samples <= len(self):
            raise ValueError(f'MultiDatasetSampler.skip({num_samples}): this rank has '
                             f'{len(self)} samples per epoch.')
        self._skip = int(num_samples)

    def __len__(self) -> int:
        """Number of samples this rank yields per epoch."""
        return len(range(self.rank, self.total_size, self.world_size))

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose sequence :meth:`__iter__` yields.

        Args:
            epoch (int): Epoch number (0-based), same on all ranks.
        """
        self.epoch = int(epoch)
