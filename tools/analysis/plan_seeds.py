"""How many seeds does a comparison need? Read a comparison's results.json, print the plan.

For every variant of a ``results.json`` written by
``tools/run_default_benchmark.py`` (also the committed ones under
``docs/results/``), prints the standard deviation of its paired differences to
the baseline, the smallest difference its pairs detect at the given power, and
the number of pairs needed to detect ``--target-diff``::

    python tools/analysis/plan_seeds.py docs/results/default_benchmark/results.json \\
        [--metric mean/bbox_mAP] [--target-diff 2.0] [--power 0.8]

The comparison tool prints the same table for ``mean/bbox_mAP`` in every
report; this script reads finished reports without their run folders.
"""
import argparse
import json

from damex_mmdet.evaluation.power import power_table_rows
from damex_mmdet.evaluation.results_table import format_markdown_table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('results', help="a comparison's results.json")
    parser.add_argument('--metric', default='mean/bbox_mAP',
                        help='metric key (default mean/bbox_mAP)')
    parser.add_argument('--target-diff', type=float, default=2.0,
                        help='difference to plan for, x 100 like the tables (default 2.0 AP)')
    parser.add_argument('--power', type=float, default=0.8, help='default 0.8')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with open(args.results) as f:
        results = json.load(f)
    comparison = results.get('comparison')
    if not isinstance(comparison, dict):
        raise SystemExit(f'{args.results}: no "comparison" entry; expected the results.json '
                         'of tools/run_default_benchmark.py.')
    known = sorted({m for per_metric in comparison.values() for m in per_metric})
    if args.metric not in known:
        raise SystemExit(f'{args.results}: no metric {args.metric!r}; it has {known}.')
    rows = power_table_rows(comparison, args.metric, args.target_diff, power=args.power)
    print(f"{args.results}: {args.metric} (x 100), paired to {results.get('baseline')!r}")
    print(format_markdown_table(rows))
    return rows


if __name__ == '__main__':
    main()
