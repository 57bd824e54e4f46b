"""A comparison from start to report: what the comparison tool runs.

:func:`run_comparison` generates the built-in benchmark when a built-in
variant needs it, says what will run, executes the runs and writes the
report, then tells where each run's files are and, for a single seed, where
the result sits in the recorded multi-seed spread.
"""
import os.path as osp
import time
from typing import Callable, Dict, List

from .report import recorded_spread, report
from .runs import (ComparisonSettings, RunPlan, execute, final_checkpoint,
                   run_dir)
from .variants import Variant

__all__ = ['run_comparison']


def run_comparison(settings: ComparisonSettings, variants: Dict[str, Variant], seeds: List[int],
                   baseline: str = 'dense', target_diff: float = 2.0,
                   log: Callable[[str], None] = print) -> str:
    """Train (or reuse) every (variant, seed) and report; returns the markdown.

    Raises:
        ValueError: a continuation variant without the variant it starts from.
        RuntimeError: no run finished (``report_only``) or a run failed.
    """
    from damex_mmdet.datasets.synthetic import DEFAULT_ROOTS, generate_default_benchmark

    plan = RunPlan(settings, variants, seeds)
    version = settings.benchmark_version
    if any(v.builtin_data for v in variants.values()) and (
            settings.data_root == DEFAULT_ROOTS[version] or not osp.isdir(settings.data_root)):
        # seconds; skipped when already there
        generate_default_benchmark(settings.data_root, version=version)
    start = time.time()
    log(f'{len(plan.runs)} runs: {list(variants)} x seeds {list(seeds)}, {settings.jobs} at a '
        'time')
    for name, variant in variants.items():
        data = (f'benchmark v{version} ({settings.data_root})' if variant.builtin_data
                else 'its own data')
        if variant.adds:  # its config is written once the detector it joins is trained
            iters = variant.addition.max_iters or "the trained config's"
            log(f'- {name}: {variant.description}; {iters} iterations '
                f'after {variant.starts_from}, then every dataset tested on its own label slice')
            continue
        cfg = plan.config(name, seeds[0])
        log(f'- {name}: {variant.description}; {cfg.train_cfg.max_iters} iterations of batch '
            f'{cfg.train_dataloader.batch_size} on {data}, then every dataset tested on its own '
            'label slice')
    log('Each run prints "time estimate: ..." after its first iterations (the main job: 5-6 '
        'min on a quiet 2-core CPU, ~10 min with other work beside it).')
    summaries = execute(plan, lambda msg: log(f'[benchmark] {msg}'))
    if not summaries:
        raise RuntimeError('no finished run to report.')
    markdown = report(summaries, variants, baseline, settings.work_dir, target_diff,
                      settings.benchmark_version)
    log('\n' + markdown)
    for (name, seed), summary in summaries.items():
        directory = run_dir(settings.work_dir, name, seed)
        log(f'[{name} seed {seed}] {directory} (per_dataset_ap.md/.csv in its log folder)')
        if osp.exists(osp.join(directory, 'last_checkpoint')):
            log(f'[{name} seed {seed}] checkpoint: {final_checkpoint(directory)}')
        if 'routing_dir' in summary:
            log(f"[{name} seed {seed}] expert utilization heatmap: "
                f"{osp.join(summary['routing_dir'], 'expert_utilization.png')}")
        # the recorded spread is of the shipped schedule on benchmark v1, as configured
        recorded_regime = (settings.max_iters is None and not settings.cfg_options and
                           settings.benchmark_version == 1 and variants[name].builtin_data)
        spread = recorded_spread(name) if recorded_regime else None
        if spread and len(seeds) == 1:
            mean, std, n, low, high = spread
            value = summary['metrics']['mean/bbox_mAP']
            where = 'inside' if low <= value <= high else 'outside'
            log(f'[{name} seed {seed}] mean AP {100 * value:.1f}; recorded over {n} seeds '
                f'(README): {100 * mean:.1f} ± {100 * std:.1f}, range {100 * low:.1f}-'
                f'{100 * high:.1f}: this run is {where} the recorded range. Across machines '
                'only the spread is reproducible, not the digits.')
    log(f'summary: {settings.work_dir}/results.md, results.csv, results.json, results.png '
        f'({time.time() - start:.0f} s)')
    return markdown
