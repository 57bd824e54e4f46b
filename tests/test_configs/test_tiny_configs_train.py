"""Every shipped tiny config trains through mmengine's Runner: one short run per routing.

Two iterations of batch 2 on a 2 % copy of the built-in benchmark, with the
configs' own train loop and hooks (no checkpoint is written: saving costs
more than the two steps): the losses are finite and each MoE routing adds
its auxiliary loss where it has one.
"""
import math
import os.path as osp

import pytest
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmdet.registry import HOOKS

from damex_mmdet.datasets.synthetic import generate_default_benchmark
from damex_mmdet.testing.reproducible import short_train_cfg

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = {
    'dense': ('dino/dino-tiny_r18_1xb4-600i_damex-default.py', None),
    'moe': ('moe/dino-moe-tiny_r18_1xb4-600i_damex-default.py', 'loss_balance'),
    'damex': ('damex/damex-dino-tiny_r18_1xb4-600i_damex-default.py', 'loss_damex'),
    'gem': ('gem/gem-dino-tiny_r18_1xb4-600i_damex-default.py', 'loss_damex'),
    'remoe': ('remoe/remoe-dino-tiny_r18_1xb4-600i_damex-default.py', 'loss_l1'),
    'softmoe': ('softmoe/softmoe-dino-tiny_r18_1xb4-600i_damex-default.py', None),
    'moepp': ('moepp/moepp-dino-tiny_r18_1xb4-600i_damex-default.py', 'loss_balance'),
}


@HOOKS.register_module(force=True)
class _KeepLosses(Hook):
    """Every iteration's loss dict (the runner's outputs)."""

    seen = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.seen.append({key: float(value) for key, value in outputs.items()})


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('tiny_data'))
    generate_default_benchmark(root, scale=0.02, progress=False)
    return root


@pytest.mark.filterwarnings('ignore')
@pytest.mark.parametrize('method', sorted(CONFIGS))
def test_tiny_config_trains_two_iterations(tmp_path, data_root, method):
    config, aux_loss = CONFIGS[method]
    cfg = short_train_cfg(osp.join(REPO, 'configs', config), data_root, str(tmp_path), 2, 2)
    cfg.custom_hooks.append(dict(type='_KeepLosses'))
    cfg.default_hooks.checkpoint = None
    cfg.log_level = 'WARNING'
    _KeepLosses.seen.clear()
    Runner.from_cfg(cfg).train()
    assert len(_KeepLosses.seen) == 2
    for losses in _KeepLosses.seen:
        assert all(math.isfinite(v) for v in losses.values()), losses
        if aux_loss is not None:
            assert any(key.endswith(aux_loss) for key in losses), (aux_loss, sorted(losses))
