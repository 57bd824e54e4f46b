"""Suggest an expert map from where a trained router sends each dataset's tokens.

    python tools/analysis/suggest_map.py CONFIG CHECKPOINT --out-dir work_dirs/suggest \\
        [--threshold 0.3] [--write-config work_dirs/suggest/merged.py]

Runs the test set through the model (no dataset label at routing, as at
inference), measures the confusion of every dataset pair (the share of a
dataset's tokens whose top-1 expert is the other's mapped expert, mean over
MoE layers) and merges datasets that send each other at least ``--threshold``
of their tokens. Writes ``suggested_map.json``, ``confusion.png`` and, with
``--write-config``, a config inheriting CONFIG with the suggested map.
"""
import argparse

from damex_mmdet.analysis.cli import add_model_data_args, collect_from_args
from damex_mmdet.analysis.map_suggestion import (CONFUSION_THRESHOLD, suggest_map,
                                                 write_suggestion)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_model_data_args(parser)
    parser.add_argument('--threshold', type=float, default=CONFUSION_THRESHOLD,
                        help='least share of tokens each of two datasets sends to the other\'s '
                        f'expert for them to be merged (default {CONFUSION_THRESHOLD})')
    parser.add_argument('--write-config', metavar='OUT.py', default=None,
                        help='write a config inheriting CONFIG with the suggested map')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.write_config and not args.write_config.endswith('.py'):
        raise SystemExit(f'--write-config {args.write_config}: a config file ends with .py.')
    try:
        suggestion = suggest_map(collect_from_args(args), args.threshold)
    except ValueError as error:
        raise SystemExit(f'suggest_map.py: {error}')
    paths = write_suggestion(suggestion, args.out_dir, args.threshold, args.config,
                             args.write_config)
    for a, b, ab, ba in suggestion.merged:
        print(f'{a} and {b}: one expert ({100 * ab:.0f}% of {a}\'s tokens go to {b}\'s expert, '
              f'{100 * ba:.0f}% of {b}\'s to {a}\'s)')
    if not suggestion.merged:
        print(f'no pair of datasets is confused at threshold {args.threshold:g}: the map stands')
    print(f'suggested map ({suggestion.num_experts} experts): {suggestion.expert_map}')
    print('written: ' + ', '.join(sorted(paths.values())))
    return suggestion


if __name__ == '__main__':
    main()
