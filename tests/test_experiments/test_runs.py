"""Configs of the runs of a comparison (no training)."""
import os.path as osp

import pytest

from damex_mmdet.experiments import (VARIANTS, ComparisonSettings, build_config,
                                     custom_variants)
from damex_mmdet.utils.config_scope import CONFIG_ROOT


def test_every_named_variant_builds_the_model_it_describes():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    settings = ComparisonSettings(work_dir='unused')
    kinds = {}
    for name, variant in VARIANTS.items():
        if variant.adds:  # built from a trained detector: tests/test_experiments/test_addition_runs
            continue
        cfg = build_config(name, variant, 0, settings)
        model = MODELS.build(cfg.model)
        layers = getattr(model, 'moe_layers', {})
        kinds[name] = sorted({(type(m).__name__, type(m.router).__name__)
                              for m in layers.values()})
    assert kinds['dense'] == kinds['dense-jitter'] == []
    assert kinds['remoe'] == [('MoEFFN', 'ReLURouter')]
    assert kinds['softmoe'] == [('SoftMoEFFN', 'SoftMoERouter')]
    assert kinds['moepp'] == [('MoEPlusPlusFFN', 'MoEPlusPlusRouter')]
    assert kinds['gem'] == [('MoEFFN', 'FixedMapRouter')]
    jitter = build_config('dense-jitter', VARIANTS['dense-jitter'], 0, settings)
    dense = build_config('dense', VARIANTS['dense'], 0, settings)
    assert jitter.optim_wrapper.optimizer.lr == pytest.approx(dense.optim_wrapper.optimizer.lr *
                                                              (1 + 1e-6))


def test_only_named_variants_are_pointed_at_the_benchmark_data(tmp_path):
    """A user's own config keeps its data roots, even with the benchmark's dataset names."""
    own = tmp_path / 'mine.py'
    base = osp.join(CONFIG_ROOT, 'damex/damex-dino-tiny_r18_1xb4-600i_damex-default.py')
    own.write_text(f"_base_ = ['{base}']\n"
                   "train_dataloader = dict(dataset=dict(datasets=dict("
                   "street=dict(data_root='/my/street/'))))\n")
    settings = ComparisonSettings(data_root='bench', max_iters=10)
    mine = custom_variants([[f'mine={own}']])['mine']
    cfg = build_config('mine', mine, 3, settings)
    assert cfg.train_dataloader.dataset.datasets.street.data_root == '/my/street/'
    named = build_config('damex', VARIANTS['damex'], 3, settings)
    assert named.train_dataloader.dataset.datasets.street.data_root == 'bench/street/'
    # everything else a comparison fixes applies to both
    for c in (cfg, named):
        assert c.randomness.seed == 3 and c.train_cfg.max_iters == 10 and c.val_cfg is None


def test_benchmark_v2_runs_also_score_the_unannotated_objects():
    from damex_mmdet.datasets.synthetic import V2_DRAWN_EVALS
    v1 = build_config('damex', VARIANTS['damex'], 0, ComparisonSettings())
    v2 = build_config('damex', VARIANTS['damex'], 0, ComparisonSettings(
        data_root='data/damex_default_v2', benchmark_version=2))
    assert 'drawn_evals' not in v1.test_evaluator
    assert v2.test_evaluator.drawn_evals == {k: list(v) for k, v in V2_DRAWN_EVALS.items()}
    assert v2.test_dataloader.dataset.datasets.signs.data_root == 'data/damex_default_v2/signs/'


def test_a_v2_run_is_tied_to_the_spec_it_trained_on(monkeypatch):
    """Another draft of v2's spec gives another fingerprint: its finished runs are not reused."""
    from damex_mmdet.datasets import synthetic
    from damex_mmdet.experiments.runs import fingerprint
    settings = ComparisonSettings(data_root='data/damex_default_v2', benchmark_version=2)
    v1 = build_config('dense', VARIANTS['dense'], 0, ComparisonSettings())
    assert 'benchmark_spec_digest' not in v1  # v1's fingerprints stay what they were
    first = build_config('dense', VARIANTS['dense'], 0, settings)
    assert first.benchmark_spec_digest == synthetic.benchmark_spec_digest(2)
    xray = synthetic.BENCHMARK_V2['xray']
    draft = dict(synthetic.BENCHMARK_V2, xray=dict(xray, max_objects=xray['max_objects'] + 1))
    monkeypatch.setattr(synthetic, 'BENCHMARKS', {1: synthetic.DEFAULT_BENCHMARK, 2: draft})
    second = build_config('dense', VARIANTS['dense'], 0, settings)
    assert fingerprint(second) != fingerprint(first)


def test_a_run_of_another_config_is_set_aside_not_deleted(tmp_path):
    from damex_mmdet.experiments.runs import _set_aside
    run = tmp_path / 'damex' / 'seed0'
    (run / 'routing').mkdir(parents=True)
    for name, text in (('fingerprint', 'abc123'), ('summary.json', '{"metrics": {}}'),
                       ('iter_300.pth', 'weights'), ('last_checkpoint', 'iter_300.pth'),
                       ('routing/top1_share.csv', 'layer')):
        (run / name).write_text(text)
    lines = []
    _set_aside(str(run), lines.append)
    assert sorted(p.name for p in run.iterdir()) == ['superseded']
    kept = run / 'superseded' / 'abc123'
    assert (kept / 'summary.json').read_text() == '{"metrics": {}}'
    assert (kept / 'iter_300.pth').exists() and (kept / 'routing' / 'top1_share.csv').exists()
    assert 'fingerprint abc123' in lines[0] and 'kept in' in lines[0]
    _set_aside(str(run), lines.append)  # nothing left to move: nothing said
    assert len(lines) == 1


def test_every_run_gets_its_timing_hooks_once_even_from_a_dumped_run_config():
    from damex_mmdet.experiments.runs import RUN_HOOKS, with_run_hooks
    user = [dict(type='ExpertMapHook'), dict(type='RoutingStatsHook', interval=50)]
    fresh = with_run_hooks(user)
    assert fresh[:2] == user and [h['type'] for h in fresh[2:]] == list(RUN_HOOKS)
    # an addition's config inherits the hooks of the run it grows: none is added twice
    again = with_run_hooks(fresh)
    assert [h['type'] for h in again] == [h['type'] for h in fresh]
    assert [h['type'] for h in with_run_hooks(None)] == list(RUN_HOOKS)


def test_a_finished_run_is_archived_as_the_comparison_meets_it(tmp_path):
    import json

    from damex_mmdet.experiments import RunPlan, execute, fingerprint

    settings = ComparisonSettings(work_dir=str(tmp_path / 'wd'), report_only=True,
                                  archive_dir=str(tmp_path / 'archive'))
    plan = RunPlan(settings, {'dense': VARIANTS['dense']}, [0, 1])
    finished = tmp_path / 'wd' / 'dense' / 'seed0'
    finished.mkdir(parents=True)
    summary = dict(metrics={'mean/bbox_mAP': 0.5}, fingerprint=fingerprint(plan.config('dense', 0)))
    (finished / 'summary.json').write_text(json.dumps(summary))
    lines = []
    done = execute(plan, lines.append)
    assert list(done) == [('dense', 0)]  # seed 1 has not run
    archived = tmp_path / 'archive' / 'dense' / 'seed0' / 'summary.json'
    assert json.loads(archived.read_text()) == summary
    assert not (tmp_path / 'archive' / 'dense' / 'seed1').exists()
    assert f'dense seed 0: archived in {archived.parent}' in lines

    other = dict(summary, fingerprint='another config')  # the archive keeps its own record
    archived.write_text(json.dumps(other))
    lines.clear()
    execute(plan, lines.append)
    assert json.loads(archived.read_text()) == other
    assert any(line.startswith('dense seed 0: not archived: the archive already holds')
               for line in lines)
