"""Add a dataset to a trained DAMEX / GEM mixture detector, without retraining it.

    python tools/add_dataset.py CONFIG CHECKPOINT [NAME=]FOLDER --out OUT.py \\
        [--mode frozen|replay|finetune] [--expert new|DATASET] [--shots N] [--max-iters N]
    python tools/train.py OUT.py

Writes ``OUT.py`` (a child of CONFIG) and ``OUT_start.pth`` (the trained
weights grown by the new classes and, with ``--expert new``, one expert
copied from the most alike trained one). The old datasets keep their label
ids; ``--mode frozen`` (default) keeps every trained value bit for bit and
trains only the new expert, router row and class rows. FOLDER holds COCO
json annotations, as for ``tools/misc/make_mixture_config.py``. See
``damex_mmdet/utils/dataset_addition.py``.
"""
import argparse
import sys

from damex_mmdet.utils.dataset_addition import ADDITION_MODES, AdditionOptions, add_dataset
from damex_mmdet.utils.mixture_config import parse_dataset_arg


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help="the trained detector's config")
    parser.add_argument('checkpoint', help="the trained detector's checkpoint (DAMEX or GEM)")
    parser.add_argument('dataset', metavar='[NAME=]FOLDER', help='the new dataset')
    parser.add_argument('--out', required=True, help='the config to write (.py)')
    parser.add_argument('--mode', choices=ADDITION_MODES, default='frozen',
                        help='frozen (default): only the new expert, router row and class rows '
                        'train; replay: everything trains, old datasets replayed; finetune: '
                        'everything trains on the new data alone (also for dense checkpoints)')
    parser.add_argument('--expert', default='new',
                        help="'new' (default): a new expert, copied from the most alike trained "
                        'one; or a trained dataset whose experts the new one shares')
    parser.add_argument('--shots', type=int, default=None,
                        help='keep N training images of the new dataset (seeded)')
    parser.add_argument('--replay-ratio', type=float, default=None,
                        help='share of samples from the old datasets. replay mode: default 0.5; '
                        'frozen mode: default 0 (the new data alone), a share > 0 shows the old '
                        'datasets to the new router row and class rows while every old value '
                        'stays frozen')
    parser.add_argument('--max-iters', type=int, default=None,
                        help="training iterations (default: the config's schedule)")
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the shots, the feature sample and the new rows')
    parser.add_argument('--train-ann', default='annotations/train.json')
    parser.add_argument('--test-ann', default='annotations/test.json')
    parser.add_argument('--img-prefix', default='')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    name, folder = parse_dataset_arg(args.dataset)
    options = AdditionOptions(mode=args.mode, expert=args.expert, shots=args.shots,
                              replay_ratio=args.replay_ratio, max_iters=args.max_iters,
                              seed=args.seed)
    try:
        addition = add_dataset(args.config, args.checkpoint, name, folder, args.out, options,
                               args.train_ann, args.test_ann, args.img_prefix)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f'add_dataset.py: {err}') from None
    print(f'train: python tools/train.py {addition.config}')
    return addition


if __name__ == '__main__':
    main(sys.argv[1:])
