"""TrainingClockHook: a resumed run's training time is the whole run's, kept in checkpoints."""
import itertools
import logging
import os.path as osp
import time

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from damex_mmdet.engine import TRAIN_SECONDS_META_KEY, TrainingClockHook
from damex_mmdet.experiments.runs import training_seconds

SLEEP = 0.05  # seconds added to every training iteration, so that the clock has time to count
_NAMES = itertools.count()  # a distinct experiment name per runner (several start per second)


class _Points(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i)]))


class _Line(BaseModel):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='loss'):
        return dict(loss=((inputs * self.w - 1) ** 2).mean())


class _Slow(Hook):
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        time.sleep(SLEEP)


def _runner(work_dir, max_iters, load_from=None, resume=False):
    return Runner(
        model=_Line(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=_Points(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=100)),
        custom_hooks=[dict(type='TrainingClockHook'), _Slow()],
        load_from=load_from, resume=resume, default_scope='mmdet',
        experiment_name=f'clock{next(_NAMES)}',
        log_level=logging.WARNING)


def _clock(runner):
    (clock, ) = [h for h in runner.hooks if isinstance(h, TrainingClockHook)]
    return clock


def _stored(path):
    return torch.load(path, weights_only=False)['meta'][TRAIN_SECONDS_META_KEY]


def test_every_checkpoint_stores_the_seconds_trained_up_to_it(tmp_path):
    runner = _runner(tmp_path / 'run', 4)
    runner.train()
    first, last = (_stored(tmp_path / 'run' / f'iter_{i}.pth') for i in (2, 4))
    assert 2 * SLEEP <= first < last <= _clock(runner).seconds()
    assert last - first >= 2 * SLEEP
    assert _clock(runner).complete and not _clock(runner).resumed


def test_a_resumed_run_counts_the_seconds_before_the_interruption(tmp_path):
    _runner(tmp_path / 'run', 2).train()  # "interrupted" after its iteration-2 checkpoint
    before = _stored(tmp_path / 'run' / 'iter_2.pth')
    runner = _runner(tmp_path / 'run', 6, load_from=str(tmp_path / 'run' / 'iter_2.pth'),
                     resume=True)
    runner.train()
    clock = _clock(runner)
    assert clock.resumed and clock.complete
    assert clock.seconds() == pytest.approx(before + clock.seconds_this_process())
    assert clock.seconds_this_process() >= 4 * SLEEP  # its own 4 iterations
    assert _stored(tmp_path / 'run' / 'iter_6.pth') >= before + 4 * SLEEP
    assert training_seconds(dict(train_seconds=clock.seconds(),
                                 train_seconds_complete=clock.complete)) == clock.seconds()


def test_a_fine_tuning_start_counts_from_zero(tmp_path):
    _runner(tmp_path / 'trained', 2).train()
    runner = _runner(tmp_path / 'tuned', 2, load_from=str(tmp_path / 'trained' / 'iter_2.pth'))
    runner.train()
    clock = _clock(runner)
    assert not clock.resumed and clock.complete
    assert clock.seconds() == clock.seconds_this_process()


def test_a_resume_without_the_stored_seconds_is_marked_incomplete(tmp_path):
    _runner(tmp_path / 'run', 2).train()
    path = tmp_path / 'run' / 'iter_2.pth'
    checkpoint = torch.load(path, weights_only=False)
    del checkpoint['meta'][TRAIN_SECONDS_META_KEY]  # as written before the hook existed
    torch.save(checkpoint, path)
    runner = _runner(tmp_path / 'run', 4, load_from=str(path), resume=True)
    runner.train()
    clock = _clock(runner)
    assert clock.resumed and not clock.complete
    assert clock.seconds() == clock.seconds_this_process()
    summary = dict(train_seconds=clock.seconds(), train_seconds_complete=clock.complete)
    assert training_seconds(summary) is None
    assert osp.isfile(tmp_path / 'run' / 'iter_4.pth')


def test_seconds_before_training_is_an_error():
    with pytest.raises(RuntimeError, match='before_train not called'):
        TrainingClockHook().seconds()
