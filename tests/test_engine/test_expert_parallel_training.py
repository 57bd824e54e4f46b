"""Expert-parallel training through mmdet's train script follows data parallelism exactly.

Three torchrun launches (2 CPU processes, gloo) of the tiny DAMEX config, all
from the same initial weights (experts made different from each other) and
reseeded at every iteration (DINO's denoising noise, the gate noise):

- data parallel, 2 iterations;
- expert parallel (the wrapper and checkpoint hook of docs/distributed.md:
  2 experts per rank), 3 iterations, a checkpoint after each;
- expert parallel resumed from that run's ``iter_2.pth`` for the 3rd iteration.

No token is dropped (``capacity_factor=0``), so with SGD + momentum and
gradient-norm clipping the expert-parallel weights, momentum buffers and
losses must equal the data-parallel ones (up to float summation order), and
the resumed run must repeat the uninterrupted one: rank 1's experts only
reach the checkpoint through the gather, and a wrong gradient scale, a
rank-local clipping norm or a wrongly sliced optimizer state on resume would
all show up.
"""
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from damex_mmdet.datasets.synthetic import generate_default_benchmark
from damex_mmdet.testing.reproducible import short_train_cfg
from damex_mmdet.utils.safe_checkpoint import load_checkpoint_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'damex', 'damex-dino-tiny_r18_1xb4-600i_damex-default.py')
MAX_NORM = 2.0


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _write_config(tmp, name, data_root, init_ckpt, max_iters, expert_parallel):
    # reseeded at every iteration: expert- and data-parallel ranks draw DINO's
    # denoising noise and the gate noise in different orders, and the test
    # compares the two layouts iteration by iteration
    cfg = short_train_cfg(CONFIG, data_root, osp.join(tmp, name), max_iters,
                          checkpoint_interval=1, reseed_each_iter=True)
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    # SGD: the update is proportional to the gradient (AdamW's first steps are
    # ~lr * sign(g) and would hide a wrong gradient scale); clipping stays active
    cfg.optim_wrapper.optimizer = dict(type='SGD', lr=2.0, momentum=0.9)
    cfg.optim_wrapper.clip_grad = dict(max_norm=MAX_NORM, norm_type=2)
    cfg.load_from = init_ckpt
    if expert_parallel:  # the two lines of docs/distributed.md
        cfg.model_wrapper_cfg = dict(type='ExpertParallelDistributedDataParallel')
        cfg.default_hooks.checkpoint.type = 'ExpertParallelCheckpointHook'
    path = osp.join(tmp, f'{name}.py')
    cfg.dump(path)
    return path


def _initial_checkpoint(path):
    """Tiny DAMEX weights with 4 different experts (the config upcycles them)."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    model.init_weights()
    state = model.state_dict()
    gen = torch.Generator().manual_seed(3)
    for key, value in state.items():
        if '.experts.' in key:
            state[key] = value + 0.02 * torch.randn(value.shape, generator=gen)
    torch.save({'state_dict': state}, path)
    return state


def _torchrun(cwd, config, work_dir, *extra):
    torchrun = shutil.which('torchrun', path=osp.dirname(sys.executable))
    cmd = [
        torchrun, '--nproc_per_node=2', f'--master_port={_free_port()}',
        osp.join(REPO, 'tools', 'train.py'), config, '--launcher', 'pytorch', '--work-dir',
        str(work_dir), *extra
    ]
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=400)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'torchrun failed:\n{log[-4000:]}'
    return log


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    if shutil.which('torchrun', path=osp.dirname(sys.executable)) is None:
        pytest.skip('torchrun is not installed next to this Python')
    tmp = tmp_path_factory.mktemp('ep_train')
    data_root = str(tmp / 'data')
    generate_default_benchmark(data_root, scale=0.02, progress=False)
    init = _initial_checkpoint(str(tmp / 'init.pth'))
    dp_cfg = _write_config(str(tmp), 'dp', data_root, str(tmp / 'init.pth'), 2, False)
    ep_cfg = _write_config(str(tmp), 'ep', data_root, str(tmp / 'init.pth'), 3, True)
    logs = dict(dp=_torchrun(tmp, dp_cfg, tmp / 'dp'), ep=_torchrun(tmp, ep_cfg, tmp / 'ep'))
    # resume the expert-parallel run from its iter_2.pth in a fresh work dir
    (tmp / 'resumed').mkdir()
    shutil.copy(tmp / 'ep' / 'iter_2.pth', tmp / 'resumed' / 'iter_2.pth')
    (tmp / 'resumed' / 'last_checkpoint').write_text(str(tmp / 'resumed' / 'iter_2.pth'))
    logs['resumed'] = _torchrun(tmp, ep_cfg, tmp / 'resumed', '--resume')

    def load(run, it):
        return load_checkpoint_file(str(tmp / run / f'iter_{it}.pth'), map_location='cpu')

    return dict(init=init, load=load, logs=logs)


def _losses(log):
    return [
        float(line.split(' loss: ')[1].split()[0]) for line in log.splitlines()
        if ' loss: ' in line
    ]


def _assert_same_weights(got, ref, prev):
    """``got`` made the same update as ``ref`` from ``prev`` (state dicts).

    Floating-point sums run in another order under expert parallelism and
    large-step SGD amplifies those ulps somewhat, most visibly (relatively) in
    parameters that barely move, such as the backbone's norm layers. So: each
    expert tensor's update matches to 1% of its norm, and the whole update
    vector to 1% of its norm. A wrong gradient scale, clipping coefficient or
    optimizer slice changes whole updates.
    """
    diff = total = 0.0
    for key, value in ref.items():
        assert got[key].shape == value.shape, key
        if not value.dtype.is_floating_point:
            assert torch.equal(got[key], value), key
            continue
        update = float((value - prev[key]).norm())
        mismatch = float((got[key] - value).norm())
        diff, total = diff + mismatch**2, total + update**2
        if '.experts.' in key:
            assert update > 1e-3, key  # the experts did train
            assert mismatch <= 0.01 * update, key
    assert diff**0.5 <= 0.01 * total**0.5


@pytest.mark.slow  # 3 torchrun launches, ~2 min
def test_expert_parallel_training_equals_data_parallel(runs):
    assert 'expert parallel: 2 MoE layers, 2 of 4 experts per rank' in runs['logs']['ep']
    dp, ep = runs['load']('dp', 2), runs['load']('ep', 2)
    # the checkpoint holds all 4 experts, rank 1's shard included
    assert ep['state_dict']['decoder.layers.0.ffn.experts.w1'].shape[0] == 4
    _assert_same_weights(ep['state_dict'], dp['state_dict'], runs['init'])
    grad_norms = [float(line.split(' grad_norm: ')[1].split()[0])
                  for line in runs['logs']['ep'].splitlines() if ' grad_norm: ' in line]
    assert grad_norms and min(grad_norms) > MAX_NORM  # clipping was active at every step
    # the experts' momentum buffers are gathered too (SGD state per parameter index)
    states = [(ref, got) for ref, got in zip(dp['optimizer']['state'].values(),
                                             ep['optimizer']['state'].values())]
    assert len(dp['optimizer']['state']) == len(ep['optimizer']['state'])
    for ref, got in states:  # momentum = sum of (clipped) gradients, never tiny here
        buf, ref_buf = got['momentum_buffer'], ref['momentum_buffer']
        assert buf.shape == ref_buf.shape
        assert float((buf - ref_buf).norm()) <= 0.01 * float(ref_buf.norm()) + 1e-7
    assert _losses(runs['logs']['ep'])[:2] == pytest.approx(_losses(runs['logs']['dp']), rel=1e-4)


@pytest.mark.slow  # 3 torchrun launches, ~2 min
def test_resumed_expert_parallel_run_continues_exactly(runs):
    assert 'resume: data loader at iteration 2 by replay' in runs['logs']['resumed']
    got, ref = runs['load']('resumed', 3), runs['load']('ep', 3)
    # same layout, same summation order: identical up to a few ulps
    for key, value in ref['state_dict'].items():
        torch.testing.assert_close(got['state_dict'][key], value, atol=1e-6, rtol=1e-5)
    for index, state in ref['optimizer']['state'].items():
        torch.testing.assert_close(got['optimizer']['state'][index]['momentum_buffer'],
                                   state['momentum_buffer'], atol=1e-6, rtol=1e-5)
    assert _losses(runs['logs']['resumed'])[-1] == pytest.approx(
        _losses(runs['logs']['ep'])[-1], rel=1e-5)


@pytest.mark.slow  # 3 torchrun launches, ~2 min
def test_expert_parallel_checkpoint_loads_in_one_process(runs):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(Config.fromfile(CONFIG).model)
    model.load_state_dict(runs['load']('resumed', 3)['state_dict'], strict=True)
    assert model.decoder.layers[0].ffn.experts.w1.shape[0] == 4
