"""The comparison tool end to end on a tiny copy of the built-in benchmark (2 iterations).

Two variants x two seeds, one of them continued from the other's checkpoint:
the report has every table and file, and a second call retrains nothing.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from damex_mmdet.datasets.synthetic import generate_default_benchmark

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'run_default_benchmark.py')
FAST = ['train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']


def _run(args, cwd):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    proc = subprocess.run([sys.executable, TOOL, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f'{args} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}'
    return proc.stdout


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    cwd = tmp_path_factory.mktemp('bench')
    generate_default_benchmark(str(cwd / 'data'), scale=0.02, progress=False)
    args = ['--variants', 'dense', 'cont-damex', '--seeds', '2', '--max-iters', '2',
            '--data-root', 'data', '--work-dir', 'wd', '--jobs', '2', '--cfg-options', *FAST]
    return cwd, args, _run(args, cwd)


@pytest.mark.slow  # 8 runs through the tool, ~2.5 min
def test_report_files_and_tables(finished):
    cwd, _, out = finished
    for name in ('results.md', 'results.csv', 'results.json', 'results.png'):
        assert (cwd / 'wd' / name).exists(), name
    results = json.loads((cwd / 'wd' / 'results.json').read_text())
    assert results['baseline'] == 'dense' and results['seeds'] == [0, 1]
    assert sorted(results['per_seed']['cont-damex']) == ['0', '1']
    diff = results['comparison']['cont-damex']['mean/bbox_mAP']['difference']
    assert diff['n'] == 2 and diff['seeds'] == [0, 1]
    md = (cwd / 'wd' / 'results.md').read_text()
    assert 'variant - baseline' in md and 'router acc' in md and 'xray AP50' in md
    assert '| cont-damex |' in md
    # the seed planning table: one row per variant against the baseline, read from the pairs
    assert 'How many seeds' in md and 'pairs needed to detect ±2 (80% power)' in md
    assert [row[:2] for row in results['power'][1:]] == [['cont-damex', '2']]


@pytest.mark.slow  # 8 runs through the tool, ~2.5 min
def test_continuation_starts_from_the_same_seeds_dense_checkpoint(finished):
    cwd, _, _ = finished
    for seed in (0, 1):
        cfg = Config.fromfile(str(cwd / 'wd' / 'cont-damex' / f'seed{seed}' / 'run_config.py'))
        assert cfg.load_from.endswith(osp.join('dense', f'seed{seed}', 'iter_2.pth'))
        assert cfg.randomness.seed == seed


@pytest.mark.slow  # 8 runs through the tool, ~2.5 min
def test_second_call_retrains_nothing(finished):
    cwd, args, _ = finished
    out = _run(args, cwd)
    assert out.count('finished before, not retrained') == 4
    assert 'training (' not in out


@pytest.mark.slow  # 8 runs through the tool, ~2.5 min
def test_report_only_trains_nothing_and_leaves_unfinished_runs_out(finished):
    cwd, args, _ = finished
    at = args.index('--variants')
    report_args = args[:at] + ['--variants', 'dense', 'moe'] + args[at + 3:] + ['--report-only']
    out = _run(report_args, cwd)
    assert out.count('not finished, left out of the report') == 2
    assert 'training (' not in out
    assert not (cwd / 'wd' / 'moe').exists()
    md = (cwd / 'wd' / 'results.md').read_text()
    # datasets in config order, not alphabetical
    assert md.index('watercolor AP50') < md.index('comic AP50') < md.index('xray AP50')


@pytest.mark.slow
def test_interrupted_run_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    """Kill the tool (SIGKILL to its process group) after a checkpoint; the next call resumes."""
    import signal
    import time

    import torch

    from damex_mmdet.utils.safe_checkpoint import load_checkpoint_file
    generate_default_benchmark(str(tmp_path / 'data'), scale=0.02, progress=False)
    args = ['--variants', 'dense', '--seeds', '1', '--max-iters', '6', '--checkpoint-interval',
            '2', '--data-root', 'data', '--cfg-options', *FAST]
    _run(args + ['--work-dir', 'full'], tmp_path)
    run = tmp_path / 'cut' / 'dense' / 'seed0'
    proc = subprocess.Popen([sys.executable, TOOL, *args, '--work-dir', 'cut'], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 600
    while not (run / 'iter_2.pth').exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / 'summary.json').exists() and not (run / 'iter_6.pth').exists()
    out = _run(args + ['--work-dir', 'cut'], tmp_path)
    assert f'dense seed 0: resuming from {run}/iter_' in out
    summaries = [json.loads((tmp_path / wd / 'dense' / 'seed0' / 'summary.json').read_text())
                 for wd in ('full', 'cut')]
    assert summaries[1]['resumed_from'] and not summaries[0]['resumed_from']
    assert summaries[0]['metrics'] == summaries[1]['metrics']
    weights = [load_checkpoint_file(str(tmp_path / wd / 'dense' / 'seed0' / 'iter_6.pth'),
                                    map_location='cpu')['state_dict'] for wd in ('full', 'cut')]
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


@pytest.mark.slow  # 2 runs through the tool, ~1.5 min
def test_own_data_variants_train_on_their_own_data(tmp_path):
    """Two variants of one's own mixture: their data roots are used as they are.

    The own data uses the built-in datasets' names but lives in ``own/``; ``--data-root``
    names a folder that does not exist. Rewriting the own configs' data roots (what the
    tool did before) would point them at ``missing/<name>/`` and fail.
    """
    generate_default_benchmark(str(tmp_path / 'own'), scale=0.02, progress=False)
    names = ('watercolor', 'comic', 'street', 'signs', 'kitchen', 'xray')
    roots = ', '.join(f"{n}=dict(data_root='{tmp_path / 'own' / n}/')" for n in names)
    for method, base in (('dense', 'dino/dino'), ('damex', 'damex/damex-dino')):
        (tmp_path / f'{method}.py').write_text(
            f"_base_ = ['damex_mmdet::{base}-tiny_r18_1xb4-600i_damex-default.py']\n"
            f'train_dataloader = dict(dataset=dict(datasets=dict({roots})))\n'
            f'test_dataloader = dict(dataset=dict(datasets=dict({roots})))\n')
    out = _run(['--variant', f'mine-dense={tmp_path / "dense.py"}', '--variant',
                f'mine-damex={tmp_path / "damex.py"}', '--baseline', 'mine-dense',
                '--max-iters', '2', '--data-root', 'missing', '--work-dir', 'wd',
                '--cfg-options', *FAST], tmp_path)
    assert not (tmp_path / 'missing').exists()  # nothing generated for own variants
    for variant in ('mine-dense', 'mine-damex'):
        cfg = Config.fromfile(str(tmp_path / 'wd' / variant / 'seed0' / 'run_config.py'))
        assert cfg.train_dataloader.dataset.datasets.street.data_root == \
            f"{tmp_path / 'own' / 'street'}/"
    results = json.loads((tmp_path / 'wd' / 'results.json').read_text())
    assert results['baseline'] == 'mine-dense' and sorted(results['per_seed']) == \
        ['mine-damex', 'mine-dense']
    assert 'its own data' in out


def test_the_benchmark_version_picks_its_data_folder(monkeypatch):
    from damex_mmdet.testing.scripts import load_script
    tool = load_script(TOOL)
    seen = []
    monkeypatch.setattr(tool, 'run_comparison', lambda settings, *a, **k: seen.append(settings))
    tool.main(['--variants', 'dense'])
    tool.main(['--variants', 'dense', '--benchmark-version', '2'])
    tool.main(['--variants', 'dense', '--benchmark-version', '2', '--data-root', 'mine'])
    assert [(s.benchmark_version, s.data_root) for s in seen] == [
        (1, 'data/damex_default'), (2, 'data/damex_default_v2'), (2, 'mine')]
