"""Table-1 style results table (methods x datasets, mean last) from metric files.

Each method is ``NAME=PATH``; PATH is a ``per_dataset_ap.csv`` written by
``MultiDatasetCocoMetric`` or an mmengine metrics log (the ``<timestamp>.json``
of a test run, or a training run's ``vis_data/scalars.json``). Give the same
NAME several times to merge files (e.g. one single-dataset model per dataset);
``PATH#DATASET`` names the column of a one-dataset file::

    python tools/analysis/results_table.py \\
        dino-mixed=work_dirs/dino/per_dataset_ap.csv \\
        damex=work_dirs/damex/20240101_120000/20240101_120000.json \\
        --datasets kitti voc widerface --out-dir work_dirs/tables

Values are AP x 100; ``mean`` is recomputed over the columns shown. Writes
``results_table.md`` and ``results_table.csv`` and prints the markdown.
"""
import argparse

from damex_mmdet.analysis import gather_method_results, results_table_rows, write_results_table
from damex_mmdet.analysis.tables import METRICS
from damex_mmdet.evaluation.results_table import format_markdown_table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Results table in the DAMEX paper layout (AP x 100 per dataset, mean).')
    parser.add_argument('results', nargs='+', metavar='NAME=PATH[#DATASET]',
                        help='method name and its per_dataset_ap.csv or mmengine json log')
    parser.add_argument('--out-dir', required=True, help='folder for results_table.md/.csv')
    parser.add_argument('--metric', choices=list(METRICS), default='AP',
                        help='AP (default), AP50 or AP75')
    parser.add_argument('--datasets', nargs='+',
                        help='columns in this order (default: all, in order of appearance)')
    parser.add_argument('--decimals', type=int, default=1, help='decimals (default 1)')
    return parser.parse_args(argv)


def main(argv=None) -> list:
    args = parse_args(argv)
    methods = gather_method_results(args.results, args.metric)
    rows = results_table_rows(methods, args.datasets, args.decimals)
    paths = write_results_table(rows, args.out_dir)
    print(format_markdown_table(rows))
    print(f'written: {paths["md"]}, {paths["csv"]}')
    return rows


if __name__ == '__main__':
    main()
