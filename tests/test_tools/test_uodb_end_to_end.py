"""The shipped R50 UODB configs, end to end on a miniature 11-dataset UODB tree.

Runs docs/data.md's "Training on UODB" steps literally (convert, n-shot files,
train, test) with the stock entry points; the only changes are the ones a CPU
run must make, all through ``--cfg-options``: no pretrained backbone
download, a 64 px image scale (and, because of it, 50 instead of 900 DINO
queries), one short epoch, no loader workers. The tree is
written by :func:`damex_mmdet.testing.uodb_fixture.make_uodb_fixture`.
"""
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys

import pytest
from mmengine.config import Config

from damex_mmdet.datasets.uodb import UODB_DATASETS
from damex_mmdet.testing.uodb_fixture import make_uodb_fixture

# end to end (conversion ~30 s, each R50 training ~2 min on 2 cores): the --all tier
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'tools')
CONFIGS = {
    'dino': 'configs/dino/dino-4scale_r50_8xb2-12e_uodb.py',
    'moe': 'configs/moe/dino-moe-4scale_r50_8xb2-12e_uodb.py',
    'damex': 'configs/damex/damex-dino-4scale_r50_8xb2-12e_uodb.py',
    'gem': 'configs/gem/gem-dino-4scale_r50_8xb2-12e_uodb.py',
}
EP_CONFIG = 'configs/damex/damex-dino-4scale-ep_r50_8xb2-12e_uodb.py'
MIXTURES = sorted(p for p in os.listdir(osp.join(REPO, 'configs', '_base_', 'datasets', 'uodb'))
                  if p.startswith('uodb_') and p not in ('uodb_datasets.py', 'uodb_pipelines.py'))
NAMES = tuple(UODB_DATASETS)
SCALE = '(213,64)'  # (long, short) side instead of UODB's 853-1333 x 512-800
# DINO's two-stage query selection takes the top num_queries encoder tokens: a 64 px image has
# fewer than the configured 900 (85 for a square one), so the small scale needs fewer queries
NUM_QUERIES = 50


def readme_steps():
    """The shell lines of docs/data.md's "Training on UODB" block (the test runs them)."""
    with open(osp.join(REPO, 'docs', 'data.md')) as f:
        text = f.read()
    block = text.split('## Training on UODB', 1)[1].split('```bash', 1)[1].split('```', 1)[0]
    return [line.split('#', 1)[0].strip() for line in block.splitlines()
            if line.split('#', 1)[0].strip()]


def cpu_options(test_only=False):
    """What a CPU run must change, as --cfg-options."""
    options = ['model.backbone.init_cfg=None', f'model.num_queries={NUM_QUERIES}']
    loaders = ['test_dataloader'] if test_only else ['train_dataloader', 'val_dataloader',
                                                     'test_dataloader']
    for loader in loaders:
        options += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
        resize = 2 if loader == 'train_dataloader' else 1  # Load, [LoadAnn,] Resize
        options += [f'{loader}.dataset.datasets.{name}.pipeline.{resize}.scale={SCALE}'
                    for name in NAMES]
    if not test_only:
        # one epoch of the tree (11 images, batch 4: 3 iterations), no validation run
        options += ['train_cfg.max_epochs=1', 'train_cfg.val_begin=2',
                    'train_dataloader.batch_size=4', 'default_hooks.logger.interval=1']
    return options


def _run(cmd, cwd, timeout=600, env=None):
    env = dict(os.environ, PYTHONWARNINGS='ignore', **(env or {}))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd[:4])} ... failed:\n{log[-4000:]}'
    return log


@pytest.fixture(scope='module')
def uodb(tmp_path_factory):
    """A working directory with data/uodb converted by docs/data.md's commands."""
    cwd = tmp_path_factory.mktemp('uodb')
    make_uodb_fixture(str(cwd / 'data' / 'uodb'), images_per_split=1, short_side=40)
    nshot = tmp_path_factory.mktemp('uodb_nshot')  # KITTI with 1000 training images
    make_uodb_fixture(str(nshot / 'data' / 'uodb'), images_per_split=1, short_side=32,
                      kitti_train_images=1000)
    for line in readme_steps():
        convert = line.startswith('python tools/dataset_converters/')
        if not convert and 'make_nshot.py' not in line:
            continue  # training and testing run below, with the CPU options
        # the n-shot files need KITTI's 1000 images: only the second tree has them
        for where in ((cwd, nshot) if convert else (nshot, )):
            proc = subprocess.run(line.replace('python tools/', f'{sys.executable} {TOOLS}/'),
                                  shell=True, cwd=where, capture_output=True, text=True)
            assert proc.returncode == 0, f'docs/data.md: {line!r} failed:\n{proc.stderr[-3000:]}'
    return cwd, nshot


def test_readme_steps_convert_every_dataset(uodb):
    cwd, nshot = uodb
    steps = readme_steps()
    # the training / test lines name the config the test below trains and tests
    assert any(CONFIGS['damex'] in line and 'dist_train.sh' in line for line in steps)
    assert any(line.startswith(f"python tools/test.py {CONFIGS['damex']}") for line in steps)
    for name, spec in UODB_DATASETS.items():
        for split in spec.splits:
            assert osp.isfile(cwd / 'data' / 'uodb' / spec.folder / spec.ann_file(split)), \
                (name, split)
    # KITTI's raw names went through the rules: van/truck -> vehicle, DontCare dropped
    with open(nshot / 'data' / 'uodb' / 'KITTI' / 'annotations' / 'train.json') as f:
        kitti = json.load(f)
    assert [c['name'] for c in kitti['categories']] == ['pedestrian', 'cyclist', 'vehicle']
    for n in (50, 100, 1000):
        with open(nshot / 'data' / 'uodb' / 'KITTI' / 'annotations' /
                  f'train_{n}shot_seed0.json') as f:
            assert len(json.load(f)['images']) == n


@pytest.mark.parametrize('mixture', MIXTURES)
def test_every_mixture_serves_each_of_its_datasets(uodb, mixture):
    """Every dataset of every shipped mixture contributes samples with its dataset id."""
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cwd, nshot = uodb
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', 'uodb', mixture))
    root = nshot if 'shot' in mixture else cwd
    previous = os.getcwd()
    os.chdir(root)  # the configs read data/uodb relative to the working directory
    try:
        for loader in ('train_dataloader', 'test_dataloader'):
            dataset = DATASETS.build(cfg[loader].dataset)
            names = dataset.metainfo['dataset_names']
            assert names == tuple(sorted(cfg[loader].dataset.datasets))
            start = 0
            for dataset_id, size in enumerate(dataset.dataset_sizes):
                assert size > 0, (mixture, loader, names[dataset_id])
                meta = dataset[start]['data_samples'].metainfo
                assert meta['dataset_name'] == names[dataset_id]
                start += size
            if 'shot' in mixture and loader == 'train_dataloader':
                shots = int(mixture.split('-')[1].split('shot')[0])
                assert dataset.dataset_sizes[names.index('kitti')] == shots
    finally:
        os.chdir(previous)


@pytest.mark.parametrize('method', [
    'damex', *sorted(m for m in CONFIGS if m != 'damex')])
def test_shipped_uodb_config_trains_and_tests(uodb, method, tmp_path):
    cwd, _ = uodb
    config = osp.join(REPO, CONFIGS[method])
    work_dir = str(tmp_path / 'train')
    mim = shutil.which('mim', path=osp.dirname(sys.executable))
    if method == 'damex' and mim is not None:  # the stock OpenMMLab entry points
        train = [mim, 'train', 'mmdet', config]
        test = [mim, 'test', 'mmdet', config, '--checkpoint']
    else:
        train = [sys.executable, osp.join(TOOLS, 'train.py'), config]
        test = [sys.executable, osp.join(TOOLS, 'test.py'), config]
    log = _run([*train, '--work-dir', work_dir, '--cfg-options', *cpu_options()], cwd)
    assert 'Epoch(train) [1][3/3]' in log
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    from damex_mmdet.utils.safe_checkpoint import load_checkpoint_file
    meta = load_checkpoint_file(ckpt, map_location='cpu')['meta']
    assert meta['dataset_meta']['dataset_names'] == tuple(sorted(NAMES))
    if method != 'dino':
        stored = meta['damex_moe']
        assert stored['num_experts'] == 8
        if method != 'moe':  # vanilla MoE (R50) learns its routing: no map
            assert sorted(stored['expert_map']) == sorted(NAMES)
    out = _run([*test, ckpt, '--work-dir', str(tmp_path / 'test'), '--cfg-options',
                *cpu_options(test_only=True)], cwd)
    for name in (*NAMES, 'mean'):
        assert f'{name}/bbox_mAP:' in out, name
    tables = [osp.join(r, f) for r, _, fs in os.walk(tmp_path / 'test') for f in fs
              if f == 'per_dataset_ap.csv']
    with open(tables[0]) as f:
        header = f.readline().strip().split(',')
    # 11 columns in dataset-id (sorted name) order, then the mean
    assert header[1:] == [*sorted(NAMES), 'mean']


@pytest.mark.slow
def test_expert_parallel_config_on_two_gloo_processes(uodb, tmp_path):
    """8 experts over 2 ranks (4 each), one iteration, with torchrun on CPU."""
    torchrun = shutil.which('torchrun', path=osp.dirname(sys.executable))
    if torchrun is None:
        pytest.skip('torchrun is not installed next to this Python')
    cwd, _ = uodb
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    work_dir = tmp_path / 'ep'
    options = [o for o in cpu_options() if not o.startswith('train_dataloader.batch_size')]
    log = _run([torchrun, '--nproc_per_node=2', f'--master_port={port}',
                osp.join(TOOLS, 'train.py'), osp.join(REPO, EP_CONFIG), '--launcher', 'pytorch',
                '--work-dir', str(work_dir), '--cfg-options', *options,
                'train_dataloader.batch_size=6'], cwd,  # 11 images over 2 ranks: 1 iteration
               env=dict(OMP_NUM_THREADS='1'))
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert "Epoch(train) [1][1/1]" in log
    assert (work_dir / 'epoch_1.pth').exists()
