"""The report of a comparison: tables (markdown, CSV, JSON) and the figure.

AP x 100 as mean ± std over seeds, paired differences to the baseline per
seed with a 95% t interval, the seed-planning table once two pairs estimate
the noise, per-dataset AP (0.5:0.95) beside AP50, router accuracy at
inference, the pair of datasets each MoE run separates worst, every run's
mean AP and the training time per variant.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

from .runs import config_path, training_seconds
from .variants import Variant

__all__ = ['dataset_names', 'report', 'recorded_spread', 'RECORDED']

_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RECORDED = osp.join(_ROOT, 'docs', 'results', 'default_benchmark', 'results.json')


def dataset_names(config: str) -> List[str]:
    """Source datasets in config order (a dumped config has its keys sorted)."""
    return list(Config.fromfile(config_path(config)).test_dataloader.dataset.datasets)


def _expert_map(variant: Variant) -> Optional[Dict[str, List[int]]]:
    """The map a variant trains with (its options over its config's), or None."""
    option = variant.options.get('model.moe_cfg.expert_map')
    if option is not None:
        return option
    moe_cfg = Config.fromfile(config_path(variant.config)).model.get('moe_cfg') or {}
    return moe_cfg.get('expert_map')


def _confusion_rows(summaries: Dict[Tuple[str, int], dict],
                    variants: Dict[str, Variant]) -> List[List[str]]:
    """Per MoE run with a map: the pair on different experts its router separates worst.

    A run is left out when it wrote no routing statistics, when its variant
    leaves a dataset out or adds one (the map it trained is derived from the
    config's, renumbered), or when its statistics name a dataset the map lacks.
    """
    from damex_mmdet.analysis.map_suggestion import confusion_from_csv, most_confused_pair
    rows = []
    for (variant, seed), summary in sorted(summaries.items()):
        path = osp.join(summary.get('routing_dir') or '', 'top1_share.csv')
        arm = variants[variant]
        if arm.leave_out or arm.adds or not osp.isfile(path):
            continue
        expert_map = _expert_map(arm)
        if not expert_map:
            continue
        try:
            names, confusion = confusion_from_csv(path, expert_map)
        except ValueError:  # the statistics name a dataset the map lacks
            continue
        pair = most_confused_pair(names, confusion, expert_map)
        if pair:
            a, b, ab, ba = pair
            rows.append([variant, str(seed), f'{a} / {b}', f'{100 * ab:.1f}', f'{100 * ba:.1f}'])
    return rows


def report(summaries: Dict[Tuple[str, int], dict], variants: Dict[str, Variant],
           baseline: str, out_dir: str, target_diff: float = 2.0,
           benchmark_version: int = 1) -> str:
    """Write ``results.{md,csv,json,png}`` to ``out_dir``; return the markdown.

    Args:
        summaries (dict): ``(variant, seed) -> summary`` of the finished runs.
        variants (dict): name -> :class:`Variant` (descriptions, configs).
        baseline (str): the variant paired differences are taken to (the
            first variant when it did not run).
        out_dir (str): where the files go.
        target_diff (float): mean AP difference (x 100) the seed-planning table plans for.
        benchmark_version (int): the built-in benchmark's version (recorded in results.json).
    """
    from damex_mmdet.analysis.map_suggestion import CONFUSION_THRESHOLD
    from damex_mmdet.analysis.plots import plot_comparison
    from damex_mmdet.evaluation.comparison import (comparison_table_rows, compare_variants,
                                                   difference_table_rows)
    from damex_mmdet.evaluation.power import power_table_rows
    from damex_mmdet.evaluation.results_table import format_csv_table, format_markdown_table

    results = {}
    for (variant, seed), summary in summaries.items():
        results.setdefault(variant, {})[seed] = summary['metrics']
    names = dataset_names(variants[next(iter(summaries))[0]].config)
    ap_metrics = [f'{n}/bbox_mAP_50' for n in names] + ['mean/bbox_mAP_50', 'mean/bbox_mAP']
    ap_labels = [f'{n} AP50' for n in names] + ['mean AP50', 'mean AP']
    acc_metrics = sorted({k for s in summaries.values() for k in s['metrics']
                          if k.startswith('router_acc/')})
    if baseline not in results:
        baseline = next(iter(results))
    # AP over IoU 0.5:0.95 per dataset: where AP50 saturates, the differences show here
    box_metrics = [f'{n}/bbox_mAP' for n in names if any(
        f'{n}/bbox_mAP' in s['metrics'] for s in summaries.values())]
    box_labels = [f"{m.split('/')[0]} AP" for m in box_metrics] + ['mean AP']
    comparison = compare_variants(results, ap_metrics + box_metrics + acc_metrics, baseline)
    seeds = sorted({seed for _, seed in summaries})
    paired = len(results) > 1  # a single variant has nothing to pair with
    lines = [f'Seeds {seeds}; AP x 100, mean ± std over seeds.' + (
        f' Paired differences to `{baseline}` per seed, mean [95% t interval]; `*` marks an '
        'interval that excludes 0.' if paired else ''), '']
    lines += [format_markdown_table(comparison_table_rows(comparison, ap_metrics, ap_labels)), '']
    if paired:
        lines += [format_markdown_table(difference_table_rows(comparison, ap_metrics, ap_labels)),
                  '']
    if box_metrics:
        box_metrics.append('mean/bbox_mAP')
        lines += ['Per dataset AP (IoU 0.5:0.95, x 100):', '', format_markdown_table(
            comparison_table_rows(comparison, box_metrics, box_labels)), '']
        if paired:
            lines += [format_markdown_table(
                difference_table_rows(comparison, box_metrics, box_labels)), '']
    power_rows = power_table_rows(comparison, 'mean/bbox_mAP', target_diff)
    pairs = [entry['mean/bbox_mAP']['difference'] for entry in comparison.values()]
    if any(d is not None and d['n'] >= 2 for d in pairs):  # one pair estimates no noise
        lines += ['How many seeds: power of the paired t test on mean AP (x 100), with the '
                  'standard deviation of the paired differences observed so far as the noise '
                  '(an estimate: it plans the next runs, it is not a result).', '',
                  format_markdown_table(power_rows), '']
    moe_variants = {v: comparison[v] for v in comparison
                    if any(comparison[v][m]['summary']['n'] for m in acc_metrics)}
    if acc_metrics and moe_variants:
        labels = [f"router acc {m.split('/', 1)[1]}" for m in acc_metrics]
        lines += ['Router accuracy at inference (share of tokens whose top-1 expert is h(d), '
                  '%):', '', format_markdown_table(
                      comparison_table_rows(moe_variants, acc_metrics, labels)), '']
    confusion_rows = _confusion_rows(summaries, variants)
    if confusion_rows:
        lines += ['The pair of datasets on different experts that each run\'s router separates '
                  'worst at inference: the share (%) of a\'s tokens whose top-1 expert is b\'s, '
                  'and of b\'s on a\'s, mean over the MoE layers (`suggest_map.py` merges a pair '
                  f'when both reach {100 * CONFUSION_THRESHOLD:.0f} %):', '', format_markdown_table(
                      [['variant', 'seed', 'pair a / b', 'a on b\'s expert %',
                        'b on a\'s expert %']] + confusion_rows), '']
    lines += ['Mean AP (x 100) of every run:', '',
              format_markdown_table([['variant', *(f'seed {s}' for s in seeds)]] + [
                  [v, *(f"{100 * r[s]['mean/bbox_mAP']:.1f}" if s in r else '-' for s in seeds)]
                  for v, r in results.items()]), '']
    times = {}
    for (variant, _), summary in summaries.items():
        times.setdefault(variant, []).append(training_seconds(summary))
    lines += ['| variant | what | training s per run (mean) | runs timed |', '|---|---|---|---|']
    for v, t in times.items():
        known = [x for x in t if x is not None]
        mean = f'{sum(known) / len(known):.0f}' if known else 'n/a'
        lines.append(f'| {v} | {variants[v].description} | {mean} | {len(known)} of {len(t)} |')
    if any(x is None for t in times.values() for x in t):
        lines += ['', 'A run not timed was resumed from a checkpoint that does not store the '
                  'seconds spent before it; its `summary.json` has the last part only.']
    markdown = '\n'.join(lines) + '\n'
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'results.md'), 'w') as f:
        f.write(markdown)
    csv_rows = [['variant', 'metric', 'n', 'mean', 'std', 'diff_mean', 'diff_ci_low',
                 'diff_ci_high', 'distinguishable']]
    for variant, per_metric in comparison.items():
        for metric, entry in per_metric.items():
            s, d = entry['summary'], entry['difference'] or {}
            values = (s['mean'], s['std'], *(d.get(k, float('nan'))
                                             for k in ('mean', 'ci_low', 'ci_high')))
            csv_rows.append([variant, metric, str(s['n']), *(f'{x:.6f}' for x in values),
                             str(d.get('distinguishable', ''))])
    with open(osp.join(out_dir, 'results.csv'), 'w') as f:
        f.write(format_csv_table(csv_rows))
    with open(osp.join(out_dir, 'results.json'), 'w') as f:
        json.dump(dict(baseline=baseline, seeds=seeds, benchmark_version=benchmark_version,
                       variants={v: variants[v].description for v in results},
                       per_seed={v: {str(s): m for s, m in r.items()} for v, r in results.items()},
                       comparison=comparison, power=power_rows,
                       most_confused_pairs=[dict(zip(
                           ('variant', 'seed', 'pair', 'a_on_b_pct', 'b_on_a_pct'), row))
                           for row in confusion_rows]), f, indent=2)
    plot_comparison(comparison, ap_metrics, ap_labels, osp.join(out_dir, 'results.png'))
    return markdown


def recorded_spread(variant: str, metric: str = 'mean/bbox_mAP',
                    path: str = RECORDED) -> Optional[tuple]:
    """(mean, std, n, min, max) of ``metric`` recorded for ``variant``, or None."""
    if not osp.exists(path):
        return None
    with open(path) as f:
        recorded = json.load(f)
    values = [m[metric] for m in recorded.get('per_seed', {}).get(variant, {}).values()
              if metric in m]
    if not values:
        return None
    summary = recorded['comparison'][variant][metric]['summary']
    return summary['mean'], summary['std'], len(values), min(values), max(values)
