"""Print the README's results table from the committed results.json files.

One row per method (dense, vanilla MoE, DAMEX, GEM, ReMoE, Soft MoE, MoE++),
one column per regime (600 iterations from scratch, 1800 from scratch,
continued from a trained dense detector): mean AP x 100, mean ± std over
seeds, and the paired difference to the regime's dense baseline with its 95%
t interval (``*``: excludes 0)::

    python tools/analysis/results_summary.py [--results-dir docs/results]

A test checks that README.md holds exactly this table.
"""
import argparse

from damex_mmdet.evaluation.results_summary import summary_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--results-dir', default='docs/results',
                        help='folder of <experiment>/results.json (default docs/results)')
    print(summary_table(parser.parse_args(argv).results_dir), end='')


if __name__ == '__main__':
    main()
