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


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from damex_mmdet.datasets.synthetic import generate_default_benchmark
    root = str(tmp_path_factory.mktemp('loop_data'))
    generate_default_benchmark(root, scale=0.02, progress=False)
    return root


def _train(data_root, work_dir, max_iters, resume_from=None):
    import os.path as osp

    from mmengine.runner import Runner

    from damex_mmdet.testing.reproducible import short_train_cfg
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    config = osp.join(repo, 'configs', 'damex', 'damex-dino-tiny_r18_1xb4-600i_damex-default.py')
    cfg = short_train_cfg(config, data_root, work_dir, max_iters, checkpoint_interval=2)
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1  # keep iter_2.pth to resume from
    cfg.log_level = 'WARNING'
    if resume_from:
        cfg.resume, cfg.load_from = True, resume_from
    runner = Runner.from_cfg(cfg)
    runner.train()
    return {key: value.clone() for key, value in runner.model.state_dict().items()}


@pytest.mark.filterwarnings('ignore')
def test_resumed_run_in_process_equals_the_uninterrupted_one(tmp_path, data_root):
    """The shipped loop and hook, no reseeding: resumed at 2 of 4 == 4 uninterrupted (fast-tier
    check; kills at any point, worker processes, torchrun: tests/test_engine/test_resume.py)."""
    full = _train(data_root, str(tmp_path / 'full'), 4)
    resumed = _train(data_root, str(tmp_path / 'resumed'), 4,
                     resume_from=str(tmp_path / 'full' / 'iter_2.pth'))
    assert [key for key in full if not torch.equal(full[key], resumed[key])] == []
