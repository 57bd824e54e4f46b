"""Resuming a DAMEX training run reproduces the losses of an uninterrupted run."""
import os.path as osp

import pytest
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.runner import Runner

from damex_mmdet.datasets.synthetic import generate_default_benchmark
from damex_mmdet.engine import CHECKPOINT_META_KEY
from damex_mmdet.testing.reproducible import short_train_cfg
from damex_mmdet.utils.safe_checkpoint import load_checkpoint_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'damex', 'damex-dino-tiny_r18_1xb4-600i_damex-default.py')


@HOOKS.register_module(force=True)
class _RecordLossHook(Hook):
    """Record the total loss of every iteration, to compare runs iteration by iteration."""

    losses = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses[(runner.work_dir, runner.iter)] = float(outputs['loss'])


def _cfg(data_root, work_dir, max_iters, resume_from=None):
    # reseeded at every iteration: DINO's denoising noise and the gate noise
    cfg = short_train_cfg(CONFIG, data_root, work_dir, max_iters, checkpoint_interval=2)
    cfg.custom_hooks.append(dict(type='_RecordLossHook'))
    cfg.log_level = 'WARNING'
    if resume_from:
        cfg.resume, cfg.load_from = True, resume_from
    return cfg


@pytest.mark.filterwarnings('ignore')
def test_resumed_run_matches_uninterrupted_run(tmp_path):
    data_root = str(tmp_path / 'data')
    generate_default_benchmark(data_root, scale=0.02, progress=False)
    full, part = str(tmp_path / 'full'), str(tmp_path / 'part')
    Runner.from_cfg(_cfg(data_root, full, 4)).train()
    Runner.from_cfg(_cfg(data_root, part, 2)).train()
    ckpt = osp.join(part, 'iter_2.pth')
    meta = load_checkpoint_file(ckpt, map_location='cpu')['meta']
    assert meta[CHECKPOINT_META_KEY]['expert_map']['xray'] == [3]
    resumed = Runner.from_cfg(_cfg(data_root, part, 4, resume_from=ckpt))
    resumed.train()
    losses = _RecordLossHook.losses
    for it in (0, 1):  # the first two iterations agree before the interruption
        assert losses[(full, it)] == pytest.approx(losses[(part, it)], rel=1e-6)
    for it in (2, 3):  # after resuming from iter_2.pth
        assert losses[(full, it)] == pytest.approx(losses[(part, it)], rel=1e-5), it
