"""Tests of damex_mmdet.datasets.samplers on a stand-in dataset (no images)."""
from collections import Counter

import numpy as np
import pytest

import damex_mmdet  # noqa: F401  (registers the modules)
from damex_mmdet.datasets import (MultiDatasetSampler, dataset_probabilities,
                                  split_quotas)
from mmdet.registry import DATA_SAMPLERS


class SizedSources:
    """What the sampler reads from a MultiDataset: sizes and length."""

    def __init__(self, *sizes):
        self.dataset_sizes = tuple(sizes)

    def __len__(self):
        return sum(self.dataset_sizes)


def _sampler(sizes, **kwargs):
    kwargs.setdefault('seed', 0)
    return MultiDatasetSampler(SizedSources(*sizes), **kwargs)


def _source_of(indices, sizes):
    """Dataset id of each global index."""
    return np.searchsorted(np.cumsum(sizes), indices, side='right')


def test_probabilities_and_quotas_by_hand():
    np.testing.assert_allclose(
        dataset_probabilities([100, 400], 'natural'), [0.2, 0.8])
    np.testing.assert_allclose(
        dataset_probabilities([100, 400], 'uniform'), [0.5, 0.5])
    # sqrt(100) = 10, sqrt(400) = 20
    np.testing.assert_allclose(
        dataset_probabilities([100, 400], 'temperature', 0.5), [1 / 3, 2 / 3])
    # 500 * (1/3, 2/3) = (166.67, 333.33): the larger remainder gets the +1
    assert split_quotas(500, np.array([1 / 3, 2 / 3])).tolist() == [167, 333]
    assert split_quotas(10, np.array([0.25, 0.25, 0.5])).tolist() == [3, 2, 5]


@pytest.mark.parametrize('world_size', [1, 2, 3])
@pytest.mark.parametrize('mode', ['natural', 'uniform', 'temperature'])
def test_ranks_are_disjoint_and_cover_the_epoch(world_size, mode):
    sizes = (7, 30, 13)
    ranks = [
        _sampler(sizes, mode=mode, round_up=False, rank=r,
                 world_size=world_size) for r in range(world_size)
    ]
    epoch = ranks[0].epoch_indices()
    assert len(epoch) == 50
    parts = [list(sampler) for sampler in ranks]
    assert [len(part) for part in parts] == [len(s) for s in ranks]
    # rank r reads positions r, r + W, ...: re-interleaving gives the epoch
    merged = np.empty(len(epoch), dtype=np.int64)
    for rank, part in enumerate(parts):
        merged[rank::world_size] = part
    assert merged.tolist() == epoch.tolist()
    if mode == 'natural':  # every sample exactly once
        assert sorted(merged.tolist()) == list(range(50))


def test_round_up_gives_equal_lengths_without_repeating_positions():
    sizes = (7, 30, 13)  # 50 samples on 3 ranks -> 3 x 17 = 51
    ranks = [_sampler(sizes, rank=r, world_size=3) for r in range(3)]
    assert [len(s) for s in ranks] == [17, 17, 17]
    union = sorted(i for s in ranks for i in s)
    # natural quotas of 51 samples: 7.14 -> 7, 30.6 -> 31, 12.75 -> 13; the
    # one extra sample of the 30-image dataset starts its next permutation
    counts = Counter(_source_of(union, sizes).tolist())
    assert counts == {0: 7, 1: 31, 2: 13}
    assert set(union) == set(range(50))


@pytest.mark.parametrize('mode,expected', [
    ('natural', [100, 1000, 10]),
    ('uniform', [370, 370, 370]),
    # sizes ** 0.5 = 10, 31.62, 3.16 -> 1110 * p = 247.85, 783.77, 78.38;
    # floors sum to 1108, the two largest remainders get +1
    ('temperature', [248, 784, 78]),
])
def test_dataset_ratios_follow_the_mode(mode, expected):
    sizes = (100, 1000, 10)
    sampler = _sampler(sizes, mode=mode, temperature=0.5)
    counts = np.bincount(_source_of(list(sampler), sizes), minlength=3)
    probs = dataset_probabilities(sizes, mode, 0.5)
    np.testing.assert_allclose(counts / counts.sum(), probs, atol=2e-3)
    assert counts.tolist() == expected
    assert counts.sum() == 1110


def test_small_dataset_is_exhausted_before_repeating():
    sizes = (10, 1000)
    sampler = _sampler(sizes, mode='uniform', num_samples_per_epoch=40)
    small = [i for i in sampler if i < 10]
    assert len(small) == 20
    # 20 draws from 10 samples: two full passes, each a permutation
    assert sorted(small[:10]) == list(range(10))
    assert sorted(small[10:]) == list(range(10))
    assert small[:10] != small[10:]  # reshuffled for the second pass


def test_large_dataset_is_walked_across_epochs():
    sizes = (1000, 10)
    sampler = _sampler(sizes, mode='uniform')  # 505 draws per dataset
    epochs = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        epochs.append([i for i in sampler if i < 1000])
    # epoch 0 reads stream positions 0..504 of the first permutation, epoch 1
    # positions 505..1009: the rest of it, then the start of the next one
    assert len(epochs[0]) == 505 and len(set(epochs[0])) == 505
    assert set(epochs[0]) | set(epochs[1][:495]) == set(range(1000))


def test_determinism_per_seed_and_epoch():
    sizes = (20, 30)
    first, second = _sampler(sizes, seed=5), _sampler(sizes, seed=5)
    assert list(first) == list(second)
    first.set_epoch(1)
    second.set_epoch(1)
    assert list(first) == list(second)
    epoch0 = _sampler(sizes, seed=5)
    assert list(epoch0) != list(first)  # another epoch, another order
    assert list(_sampler(sizes, seed=6)) != list(epoch0)


def test_no_shuffle_is_sequential():
    assert list(_sampler((3, 4), shuffle=False)) == list(range(7))
    # uniform without shuffle: dataset blocks in config order, cycling
    assert list(_sampler((2, 5), mode='uniform', shuffle=False)) == \
        [0, 1, 0, 1, 2, 3, 4]


def test_registry_build_and_bad_arguments():
    sampler = DATA_SAMPLERS.build(
        dict(type='MultiDatasetSampler', mode='temperature', temperature=0.3,
             seed=0),
        default_args=dict(dataset=SizedSources(4, 4)))
    assert isinstance(sampler, MultiDatasetSampler) and len(sampler) == 8
    with pytest.raises(ValueError, match="mode='balanced'"):
        _sampler((2, 2), mode='balanced')
    with pytest.raises(ValueError, match='temperature >= 0'):
        _sampler((2, 2), mode='temperature', temperature=-1)
    with pytest.raises(ValueError, match='rank=2 and world_size=2'):
        _sampler((2, 2), rank=2, world_size=2)
    with pytest.raises(ValueError, match='non-negative seed'):
        _sampler((2, 2), seed=-1)
    with pytest.raises(ValueError, match='num_samples_per_epoch > 0'):
        _sampler((2, 2), num_samples_per_epoch=0)
    with pytest.raises(TypeError, match="type='MultiDataset'"):
        MultiDatasetSampler(list(range(4)), seed=0)


class IndexSources(SizedSources):
    """Returns its own index: enough for a torch DataLoader."""

    def __getitem__(self, idx):
        return idx


def test_iter_based_loop_moves_to_the_next_epoch(monkeypatch):
    from mmengine.runner import loops
    from torch.utils.data import DataLoader
    monkeypatch.setattr(loops.time, 'sleep', lambda seconds: None)
    sampler = MultiDatasetSampler(IndexSources(6, 9), seed=0)
    loader = DataLoader(sampler.dataset, batch_size=5, sampler=sampler,
                        collate_fn=list)
    # mmengine's IterBasedTrainLoop re-iterates the loader and calls
    # set_epoch when an epoch ends
    batches = loops._InfiniteDataloaderIterator(loader)
    epochs = [sum((next(batches) for _ in range(3)), []) for _ in range(2)]
    assert sampler.epoch == 1
    assert [sorted(epoch) for epoch in epochs] == [list(range(15))] * 2
    assert epochs[0] != epochs[1]


def test_epoch_data_iterator_moves_to_the_next_epoch_like_mmengine(monkeypatch):
    from mmengine.runner import loops
    from torch.utils.data import DataLoader

    from damex_mmdet.engine import train_loop
    monkeypatch.setattr(loops.time, 'sleep', lambda seconds: None)
    monkeypatch.setattr(train_loop.time, 'sleep', lambda seconds: None)
    batches = {}
    for name, make in (('mmengine', loops._InfiniteDataloaderIterator),
                       ('ours', train_loop.EpochDataIterator)):
        sampler = MultiDatasetSampler(IndexSources(6, 9), seed=0)
        loader = DataLoader(sampler.dataset, batch_size=4, sampler=sampler, collate_fn=list)
        iterator = make(loader)
        batches[name] = [next(iterator) for _ in range(13)]  # 4 batches an epoch: 3+ epochs
        assert sampler.epoch == 3
    assert batches['ours'] == batches['mmengine']


@pytest.mark.parametrize('per_sample_seeds', [False, True])
def test_skip_stands_where_the_loaded_batches_end(monkeypatch, per_sample_seeds):
    """Skipping k batches yields what follows k loaded batches, seeds included."""
    from torch.utils.data import DataLoader

    from damex_mmdet.engine import train_loop
    monkeypatch.setattr(train_loop.time, 'sleep', lambda seconds: None)

    def batches_after(k, skip):
        sampler = MultiDatasetSampler(IndexSources(6, 9), seed=3,
                                      per_sample_seeds=per_sample_seeds)
        loader = DataLoader(sampler.dataset, batch_size=4, sampler=sampler,
                            collate_fn=lambda batch: [(int(i), getattr(i, 'seed', None))
                                                      for i in batch])
        iterator = train_loop.EpochDataIterator(loader)
        if skip:
            iterator.skip(k)
        else:
            for _ in range(k):
                next(iterator)
        return [next(iterator) for _ in range(6)], sampler.epoch

    # 4 batches an epoch (the last one short): within an epoch, at its end, beyond it
    for k in (3, 4, 6, 9):
        assert batches_after(k, skip=True) == batches_after(k, skip=False), k
    seeds = [seed for batch in batches_after(3, skip=True)[0] for _, seed in batch]
    assert (None in seeds) != per_sample_seeds
    if per_sample_seeds:
        assert len(set(seeds)) == len(seeds)  # one seed a sample, across epochs too


def test_per_sample_seeds_follow_the_position_not_the_rank():
    """The seed of the sample at epoch position p is the same for 1 and 2 ranks."""
    single = list(_sampler((6, 9), seed=5, per_sample_seeds=True))
    ranks = [list(_sampler((6, 9), seed=5, per_sample_seeds=True, rank=r, world_size=2,
                           round_up=False)) for r in (0, 1)]
    merged = [None] * len(single)
    merged[0::2], merged[1::2] = ranks
    assert [(int(i), i.seed) for i in merged] == [(int(i), i.seed) for i in single]
    assert [int(i) for i in single] == list(_sampler((6, 9), seed=5))  # same order as without


def test_seeded_index_is_an_int_that_keeps_its_seed_through_pickling():
    import pickle

    from damex_mmdet.datasets import SeededIndex
    index = pickle.loads(pickle.dumps(SeededIndex(7, 123)))
    assert index == 7 and index.seed == 123 and [10, 11, 12, 13, 14, 15, 16, 17][index] == 17


def test_skip_beyond_the_epoch_is_refused():
    sampler = _sampler((6, 9))
    with pytest.raises(ValueError, match='15 samples per epoch'):
        sampler.skip(16)


def test_epoch_data_iterator_finds_the_sampler_behind_a_batch_sampler(monkeypatch):
    """mmdet's AspectRatioBatchSampler holds the sampler: its epochs still advance."""
    from mmdet.datasets.samplers import AspectRatioBatchSampler
    from torch.utils.data import DataLoader

    from damex_mmdet.engine import train_loop
    monkeypatch.setattr(train_loop.time, 'sleep', lambda seconds: None)

    class Shaped(IndexSources):
        def get_data_info(self, idx):
            return dict(width=10, height=10)

    sampler = MultiDatasetSampler(Shaped(6, 9), seed=0)
    loader = DataLoader(sampler.dataset, batch_sampler=AspectRatioBatchSampler(sampler, 5),
                        collate_fn=list)
    iterator = train_loop.EpochDataIterator(loader)
    epochs = [sum((next(iterator) for _ in range(3)), []) for _ in range(2)]
    assert sampler.epoch == 1 and epochs[0] != epochs[1]


def test_weights_by_name_leave_zero_weight_datasets_out():
    """Training on a new dataset (others at 0) or replaying old ones at a stated ratio."""
    sources = SizedSources(100, 1000, 10)
    sources.dataset_names = ('a', 'b', 'new')
    only_new = MultiDatasetSampler(sources, mode='weights', seed=0,
                                   weights=dict(a=0, b=0, new=1), num_samples_per_epoch=30)
    assert set(_source_of(list(only_new), (100, 1000, 10)).tolist()) == {2}
    replay = MultiDatasetSampler(sources, mode='weights', seed=0,
                                 weights=dict(a=1, b=1, new=2), num_samples_per_epoch=400)
    counts = np.bincount(_source_of(list(replay), (100, 1000, 10)), minlength=3)
    assert counts.tolist() == [100, 100, 200]
    with pytest.raises(ValueError, match=r"weights name \['a', 'b'\]; give one per dataset"):
        MultiDatasetSampler(sources, mode='weights', seed=0, weights=dict(a=1, b=1))
    with pytest.raises(ValueError, match='at least one positive'):
        MultiDatasetSampler(sources, mode='weights', seed=0, weights=dict(a=0, b=0, new=0))
    with pytest.raises(ValueError, match="with mode='weights', and only then"):
        MultiDatasetSampler(sources, seed=0, weights=dict(a=1, b=1, new=1))
