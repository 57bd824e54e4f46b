"""ResumableIterBasedTrainLoop: what it refuses at build time, what validation leaves behind.

Bit-for-bit resume itself is tested through the real command line in
tests/test_engine/test_resume.py.
"""
import pytest
import torch
from torch.utils.data import DataLoader

import damex_mmdet  # noqa: F401  (registers the modules)
from damex_mmdet.datasets import MultiDatasetSampler
from damex_mmdet.engine.train_loop import check_skippable


class _Sources:
    dataset_sizes = (6, 9)

    def __len__(self):
        return 15

    def __getitem__(self, idx):
        return idx


def _loader(per_sample_seeds, **kwargs):
    sampler = MultiDatasetSampler(_Sources(), seed=0, per_sample_seeds=per_sample_seeds)
    if 'batch_sampler' in kwargs:
        return DataLoader(sampler.dataset, batch_sampler=kwargs['batch_sampler'](sampler))
    return DataLoader(sampler.dataset, batch_size=4, sampler=sampler)


def test_skip_needs_per_sample_seeds():
    with pytest.raises(ValueError, match=r"per_sample_seeds=True.*without per_sample_seeds"):
        check_skippable(_loader(per_sample_seeds=False))
    plain = DataLoader(range(8), batch_size=2, sampler=torch.utils.data.SequentialSampler(range(8)))
    with pytest.raises(ValueError, match='got SequentialSampler'):
        check_skippable(plain)
    check_skippable(_loader(per_sample_seeds=True))  # accepted


def test_skip_needs_a_plain_batch_sampler():
    class Grouped(torch.utils.data.BatchSampler):
        def __init__(self, sampler):
            super().__init__(sampler, 4, False)

    with pytest.raises(ValueError, match='batch_sampler is Grouped'):
        check_skippable(_loader(per_sample_seeds=True, batch_sampler=Grouped))


def test_unknown_resume_data_is_refused():
    from damex_mmdet.engine import ResumableIterBasedTrainLoop
    with pytest.raises(ValueError, match=r"resume_data='rewind'; use one of \('replay', 'skip'\)"):
        ResumableIterBasedTrainLoop(runner=None, dataloader=None, max_iters=1,
                                    resume_data='rewind')
