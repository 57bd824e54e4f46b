"""Write a deterministic n-shot subset of a COCO detection json.

Keeps ``n`` images that hold at least one (non-crowd) box, all their boxes and
every category; the choice depends only on ``--seed`` and the image ids, and
for one seed the subsets are nested (50-shot inside 100-shot). Used for the
DAMEX "Kitchen + n-shot KITTI" experiments::

    ann=data/uodb/KITTI/annotations/train.json
    for n in 50 100 1000; do python tools/misc/make_nshot.py $ann $n; done
    # -> data/uodb/KITTI/annotations/train_{50,100,1000}shot_seed0.json
"""
import argparse
import json
import os.path as osp

from damex_mmdet.datasets.converters import (nshot_counts, select_nshot,
                                             write_coco_json)


def default_output(in_file, n, seed):
    """``<dir>/<stem>_<n>shot_seed<seed>.json`` next to ``in_file``."""
    stem, _ = osp.splitext(in_file)
    return f'{stem}_{n}shot_seed{seed}.json'


def parse_args(argv=None):
    """Parse the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description='Write an n-shot subset of a COCO json: n images with at '
        'least one box, chosen deterministically from the seed, with all '
        'their boxes and every category.')
    parser.add_argument('ann_file', help='input COCO json')
    parser.add_argument('n', type=int, help='number of images to keep')
    parser.add_argument(
        '--seed', type=int, default=0, help='selection seed (default: 0)')
    parser.add_argument(
        '--out', default=None,
        help='output json (default: <ann_file stem>_<n>shot_seed<seed>.json)')
    return parser.parse_args(argv)


def main(argv=None):
    """Write the subset; return ``(output path, counts of the subset)``."""
    args = parse_args(argv)
    if not osp.isfile(args.ann_file):
        raise FileNotFoundError(f'COCO json {args.ann_file} does not exist.')
    with open(args.ann_file, encoding='utf-8') as f:
        coco = json.load(f)
    subset = select_nshot(coco, args.n, seed=args.seed)
    out_file = args.out or default_output(args.ann_file, args.n, args.seed)
    if osp.abspath(out_file) == osp.abspath(args.ann_file):
        raise ValueError(f'--out {out_file} would overwrite the input; choose '
                         'another path.')
    write_coco_json(subset, out_file)
    full, kept = nshot_counts(coco), nshot_counts(subset)
    print(f'{args.n}-shot (seed {args.seed}) of {args.ann_file}: kept '
          f'{kept["images"]}/{full["images"]} images, '
          f'{kept["annotations"]}/{full["annotations"]} boxes')
    for name, count in kept['per_category'].items():
        print(f'  {name}: {count}/{full["per_category"][name]} boxes')
    print(f'wrote {out_file}')
    return out_file, kept


if __name__ == '__main__':
    main()
