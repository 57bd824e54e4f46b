"""The main job: train a small DAMEX detector on the built-in multi-domain benchmark.

Generates the synthetic benchmark if missing (seconds, no download), trains
the tiny DAMEX-DINO config with mmengine's Runner (progress in the log),
evaluates every dataset on its own label slice, prints and writes the
per-dataset AP table, and draws the expert-utilization heatmaps (datasets x
experts per MoE layer, like the DAMEX paper's Figure 3) with the router
accuracy at inference. ``--compare`` trains dense DINO, vanilla MoE and DAMEX
with the same seed and schedule and prints them side by side.

    python tools/run_default_benchmark.py [--compare] [--work-dir work_dirs/default_benchmark]
"""
import argparse
import json
import os
import os.path as osp
import time

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

import damex_mmdet  # noqa: F401  (registers modules)
from damex_mmdet.analysis import collect_routing, plot_utilization
from damex_mmdet.datasets.synthetic import DEFAULT_BENCHMARK, generate_default_benchmark
from damex_mmdet.evaluation.results_table import format_csv_table, format_markdown_table
from damex_mmdet.utils.config_scope import CONFIG_ROOT

CONFIG_DIR = CONFIG_ROOT  # the configs shipped with the package
VARIANTS = {
    'dense': 'dino/dino-tiny_r18_1xb4-600i_damex-default.py',
    'moe': 'moe/dino-moe-tiny_r18_1xb4-600i_damex-default.py',
    'damex': 'damex/damex-dino-tiny_r18_1xb4-600i_damex-default.py',
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--compare', action='store_true',
                        help='train dense DINO, vanilla MoE and DAMEX side by side')
    parser.add_argument('--variants', nargs='+', choices=sorted(VARIANTS), default=None,
                        help='variants to train (default: damex, or all with --compare)')
    parser.add_argument('--work-dir', default='work_dirs/default_benchmark')
    parser.add_argument('--data-root', default='data/damex_default',
                        help='where the synthetic benchmark is (generated if missing)')
    parser.add_argument('--max-iters', type=int, default=None,
                        help='override the schedule length (iterations)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys of every variant, as in tools/train.py')
    return parser.parse_args()


def set_data_root(cfg, data_root):
    """Point every sub-dataset of the config at ``data_root/<name>/``."""
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        for name, dataset in loader.dataset.datasets.items():
            dataset.data_root = osp.join(data_root, name) + '/'


def build_config(variant, args):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, VARIANTS[variant]))
    cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = osp.join(args.work_dir, variant)
    cfg.randomness = dict(seed=args.seed)
    set_data_root(cfg, args.data_root)
    # evaluate once, with runner.test() after training (the iteration loop
    # would otherwise also validate on the same split at its last iteration)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    if args.max_iters:
        scale = args.max_iters / cfg.train_cfg.max_iters
        cfg.train_cfg.max_iters = args.max_iters
        cfg.default_hooks.checkpoint.interval = args.max_iters
        for scheduler in cfg.param_scheduler:
            if 'milestones' in scheduler:
                scheduler.milestones = [int(m * scale) for m in scheduler.milestones]
            if scheduler.get('end', 0) > args.max_iters:
                scheduler.end = args.max_iters
    return cfg


def run_variant(variant, args):
    """Train, test and (for MoE variants) analyse routing; returns a summary."""
    cfg = build_config(variant, args)
    runner = Runner.from_cfg(cfg)
    start = time.time()
    runner.train()
    train_s = time.time() - start
    metrics = runner.test()
    summary = dict(variant=variant, config=VARIANTS[variant], train_seconds=round(train_s, 1),
                   metrics={k: float(v) for k, v in metrics.items()})
    model = runner.model
    if hasattr(model, 'moe_layers'):
        stats = collect_routing(model, runner.test_dataloader)
        out_dir = osp.join(cfg.work_dir, 'routing')
        os.makedirs(out_dir, exist_ok=True)
        stats.to_csv(out_dir)
        plot_utilization(stats, osp.join(out_dir, 'expert_utilization.png'))
        accuracy = stats.router_accuracy()
        summary['router_accuracy'] = accuracy
        summary['routing_dir'] = out_dir
        print_log(f'[{variant}] router accuracy at inference (top-1 == h(d)):\n'
                  f'{stats.to_markdown()}', logger='current')
    return summary


def comparison_rows(summaries):
    """Rows: variants; columns: AP / AP50 of each dataset, then mean."""
    names = list(DEFAULT_BENCHMARK) + ['mean']
    header = ['method'] + [f'{n} AP50' for n in names] + ['mean AP', 'train s']
    rows = [header]
    for s in summaries:
        m = s['metrics']
        row = [s['variant']] + [f"{100 * m.get(f'{n}/bbox_mAP_50', float('nan')):.1f}"
                                for n in names]
        row += [f"{100 * m.get('mean/bbox_mAP', float('nan')):.1f}", f"{s['train_seconds']:.0f}"]
        rows.append(row)
    return rows


def main():
    args = parse_args()
    variants = args.variants or (['dense', 'moe', 'damex'] if args.compare else ['damex'])
    generate_default_benchmark(args.data_root)
    os.makedirs(args.work_dir, exist_ok=True)
    summaries = [run_variant(v, args) for v in variants]
    rows = comparison_rows(summaries)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(format_markdown_table(rows) + '\n')
    with open(osp.join(args.work_dir, 'results.csv'), 'w') as f:
        f.write(format_csv_table(rows))
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(summaries, f, indent=2)
    print('\n' + format_markdown_table(rows) + '\n')
    for s in summaries:
        print(f"[{s['variant']}] work dir: {osp.join(args.work_dir, s['variant'])} "
              '(per_dataset_ap.md/.csv in the run folder)')
        if 'routing_dir' in s:
            print(f"[{s['variant']}] expert utilization heatmap: "
                  f"{osp.join(s['routing_dir'], 'expert_utilization.png')}")
    print(f'summary: {args.work_dir}/results.md, results.csv, results.json')


if __name__ == '__main__':
    main()
