"""A routing defined in this file trains inside DINO through mmengine's Runner.

No file of the package is touched: the router registers itself in the MoE
registry and declares what it is (top-k dispatch, no targets, no auxiliary
loss); the shipped vanilla-MoE config picks it by name.
"""
import math
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmdet.registry import HOOKS

from damex_mmdet.datasets.synthetic import generate_default_benchmark
from damex_mmdet.moe import MOE_MODULES, Router, RoutingPlan, RoutingRecorder
from damex_mmdet.testing.reproducible import short_train_cfg

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@MOE_MODULES.register_module(force=True)
class UniformRandomRouter(Router):
    """Top-1 to an expert drawn uniformly at random; no parameters, no loss."""

    dispatch = 'topk'

    def __init__(self, embed_dims: int, num_experts: int):
        super().__init__()
        self.num_experts = num_experts

    def reset_parameters(self) -> None:
        pass

    def forward(self, x, target=None, generator=None) -> RoutingPlan:
        index = torch.randint(0, self.num_experts, (x.shape[0], 1), generator=generator,
                              device=x.device)
        logits = torch.zeros(x.shape[0], self.num_experts, device=x.device)
        weight = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
        return RoutingPlan(index, weight, logits, logits, target)


@HOOKS.register_module(force=True)
class _RecordRouting(Hook):
    """Losses and routed sessions of every training iteration."""

    losses, sessions = [], []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.recorder = RoutingRecorder().attach()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.sessions.extend(self.recorder.pop())
        self.recorder.detach()
        self.losses.append({key: float(value) for key, value in outputs.items()})


@pytest.mark.filterwarnings('ignore')
def test_a_router_defined_here_trains_inside_dino(tmp_path):
    data_root = str(tmp_path / 'data')
    generate_default_benchmark(data_root, scale=0.02, progress=False)
    config = osp.join(REPO, 'configs/moe/dino-moe-tiny_r18_1xb4-600i_damex-default.py')
    cfg = short_train_cfg(config, data_root, str(tmp_path / 'work'), 2, 2)
    cfg.model.moe_cfg.router = dict(type='UniformRandomRouter')  # replaces TopKRouter's options
    cfg.model.moe_cfg.capacity_factor = 0.0
    cfg.custom_hooks = [dict(type='_RecordRouting')]
    cfg.default_hooks.checkpoint = None
    cfg.log_level = 'WARNING'
    _RecordRouting.losses.clear()
    _RecordRouting.sessions.clear()
    runner = Runner.from_cfg(cfg)
    layers = runner.model.moe_layers
    assert [type(layer.router).__name__ for layer in layers.values()] == \
        ['UniformRandomRouter'] * 2
    before = {name: layer.experts.w1.detach().clone() for name, layer in layers.items()}
    runner.train()
    assert len(_RecordRouting.losses) == 2
    for losses in _RecordRouting.losses:
        assert all(math.isfinite(v) for v in losses.values()), losses
        # it declares no auxiliary loss, so the detector adds none
        assert not any(key.startswith(('loss_balance', 'loss_damex')) for key in losses)
    # every MoE layer routed, to every expert (random top-1 over hundreds of tokens)
    records = [r for session in _RecordRouting.sessions for r in session.records]
    assert {r.name for r in records} == set(layers)
    chosen = torch.cat([r.plan.expert_index.flatten() for r in records])
    assert set(chosen.tolist()) == {0, 1, 2, 3}
    # and every expert was trained (its tokens reached it through the native mixing)
    for name, layer in layers.items():
        changed = (layer.experts.w1.detach() != before[name]).flatten(1).any(1)
        assert changed.all(), (name, changed)
