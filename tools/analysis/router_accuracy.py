"""Router accuracy of an MoE detector per dataset and MoE layer.

Router accuracy is the share of a dataset's tokens whose top-1 expert is one
of the experts the dataset->expert map ``h`` gives it (the map stored in the
checkpoint, else the config's). Routing at test time never sees a dataset id::

    python tools/analysis/router_accuracy.py CONFIG CHECKPOINT \\
        --out-dir work_dirs/analysis/damex [--tokens all|matched] [--max-images 50]

Writes ``router_accuracy.csv`` / ``router_accuracy.md`` (rows: MoE layers,
columns: datasets then ``mean``, percent) and ``dominant_expert.md`` (the
expert most tokens of each dataset go to, per layer, with its share; useful
for vanilla MoE models, which have no map).
"""
import argparse
import os
import os.path as osp

import numpy as np

from damex_mmdet.analysis import RoutingStats
from damex_mmdet.analysis.cli import add_model_data_args, collect_from_args
from damex_mmdet.evaluation.results_table import format_csv_table, format_markdown_table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Router accuracy (top-1 expert == h(d)) per dataset and MoE layer.')
    add_model_data_args(parser)
    parser.add_argument('--tokens', choices=('all', 'matched'), default='all',
                        help='tokens counted: all queries (default) or queries matched to a '
                        'ground-truth box')
    return parser.parse_args(argv)


def dominant_expert_rows(stats: RoutingStats, tokens: str = 'all') -> list:
    """Rows ``dataset, <layer>...``; cells ``e<k> (share %)`` of the most used expert."""
    share = stats.top1_share(tokens)
    rows = [['dataset', *stats.layers]]
    for d, name in enumerate(stats.dataset_names):
        cells = []
        for layer_idx in range(len(stats.layers)):
            values = share[layer_idx, d]
            if not np.isfinite(values).all():
                cells.append('n/a')
                continue
            best = int(values.argmax())
            cells.append(f'e{best} ({100 * values[best]:.1f}%)')
        rows.append([name, *cells])
    return rows


def write_outputs(stats: RoutingStats, out_dir: str, tokens: str = 'all') -> dict:
    """Write the tool's files; router accuracy only when a map exists."""
    os.makedirs(out_dir, exist_ok=True)
    paths = dict(dominant=osp.join(out_dir, 'dominant_expert.md'))
    with open(paths['dominant'], 'w', encoding='utf-8') as handle:
        handle.write(format_markdown_table(dominant_expert_rows(stats, tokens)) + '\n')
    if stats.expert_map:
        texts = dict(csv=format_csv_table(stats.router_accuracy_rows(tokens, decimals=2)),
                     md=stats.router_accuracy_markdown(tokens) + '\n')
        for kind, text in texts.items():
            paths[kind] = osp.join(out_dir, f'router_accuracy.{kind}')
            with open(paths[kind], 'w', encoding='utf-8') as handle:
                handle.write(text)
    return paths


def main(argv=None) -> RoutingStats:
    args = parse_args(argv)
    stats = collect_from_args(args)
    paths = write_outputs(stats, args.out_dir, args.tokens)
    for path in paths.values():
        if path.endswith('.md'):
            with open(path, encoding='utf-8') as handle:
                print(handle.read())
    if not stats.expert_map:
        print('the model has no dataset->expert map: router accuracy is undefined, only the '
              'dominant experts were written.')
    return stats


if __name__ == '__main__':
    main()
