"""Data-parallel training with torchrun on 2 CPU processes (gloo), then a 1-process load.

The GEM router with a map sending every dataset to expert 0 makes experts 1-3
receive no token at all: plain DDP (``find_unused_parameters=False``) must not
hang, because batched experts keep every expert parameter in the graph.

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and builds DDP
with ``device_ids``, both of which fail without CUDA; ``tools/train.py`` opens
the gloo group itself and drops the device ids on CPU (docs/distributed.md).
The sampler's disjoint, complete per-rank epochs are unit-tested in
tests/test_datasets/test_samplers.py::test_ranks_are_disjoint_and_cover_the_epoch.
"""
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from damex_mmdet.datasets.synthetic import generate_default_benchmark
from damex_mmdet.utils.safe_checkpoint import load_checkpoint_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'damex', 'damex-dino-tiny_r18_1xb4-600i_damex-default.py')
DATASETS = ('watercolor', 'comic', 'street', 'signs', 'kitchen', 'xray')
# the GEM router with every dataset mapped to expert 0: experts 1-3 get no token
MODEL_OPTIONS = {
    'model.moe_cfg.router.type': 'FixedMapRouter',
    **{f'model.moe_cfg.expert_map.{name}': [0]
       for name in DATASETS}
}
CFG_OPTIONS = [
    'train_cfg.max_iters=2', 'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2',
    'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
    'custom_hooks.1.interval=1',
    *[f'{key}={value}'.replace(' ', '') for key, value in MODEL_OPTIONS.items()]
]


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    torchrun = shutil.which('torchrun', path=osp.dirname(sys.executable))
    if torchrun is None:
        pytest.skip('torchrun is not installed next to this Python')
    cwd = tmp_path_factory.mktemp('dist')
    generate_default_benchmark(str(cwd / 'data' / 'damex_default'), scale=0.02, progress=False)
    work_dir = cwd / 'wd'
    cmd = [
        torchrun, '--nproc_per_node=2', f'--master_port={_free_port()}',
        osp.join(REPO, 'tools', 'train.py'), CONFIG, '--launcher', 'pytorch', '--work-dir',
        str(work_dir), '--cfg-options', *CFG_OPTIONS
    ]
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'torchrun failed:\n{log[-4000:]}'
    return cwd, work_dir, log


@pytest.mark.slow  # torchrun, 2 processes, ~35 s
def test_two_ranks_train_and_rank0_writes_one_checkpoint(trained):
    cwd, work_dir, log = trained
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert 'Iter(train) [2/2]' in log
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['iter_2.pth']
    # RoutingStatsHook (rank 0): every token of both MoE layers went to expert 0,
    # yet DDP without find_unused_parameters finished both iterations
    scalars = [json.loads(line) for line in open(next(work_dir.glob('*/vis_data/scalars.json')))]
    shares = {k: v for row in scalars for k, v in row.items() if '/load_e' in k}
    assert len(shares) == 8  # 2 layers x 4 experts
    assert all(v == (1.0 if k.endswith('load_e0') else 0.0) for k, v in shares.items())


@pytest.mark.slow  # torchrun, 2 processes, ~35 s
def test_checkpoint_loads_strictly_in_one_process_and_predicts(trained, monkeypatch):
    cwd, work_dir, _ = trained
    import damex_mmdet  # noqa: F401  (registers DAMEXDINO, MultiDataset ...)
    from mmdet.registry import DATASETS, MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(MODEL_OPTIONS)  # the trained model: GEM router, all on expert 0
    model = MODELS.build(cfg.model)
    # the safe loader (weights_only=True + allow-list) reads what training wrote
    checkpoint = load_checkpoint_file(str(work_dir / 'iter_2.pth'), map_location='cpu')
    assert all(not key.startswith('module.') for key in checkpoint['state_dict'])  # unwrapped
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    model.eval()
    monkeypatch.chdir(cwd)  # data_root is relative to the working directory
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    with torch.no_grad():
        result = model.test_step(pseudo_collate([dataset[0]]))[0]
    scores, labels = result.pred_instances.scores, result.pred_instances.labels
    assert scores.numel() == cfg.model.test_cfg.max_per_img and torch.isfinite(scores).all()
    assert 0 <= int(labels.min()) and int(labels.max()) < 17  # the partitioned label space
