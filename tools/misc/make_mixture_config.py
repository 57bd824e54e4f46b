"""Write a training config for a mixture of your own datasets, one command.

    python tools/misc/make_mixture_config.py [NAME=]FOLDER ... --method damex \\
        [--base tiny|r50] [--expert-map MAP.json] [--num-experts E] --out configs/mine.py

Each FOLDER holds COCO json annotations (``annotations/train.json`` and
``annotations/test.json`` by default, ``file_name`` relative to the folder):
the output of ``tools/dataset_converters/voc_to_coco.py``, or a COCO dataset
as it is (``--train-ann``, ``--test-ann``, ``--img-prefix``). The config
inherits the shipped ``--method`` config (tiny: the CPU-sized one of the
built-in benchmark; r50: the paper's DINO-4scale R50) and sets the datasets,
the number of classes and, for MoE methods, the expert map. By default the
map groups datasets that look alike (colour layout and histogram of 32
training images each; similarity >= 0.9 shares an expert) and prints why;
``--expert-map one-per-dataset`` gives every dataset its own expert;
``--expert-map MAP.json`` takes a map of your own or ``tools/plan_experts.py``'s.
Train it with ``python tools/train.py OUT`` (or ``mim train mmdet OUT``).
"""
import argparse
import os
import os.path as osp
import sys

from damex_mmdet.planning.similarity_groups import SIMILARITY_THRESHOLD
from damex_mmdet.utils.mixture_config import (BASE_CONFIGS, MIXTURE_METHODS, MixtureDataset,
                                              load_expert_map, mixture_config_text,
                                              parse_dataset_arg, similarity_expert_map)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('datasets', nargs='+', metavar='[NAME=]FOLDER',
                        help='dataset folders (name: the folder name, lower case)')
    parser.add_argument('--method', choices=MIXTURE_METHODS, required=True)
    parser.add_argument('--base', choices=sorted(BASE_CONFIGS), default='tiny',
                        help='tiny (CPU-sized, default) or r50 (the paper\'s DINO R50)')
    parser.add_argument('--expert-map', default='similarity',
                        help="'similarity' (default: datasets that look alike share an "
                        "expert), 'one-per-dataset', or a JSON file or string "
                        '{dataset: [experts]}')
    parser.add_argument('--similarity-threshold', type=float, default=SIMILARITY_THRESHOLD,
                        help='least image similarity of datasets that share an expert '
                        f'(default {SIMILARITY_THRESHOLD})')
    parser.add_argument('--num-experts', type=int, default=None,
                        help='experts per MoE layer (default: as the map needs)')
    parser.add_argument('--train-ann', default='annotations/train.json',
                        help='training annotations, relative to each folder')
    parser.add_argument('--test-ann', default='annotations/test.json',
                        help='test annotations, relative to each folder')
    parser.add_argument('--img-prefix', default='',
                        help="image folder relative to each folder ('' when file_name has it)")
    parser.add_argument('--out', required=True, help='the config file to write (.py)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not args.out.endswith('.py'):
        raise SystemExit(f'--out {args.out}: a config file ends with .py.')
    try:
        datasets = [MixtureDataset(name, folder, args.train_ann, args.test_ann, args.img_prefix)
                    for name, folder in map(parse_dataset_arg, args.datasets)]
        expert_map = None  # one expert per dataset
        if args.expert_map == 'similarity':
            if args.method != 'dense':  # a dense detector has no map
                planned, _ = similarity_expert_map(datasets, args.num_experts,
                                                   args.similarity_threshold)
                expert_map = planned.expert_map
                print('expert map from image similarity:\n  ' + '\n  '.join(planned.reasons))
        elif args.expert_map != 'one-per-dataset':
            expert_map = load_expert_map(args.expert_map)
        text = mixture_config_text(datasets, args.method, args.base, expert_map,
                                   args.num_experts)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f'make_mixture_config.py: {err}') from None
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(text)
    classes = sum(len(d.classes) for d in datasets)
    print(f'wrote {args.out}: {args.method} ({args.base}) on {len(datasets)} datasets, '
          f'{classes} classes. Train: python tools/train.py {args.out}')
    return args.out


if __name__ == '__main__':
    main(sys.argv[1:])
