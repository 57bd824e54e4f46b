"""Stock mmdet entry points run our configs: `mim train/test mmdet` and tools/*.py.

A 2-iteration training of the tiny DAMEX-DINO config on a tiny copy of the
built-in benchmark, started from a foreign working directory, then a test run
on the checkpoint it wrote.
"""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from damex_mmdet.datasets.synthetic import generate_default_benchmark
from damex_mmdet.engine import CHECKPOINT_META_KEY
from damex_mmdet.utils.safe_checkpoint import load_checkpoint_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'damex', 'damex-dino-tiny_r18_1xb4-600i_damex-default.py')
SHORT_RUN = [
    'train_cfg.max_iters=2', 'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2',
    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
    'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
    'custom_hooks.1.interval=1'
]


def _run(cmd, cwd):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f'{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    cwd = tmp_path_factory.mktemp('elsewhere')
    generate_default_benchmark(str(cwd / 'data' / 'damex_default'), scale=0.02, progress=False)
    return cwd


@pytest.mark.slow  # mim / tools subprocesses, ~80 s
def test_mim_train_then_test_from_another_directory(workspace):
    mim = shutil.which('mim', path=osp.dirname(sys.executable))
    if mim is None:
        pytest.skip('openmim is not installed in this environment (tools/setup_env.sh installs it)')
    work_dir = workspace / 'wd_mim'
    _run([mim, 'train', 'mmdet', CONFIG, '--work-dir', str(work_dir), '--cfg-options',
          *SHORT_RUN], cwd=workspace)
    ckpt = work_dir / 'iter_2.pth'
    assert ckpt.exists()
    meta = load_checkpoint_file(str(ckpt), map_location='cpu')['meta']
    assert meta[CHECKPOINT_META_KEY]['expert_map']['comic'] == [0]
    assert meta[CHECKPOINT_META_KEY]['layers'] == ['decoder.layers.0.ffn', 'decoder.layers.2.ffn']
    out = _run([mim, 'test', 'mmdet', CONFIG, '--checkpoint', str(ckpt), '--work-dir',
                str(workspace / 'wd_mim_test'), '--cfg-options', *SHORT_RUN[3:9]], cwd=workspace)
    for name in ('watercolor', 'xray', 'mean'):
        assert f'{name}/bbox_mAP' in out


@pytest.mark.slow  # mim / tools subprocesses, ~80 s
def test_tools_train_wrapper_resolves_damex_scope(workspace):
    child = workspace / 'child_cfg.py'
    child.write_text(
        "_base_ = 'damex_mmdet::damex/damex-dino-tiny_r18_1xb4-600i_damex-default.py'\n")
    work_dir = workspace / 'wd_tools'
    _run([sys.executable, osp.join(REPO, 'tools', 'train.py'), str(child), '--work-dir',
          str(work_dir), '--cfg-options', *SHORT_RUN], cwd=workspace)
    assert (work_dir / 'iter_2.pth').exists()
