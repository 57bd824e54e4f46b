"""Every shipped config parses and names only registered types."""
import glob
import os.path as osp

import pytest
from mmdet.registry import HOOKS, MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.registry import MODEL_WRAPPERS

import damex_mmdet  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '*', '*.py')))


def test_configs_are_found():
    assert len(CONFIGS) >= 9, CONFIGS


@pytest.mark.parametrize('path', CONFIGS)
def test_config_parses_and_types_are_registered(path):
    register_all_modules()
    cfg = Config.fromfile(osp.join(REPO, path))
    assert MODELS.get(cfg.model.type) is not None, cfg.model.type
    for hook in list(cfg.get('custom_hooks', [])) + list(cfg.default_hooks.values()):
        assert HOOKS.get(hook['type']) is not None, hook['type']
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is not None:
        assert MODEL_WRAPPERS.get(wrapper['type']) is not None, wrapper['type']
    moe = cfg.model.get('moe_cfg')
    if moe is not None and wrapper is not None and 'ExpertParallel' in wrapper['type']:
        assert moe['num_experts'] % 8 == 0  # one expert (or more) per GPU of 8xb2
        assert 'ExpertParallel' in cfg.default_hooks.checkpoint.type
