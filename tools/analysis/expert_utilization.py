"""Expert utilization of an MoE detector per dataset (DAMEX paper, Figure 3).

Runs the test set through the model (routing never sees a dataset id), matches
queries to ground-truth boxes and averages each expert's routing weight over
the matched tokens of every dataset, per MoE layer::

    python tools/analysis/expert_utilization.py CONFIG CHECKPOINT \\
        --out-dir work_dirs/analysis/damex [--split test] [--max-images 50]

Writes to ``--out-dir``: ``utilization.png`` (one datasets x experts heatmap
per MoE layer, mapped experts outlined), ``utilization.csv``,
``utilization.md``, ``top1_share.csv``, ``routing_stats.json`` (raw sums,
reload with ``RoutingStats.load``) and, when the model has a dataset->expert
map, ``router_accuracy.csv`` / ``router_accuracy.md``.
"""
import argparse
import os.path as osp

from damex_mmdet.analysis import RoutingStats, plot_utilization
from damex_mmdet.analysis.cli import add_model_data_args, collect_from_args


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Expert utilization heatmaps and router accuracy of an MoE detector.')
    add_model_data_args(parser)
    parser.add_argument('--tokens', choices=('matched', 'all'), default='matched',
                        help='tokens of the heatmap: queries matched to a ground-truth box '
                        '(default, as the paper) or all queries')
    return parser.parse_args(argv)


def write_outputs(stats: RoutingStats, out_dir: str, tokens: str = 'matched') -> dict:
    """Write every output file of the tool; returns kind -> path."""
    paths = stats.to_csv(out_dir)
    paths['png'] = plot_utilization(stats, osp.join(out_dir, 'utilization.png'), tokens=tokens)
    paths['md'] = osp.join(out_dir, 'utilization.md')
    with open(paths['md'], 'w', encoding='utf-8') as handle:
        handle.write(stats.to_markdown())
    if stats.expert_map:
        paths['router_accuracy_md'] = osp.join(out_dir, 'router_accuracy.md')
        with open(paths['router_accuracy_md'], 'w', encoding='utf-8') as handle:
            handle.write(stats.router_accuracy_markdown() + '\n')
    paths['json'] = stats.save(osp.join(out_dir, 'routing_stats.json'))
    return paths


def main(argv=None) -> RoutingStats:
    args = parse_args(argv)
    stats = collect_from_args(args)
    paths = write_outputs(stats, args.out_dir, args.tokens)
    print(stats.to_markdown())
    print('written: ' + ', '.join(sorted(paths.values())))
    return stats


if __name__ == '__main__':
    main()
