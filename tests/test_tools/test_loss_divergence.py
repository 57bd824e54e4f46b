"""The loss-divergence tool end to end: one-expert DAMEX trains bit-identically to dense.

Two iterations of the real training loop (runner, optimiser with clipping,
schedule, hooks) on a tiny copy of the built-in benchmark: the one-expert
control must give the dense run's losses bit for bit, DAMEX with four experts
must not (its router weights the expert output and adds the CE loss).
"""
import json
import os
import subprocess
import sys

import pytest

from damex_mmdet.datasets.synthetic import generate_default_benchmark

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, 'tools', 'analysis', 'loss_divergence.py')
FAST = ['train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False']


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    cwd = tmp_path_factory.mktemp('divergence')
    generate_default_benchmark(str(cwd / 'data'), scale=0.02, progress=False)
    args = [sys.executable, TOOL, '--variants', 'damex-1expert', 'damex', '--iters', '2',
            '--data-root', 'data', '--work-dir', 'wd', '--cfg-options', *FAST]
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    again = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    return cwd, json.loads((cwd / 'wd' / 'divergence.json').read_text()), again.stdout


@pytest.mark.slow  # 4 trainings through the tool, ~70 s
def test_one_expert_damex_is_the_dense_detector_and_damex_is_not(report):
    _, result, _ = report
    rows = {row['variant']: row for row in result['rows']}
    assert result['baseline'] == 'dense'
    assert rows['damex-1expert']['identical_prefix'] == 2
    assert rows['damex-1expert']['diffs'] == [0.0, 0.0]
    assert rows['damex']['first_above']['0'] == 1


@pytest.mark.slow  # 4 trainings through the tool, ~70 s
def test_files_and_a_second_call_trains_nothing(report):
    cwd, _, second = report
    for name in ('md', 'csv', 'json', 'png'):
        assert (cwd / 'wd' / f'divergence.{name}').exists()
    assert second.count('reusing the finished trace') == 3
    assert (cwd / 'wd' / 'dense' / 'seed0' / 'loss_trace.json').exists()
