"""tools/analysis/*.py end to end on a tiny DAMEX-DINO config and checkpoint."""
import copy
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from damex_mmdet.analysis import RoutingStats
from damex_mmdet.evaluation.power import paired_t_power
from damex_mmdet.testing.scripts import load_script

TOOLS = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'analysis')


def load_tool(name):
    return load_script(osp.join(TOOLS, f'{name}.py'))


@pytest.fixture(scope='module')
def config_and_checkpoint(tmp_path_factory, tiny_damex, tiny_model_cfg, make_loader_cfg):
    root = tmp_path_factory.mktemp('analysis_tools')
    model = copy.deepcopy(tiny_model_cfg)
    # the config's map differs from the checkpoint's: the checkpoint's must win
    model['moe_cfg']['expert_map'] = dict(paint=[1], street=[0])
    cfg = Config(dict(custom_imports=dict(imports=['damex_mmdet'], allow_failed_imports=False),
                      default_scope='mmdet', model=model, test_dataloader=make_loader_cfg()))
    config = str(root / 'tiny_damex.py')
    cfg.dump(config)
    checkpoint = str(root / 'tiny_damex.pth')
    torch.save(dict(state_dict=tiny_damex.state_dict(),
                    meta=dict(damex_moe=tiny_damex.moe_summary())), checkpoint)
    return config, checkpoint


def test_expert_utilization_writes_every_output(config_and_checkpoint, tmp_path):
    config, checkpoint = config_and_checkpoint
    out = str(tmp_path / 'util')
    stats = load_tool('expert_utilization').main(
        [config, checkpoint, '--out-dir', out, '--max-images', '2', '--device', 'cpu'])
    assert stats.expert_map == dict(paint=[0], street=[1])  # restored from the checkpoint
    assert stats.num_images.tolist() == [2, 2]  # --max-images is per dataset
    for name in ('utilization.csv', 'utilization.png', 'utilization.md', 'top1_share.csv',
                 'router_accuracy.csv', 'router_accuracy.md', 'routing_stats.json'):
        assert osp.isfile(osp.join(out, name)), name
    header = open(osp.join(out, 'router_accuracy.csv')).readline().strip()
    assert header == 'layer,paint,street,mean'
    reloaded = RoutingStats.load(osp.join(out, 'routing_stats.json'))
    assert reloaded.to_dict() == stats.to_dict()


def test_router_accuracy_tool_matches_the_stats(config_and_checkpoint, tmp_path, capsys):
    config, checkpoint = config_and_checkpoint
    out = str(tmp_path / 'acc')
    stats = load_tool('router_accuracy').main(
        [config, checkpoint, '--out-dir', out, '--max-images', '1', '--tokens', 'matched'])
    rows = open(osp.join(out, 'router_accuracy.csv')).read().splitlines()
    accuracy = stats.router_accuracy('matched')['decoder.layers.0.ffn']
    assert rows[1] == 'decoder.layers.0.ffn,' + ','.join(
        f'{100 * accuracy[k]:.2f}' for k in ('paint', 'street', 'mean'))
    dominant = open(osp.join(out, 'dominant_expert.md')).read()
    assert '| paint   |' in dominant and '%)' in dominant
    assert '| layer ' in capsys.readouterr().out


def test_expert_collapse_on_data_and_random_tokens(config_and_checkpoint, tmp_path):
    config, checkpoint = config_and_checkpoint
    tool = load_tool('expert_collapse')
    for tokens in ('data', 'random'):
        out = str(tmp_path / tokens)
        verdicts = tool.main([config, checkpoint, '--out-dir', out, '--tokens', tokens,
                              '--max-images', '1', '--num-tokens', '32'])
        assert [v['layer'] for v in verdicts] == ['decoder.layers.0.ffn', 'decoder.layers.2.ffn']
        # freshly initialised experts are independent: not collapsed
        assert not any(v['collapsed'] for v in verdicts)
        lines = open(osp.join(out, 'weight_similarity.csv')).read().splitlines()
        assert lines[0] == 'layer,expert,e0,e1'
        assert lines[1].startswith('decoder.layers.0.ffn,e0,1.0000,')
        assert osp.isfile(osp.join(out, 'collapse.png'))
        assert open(osp.join(out, 'collapse.md')).read().count('\n- ') == 1


def test_results_table_tool(tmp_path, capsys):
    csv = tmp_path / 'per_dataset_ap.csv'
    csv.write_text('metric,kitti,voc,mean\nAP,61.80,56.00,58.90\n')
    rows = load_tool('results_table').main([f'DAMEX={csv}', '--out-dir', str(tmp_path / 'o')])
    assert rows[1] == ['DAMEX', '61.8', '56.0', '58.9']
    assert '| DAMEX  | 61.8  | 56.0 | 58.9 |' in capsys.readouterr().out
    assert osp.isfile(tmp_path / 'o' / 'results_table.md')


def test_plan_seeds_reads_a_committed_comparison(capsys):
    results = osp.join(osp.dirname(__file__), '..', '..', 'docs', 'results',
                       'default_benchmark', 'results.json')
    rows = load_tool('plan_seeds').main([results, '--target-diff', '2'])
    assert 'paired to \'dense\'' in capsys.readouterr().out
    damex = next(r for r in rows if r[0] == 'damex')
    with open(results) as f:
        diff = json.load(f)['comparison']['damex']['mean/bbox_mAP']['difference']
    std = 100 * diff['std']
    assert damex[1] == str(diff['n']) and damex[2] == f'{std:.1f}'
    needed = int(damex[4])  # the fewest pairs that detect 2 AP with this noise
    assert paired_t_power(2.0, std, needed) >= 0.8 > paired_t_power(2.0, std, needed - 1)
    with pytest.raises(SystemExit, match="no metric 'mean/nothing'"):
        load_tool('plan_seeds').main([results, '--metric', 'mean/nothing'])


def test_suggest_map_tool_writes_the_map_the_figure_and_a_child_config(config_and_checkpoint,
                                                                       tmp_path, capsys):
    config, checkpoint = config_and_checkpoint
    out, child = str(tmp_path / 'suggest'), str(tmp_path / 'suggest' / 'merged.py')
    # an untrained router: at threshold 0 every pair counts as confused, so both merge
    suggestion = load_tool('suggest_map').main(
        [config, checkpoint, '--out-dir', out, '--max-images', '2', '--device', 'cpu',
         '--threshold', '0', '--write-config', child])
    assert suggestion.expert_map == dict(paint=[0], street=[0])
    assert 'paint and street: one expert' in capsys.readouterr().out
    for name in ('suggested_map.json', 'confusion.png', 'merged.py'):
        assert osp.isfile(osp.join(out, name)), name
    merged = Config.fromfile(child)
    assert merged.model.moe_cfg.num_experts == 1
    assert dict(merged.model.moe_cfg.expert_map) == dict(paint=[0], street=[0])
    # at a threshold above 1 nothing is confused: the checkpoint's map stands
    kept = load_tool('suggest_map').main(
        [config, checkpoint, '--out-dir', out, '--max-images', '1', '--device', 'cpu',
         '--threshold', '1.01'])
    assert kept.expert_map == dict(paint=[0], street=[1]) and not kept.merged
