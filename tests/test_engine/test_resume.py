"""A run killed anywhere and continued with ``--resume`` ends bit for bit as the uninterrupted one.

Fault injection through the real command line: the shipped tiny DAMEX config
(its ``ResumableIterBasedTrainLoop`` and ``ResumableCheckpointHook``, no
reseeding hook), cut to 4 iterations of batch 2 at seed 0 with a checkpoint
every 2 iterations (``max_keep_ckpts=1`` as shipped), is trained by
``tools/train.py`` once uninterrupted, then once per fault: a process that
kills itself with SIGKILL at a point drawn by a seeded generator (before, in
the middle of or after a step, or half-way through writing a checkpoint),
followed by ``tools/train.py --resume``. The final weights and optimizer
state must equal the uninterrupted run's exactly, with 0 and 2 data workers,
with per-sample seeds and ``resume_data='skip'``, and under torchrun data
parallel (2 gloo processes).

Every process start, 4 training iterations and 2 writes of a 220 MB
checkpoint take ~30 s here, so the default tier runs one fault (the kill
during a checkpoint write, with 2 data workers); the other phases, the skip
resume and the data-parallel run are marked ``slow``.
"""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from damex_mmdet.datasets.synthetic import generate_default_benchmark
from damex_mmdet.engine import RANDOM_STATE_META_KEY
from damex_mmdet.testing.faults import PHASES, draw_faults
from damex_mmdet.testing.reproducible import short_train_cfg
from damex_mmdet.utils.safe_checkpoint import load_checkpoint_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'damex', 'damex-dino-tiny_r18_1xb4-600i_damex-default.py')
MAX_ITERS, INTERVAL = 4, 2
CHECKPOINT_ITERS = [it for it in range(MAX_ITERS) if (it + 1) % INTERVAL == 0]
KILLED = -9  # subprocess return code of a SIGKILLed process


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('resume_data'))
    generate_default_benchmark(root, scale=0.02, progress=False)
    return root


def _config(tmp, name, data_root, num_workers=0, kill=None, skip=False):
    """Dump the run's config; the work dir is ``tmp/<name>`` (kill: (iteration, phase))."""
    cfg = short_train_cfg(CONFIG, data_root, osp.join(tmp, name), MAX_ITERS, INTERVAL,
                          num_workers=num_workers)
    if skip:  # per-sample augmentation seeds, resume without loading the trained batches
        cfg.train_dataloader.sampler.per_sample_seeds = True
        cfg.train_cfg.resume_data = 'skip'
    if kill is not None:
        cfg.custom_hooks.append(dict(type='KillAtHook', iteration=kill[0], phase=kill[1]))
    path = osp.join(tmp, f'{name}{"-kill" if kill else ""}.py')
    cfg.dump(path)
    return path


def _env():
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONHASHSEED='0')
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [REPO, env.get('PYTHONPATH')]))
    return env


def _train(config, *args, launcher=None):
    if launcher is None:
        command = [sys.executable, osp.join(REPO, 'tools', 'train.py'), config, *args]
    else:
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
                   '--master_addr', '127.0.0.1', '--master_port', str(port),
                   osp.join(REPO, 'tools', 'train.py'), config, '--launcher', 'pytorch', *args]
    proc = subprocess.run(command, cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=900)
    return proc.returncode, proc.stdout


def _final(work_dir):
    checkpoint = load_checkpoint_file(osp.join(work_dir, f'iter_{MAX_ITERS}.pth'),
                                      map_location='cpu')
    tensors = dict(checkpoint['state_dict'])
    for index, state in checkpoint['optimizer']['state'].items():
        for key, value in state.items():
            tensors[f'optimizer.{index}.{key}'] = torch.as_tensor(value)
    return tensors


def _differing(a, b):
    assert a.keys() == b.keys()
    return sorted(key for key in a if not torch.equal(a[key], b[key]))


def _kill_and_resume(tmp, name, data_root, kill, launcher=None, **kwargs):
    code, log = _train(_config(tmp, name, data_root, kill=kill, **kwargs), launcher=launcher)
    assert code != 0, f'the run was not killed at {kill}:\n{log[-3000:]}'
    if launcher is None:
        assert code == KILLED, log[-3000:]
    work_dir = osp.join(tmp, name)
    left = sorted(os.listdir(work_dir))
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.exists(last):  # names a complete checkpoint, whatever the kill interrupted
        with open(last) as f:
            assert load_checkpoint_file(f.read().strip(), map_location='cpu')['meta'][
                RANDOM_STATE_META_KEY]['world_size'] == (1 if launcher is None else 2)
    code, log = _train(_config(tmp, name, data_root, **kwargs), '--resume', launcher=launcher)
    assert code == 0, log[-3000:]
    return _final(work_dir), left, log


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory, data_root):
    """Final tensors of the uninterrupted run with ``workers`` data workers (cached)."""
    tmp = str(tmp_path_factory.mktemp('uninterrupted'))
    finals = {}

    def final(workers):
        if workers not in finals:
            code, log = _train(_config(tmp, f'full-w{workers}', data_root, num_workers=workers))
            assert code == 0, log[-3000:]
            finals[workers] = _final(osp.join(tmp, f'full-w{workers}'))
        return finals[workers]

    return final


# one kill per phase, the iteration drawn by a seeded generator, with 0 or 2 data workers
FAULTS = draw_faults(2026, len(PHASES), MAX_ITERS, CHECKPOINT_ITERS)
TRIALS = [
    pytest.param(FAULTS[0], 2, marks=pytest.mark.slow, id='before_step-w2'),
    pytest.param(FAULTS[1], 0, marks=pytest.mark.slow, id='during_step-w0'),
    pytest.param(FAULTS[2], 0, marks=pytest.mark.slow, id='after_step-w0'),
    pytest.param(FAULTS[3], 2, id='during_write-w2'),
]


@pytest.mark.slow
def test_uninterrupted_runs_depend_on_the_worker_count(uninterrupted):
    """The references differ: data workers draw their own augmentation (mmengine's seeding)."""
    assert _differing(uninterrupted(0), uninterrupted(2))


@pytest.mark.slow  # subprocesses writing 220 MB checkpoints, ~2 min
@pytest.mark.parametrize('kill,workers', TRIALS)
def test_killed_run_resumes_bit_for_bit(tmp_path, data_root, uninterrupted, kill, workers):
    final, left, _ = _kill_and_resume(str(tmp_path), 'run', data_root, kill,
                                      num_workers=workers)
    assert not _differing(final, uninterrupted(workers)), kill
    if kill[1] == 'during_write':  # the half-written file was never named, the previous kept
        step = kill[0] + 1
        assert f'.iter_{step}.pth.partial' in left and f'iter_{step}.pth' not in left
        if step > INTERVAL:
            assert f'iter_{step - INTERVAL}.pth' in left


@pytest.mark.slow
def test_skip_resume_with_per_sample_seeds_loads_nothing_twice_and_is_exact(tmp_path, data_root):
    """resume_data='skip': exact, and with per-sample seeds the worker count no longer matters."""
    tmp = str(tmp_path)
    code, log = _train(_config(tmp, 'full', data_root, num_workers=0, skip=True))
    assert code == 0, log[-3000:]
    final, _, log = _kill_and_resume(tmp, 'run', data_root, (2, 'during_step'),
                                     num_workers=2, skip=True)
    assert 'by skip' in log
    assert not _differing(final, _final(osp.join(tmp, 'full')))


@pytest.mark.slow
def test_data_parallel_run_resumes_bit_for_bit(tmp_path, data_root):
    """torchrun, 2 gloo processes: every rank's random state is in the checkpoint."""
    tmp = str(tmp_path)
    code, log = _train(_config(tmp, 'full', data_root), launcher='torchrun')
    assert code == 0, log[-3000:]
    kill = draw_faults(7, 4, MAX_ITERS, CHECKPOINT_ITERS)[1]  # during a step
    final, _, _ = _kill_and_resume(tmp, 'run', data_root, kill, launcher='torchrun')
    assert not _differing(final, _final(osp.join(tmp, 'full'))), kill
