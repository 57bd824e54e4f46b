"""The add-a-dataset arms of the comparison tool: trained on five datasets, then the sixth added."""
import os.path as osp

import pytest
import torch

from damex_mmdet.datasets.synthetic import generate_default_benchmark
from damex_mmdet.experiments import ComparisonSettings, RunPlan, build_config, execute
from damex_mmdet.experiments.variants import VARIANTS, _addition_arms

FAST = {'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
        'test_dataloader.num_workers': 0, 'test_dataloader.persistent_workers': False}


def test_the_before_arm_leaves_the_dataset_out():
    cfg = build_config('damex-no-kitchen', VARIANTS['damex-no-kitchen'], 0, ComparisonSettings())
    assert sorted(cfg.train_dataloader.dataset.datasets) == [
        'comic', 'signs', 'street', 'watercolor', 'xray']
    assert sorted(cfg.test_dataloader.dataset.datasets) == sorted(
        cfg.train_dataloader.dataset.datasets)
    assert cfg.model.bbox_head.num_classes == 14  # 17 without kitchen's 3
    # the human prior without kitchen (its expert 2), the others renumbered in order
    assert dict(cfg.model.moe_cfg.expert_map) == {
        'watercolor': [0], 'comic': [0], 'street': [1], 'signs': [1], 'xray': [2]}
    assert cfg.model.moe_cfg.num_experts == 3


def test_an_addition_needs_its_trained_detector(tmp_path):
    with pytest.raises(ValueError, match="'damex-no-xray', which has not finished"):
        build_config('add-xray-frozen', VARIANTS['add-xray-frozen'], 0,
                     ComparisonSettings(work_dir=str(tmp_path)))


@pytest.mark.slow  # 2 runs of 2 iterations through subprocesses, ~2 min
def test_an_addition_trains_on_the_grown_detector_and_tests_all_datasets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    generate_default_benchmark('data', scale=0.02, progress=False)
    arms = _addition_arms('kitchen', (None, ), max_iters=2)
    variants = {k: arms[k] for k in ('damex-no-kitchen', 'add-kitchen-frozen')}
    settings = ComparisonSettings(work_dir='wd', data_root='data', max_iters=2,
                                  cfg_options=FAST, checkpoint_interval=2, archive_dir='kept')
    done = execute(RunPlan(settings, variants, [0]), log=print)
    before = done[('damex-no-kitchen', 0)]['metrics']
    after = done[('add-kitchen-frozen', 0)]['metrics']
    # both runs' records were archived, each with the machine that made it
    from damex_mmdet.experiments import load_summaries
    from damex_mmdet.experiments.archive import machine_record
    kept = load_summaries('kept', list(variants), [0])
    assert {v: s[0]['metrics'] for v, s in kept.items()} == {
        'damex-no-kitchen': before, 'add-kitchen-frozen': after}
    assert kept['add-kitchen-frozen'][0]['machine'] == machine_record()
    assert osp.exists(osp.join('kept', 'add-kitchen-frozen', 'seed0', 'routing',
                               'top1_share.csv'))
    assert 'kitchen/bbox_mAP' not in before and 'kitchen/bbox_mAP' in after
    # tested a second time with the new classes shut: kitchen finds nothing then
    assert after['shut/kitchen/bbox_mAP'] in (0.0, -1.0)
    assert 'shut/xray/bbox_mAP' in after
    assert {k for k in before if k.startswith('xray/')} <= set(after)
    # the addition started from the seed's trained five-dataset detector, frozen
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join('wd', 'add-kitchen-frozen', 'seed0', 'run_config.py'))
    assert cfg.load_from.endswith('_start.pth') and cfg.randomness.seed == 0
    assert cfg.train_cfg.max_iters == 2
    hook = [h for h in cfg.custom_hooks if h['type'] == 'KeepTrainedValuesHook'][0]
    trained = torch.load(osp.join('wd', 'damex-no-kitchen', 'seed0', 'iter_2.pth'),
                         weights_only=False)['state_dict']
    grown = torch.load(osp.join('wd', 'add-kitchen-frozen', 'seed0', 'iter_2.pth'),
                       weights_only=False)['state_dict']
    for key, value in trained.items():
        rows = hook['trainable_rows'].get(key, value.shape[0] if value.dim() else None)
        assert torch.equal(grown[key][:rows] if rows is not None else grown[key],
                           value[:rows] if rows is not None else value), key


def test_the_tool_announces_an_addition_before_its_detector_exists(tmp_path, monkeypatch):
    from damex_mmdet.experiments import run_comparison
    monkeypatch.chdir(tmp_path)
    generate_default_benchmark('data', scale=0.02, progress=False)
    lines = []
    settings = ComparisonSettings(work_dir='wd', data_root='data', report_only=True)
    variants = {k: VARIANTS[k] for k in ('damex-no-kitchen', 'add-kitchen-frozen')}
    with pytest.raises(RuntimeError, match='no finished run'):
        run_comparison(settings, variants, [0], log=lines.append)
    text = '\n'.join(lines)
    assert '- add-kitchen-frozen: ' in text and '600 iterations after damex-no-kitchen' in text
