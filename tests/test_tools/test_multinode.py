"""tools/dist_train.sh across two "nodes" (two torchrun launches over loopback, gloo, 1 process).

Data parallel and expert parallel: both ranks must end with identical weights
(expert parallel: identical outside the experts, whose shards differ by
design, and a checkpoint holding all 4 experts); BatchNorm's running
statistics are the only rank-local values. The Slurm scripts are run
against a stand-in ``srun`` that records its command line.
"""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from damex_mmdet.datasets.synthetic import generate_default_benchmark
from damex_mmdet.testing.reproducible import short_train_cfg
from damex_mmdet.utils.safe_checkpoint import load_checkpoint_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'damex', 'damex-dino-tiny_r18_1xb4-600i_damex-default.py')


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize('parallel', ['data', 'expert'])
def test_two_nodes_end_with_identical_weights(tmp_path, parallel):
    data_root = str(tmp_path / 'data')
    generate_default_benchmark(data_root, scale=0.02, progress=False)
    cfg = short_train_cfg(CONFIG, data_root, str(tmp_path / 'wd'), max_iters=2,
                          checkpoint_interval=2)
    cfg.custom_imports.imports.append('damex_mmdet.testing.rank_state')
    cfg.custom_hooks.append(dict(type='DumpRankWeightsHook', out_dir=str(tmp_path / 'ranks')))
    if parallel == 'expert':  # the two lines of docs/distributed.md
        cfg.model_wrapper_cfg = dict(type='ExpertParallelDistributedDataParallel')
        cfg.default_hooks.checkpoint.type = 'ExpertParallelCheckpointHook'
    config = str(tmp_path / 'cfg.py')
    cfg.dump(config)
    port = _free_port()
    procs = [
        subprocess.Popen(['bash', osp.join(REPO, 'tools', 'dist_train.sh'), config, '1'],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=dict(os.environ, NNODES='2', NODE_RANK=str(rank),
                                  MASTER_ADDR='127.0.0.1', PORT=str(port),
                                  PYTHON=sys.executable, OMP_NUM_THREADS='1'))
        for rank in (0, 1)
    ]
    logs = [proc.communicate(timeout=900)[0] for proc in procs]
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log[-4000:]
    assert 'GPU number: 2' in logs[0]  # mmengine's runtime environment: world size 2
    ranks = [torch.load(str(tmp_path / 'ranks' / f'rank{r}.pth'), weights_only=True)
             for r in (0, 1)]
    shared = [key for key in ranks[0] if '.experts.' not in key or parallel == 'data']
    assert len(shared) > 100
    differing = [key for key in shared if not torch.equal(ranks[0][key], ranks[1][key])]
    # only BatchNorm's running statistics are rank-local (DDP without buffer broadcast, as on
    # one node; rank 0's are saved): every weight is the same on both ranks
    assert differing and all(key.rsplit('.', 1)[1] in ('running_mean', 'running_var')
                             for key in differing), differing
    experts = [key for key in ranks[0] if '.experts.' in key]
    checkpoint = load_checkpoint_file(str(tmp_path / 'wd' / 'iter_2.pth'),
                                      map_location='cpu')['state_dict']
    for key in experts:  # expert parallel: 2 of 4 experts per rank, all 4 in the checkpoint
        assert ranks[0][key].shape[0] == (4 if parallel == 'data' else 2), key
        assert checkpoint[key].shape[0] == 4
    if parallel == 'expert':
        assert any(not torch.equal(ranks[0][key], ranks[1][key]) for key in experts)


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh'])
def test_slurm_scripts_launch_our_tools_with_the_slurm_launcher(tmp_path, script):
    fake = tmp_path / 'bin'
    fake.mkdir()
    (fake / 'srun').write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$SRUN_LOG"\n')
    (fake / 'srun').chmod(0o755)
    log = tmp_path / 'srun.log'
    env = dict(os.environ, PATH=f'{fake}:{os.environ["PATH"]}', SRUN_LOG=str(log), GPUS='16',
               GPUS_PER_NODE='8', SRUN_ARGS='--qos high')
    fourth = 'work_dirs/x' if script == 'slurm_train.sh' else 'x.pth'
    subprocess.run(['bash', osp.join(REPO, 'tools', script), 'gpu', 'damex', 'cfg.py', fourth,
                    '--cfg-options', 'a=1'], env=env, check=True)
    args = log.read_text().split('\n')
    assert args[:8] == ['-p', 'gpu', '--job-name=damex', '--gres=gpu:8', '--ntasks=16',
                        '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1']
    assert args[8:10] == ['--qos', 'high']
    tool = 'train.py' if script == 'slurm_train.sh' else 'test.py'
    assert args[11:13] == ['-u', osp.join(REPO, 'tools', tool)]
    assert '--launcher=slurm' in args and args[-3:-1] == ['--cfg-options', 'a=1']
