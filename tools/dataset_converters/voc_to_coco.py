"""Convert VOC-layout folders of your own to COCO json (any dataset, any classes).

For every FOLDER (``Annotations/*.xml``, ``JPEGImages/``, optionally
``ImageSets/Main/<split>.txt``) writes ``FOLDER/annotations/<split>.json``
with ``file_name`` relative to FOLDER, and prints the counts.

Examples::

    # classes read from the xml files, splits from ImageSets/Main
    python tools/dataset_converters/voc_to_coco.py data/mine/cells data/mine/roofs
    # classes given (their order is the label order), 80/20 split by id hash
    python tools/dataset_converters/voc_to_coco.py data/mine/cells \\
        --classes cell debris --split-ratio 0.8

Then ``tools/misc/make_mixture_config.py FOLDER... --method damex`` writes the
training config.
"""
import argparse
import os.path as osp
import sys

from damex_mmdet.datasets.converters import convert_voc_folder, write_coco_json
from damex_mmdet.utils.mixture_config import parse_dataset_arg


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('folders', nargs='+', help='VOC-layout dataset folders')
    parser.add_argument('--names', nargs='+', default=None,
                        help='dataset names (default: the folder names, lower case)')
    parser.add_argument('--classes', nargs='+', default=None,
                        help='class names in label order (one list for every folder); '
                        'default: the sorted names found in each folder\'s xml files')
    parser.add_argument('--ignore', nargs='+', default=(), metavar='NAME',
                        help='xml object names to drop')
    parser.add_argument('--split-ratio', type=float, default=None,
                        help='train share of a hash split by image id (the rest: test); '
                        'default: the ImageSets/Main lists, else 0.8')
    parser.add_argument('--seed', type=int, default=0, help='seed of the hash split')
    parser.add_argument('--coord-base', type=int, choices=(0, 1), default=1,
                        help='1: VOC 1-based pixel indices (default), 0: 0-based coordinates')
    parser.add_argument('--img-dir', default='JPEGImages', help='image folder of each dataset')
    parser.add_argument('--difficult', choices=('keep', 'crowd', 'drop'), default='keep')
    parser.add_argument('--drop-empty', action='store_true', help='drop images without boxes')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    names = args.names or [parse_dataset_arg(f)[0] for f in args.folders]
    if len(names) != len(args.folders):
        raise SystemExit(f'--names gives {len(names)} names for {len(args.folders)} folders.')
    written = {}
    for folder, name in zip(args.folders, names):
        try:
            splits = convert_voc_folder(folder, name, classes=args.classes,
                                        split_ratio=args.split_ratio, seed=args.seed,
                                        coord_base=args.coord_base, img_dir=args.img_dir,
                                        difficult=args.difficult, ignored=args.ignore,
                                        drop_empty=args.drop_empty)
        except (ValueError, FileNotFoundError) as err:
            raise SystemExit(f'voc_to_coco.py: {err}') from None
        for split, (coco, stats) in splits.items():
            path = osp.join(folder, 'annotations', f'{split}.json')
            write_coco_json(coco, path)
            print(stats.summary(f'{name}/{split}'))
            print(f'wrote {path} ({len(coco["categories"])} classes: '
                  f'{", ".join(c["name"] for c in coco["categories"])})')
            written[(name, split)] = path
    return written


if __name__ == '__main__':
    main(sys.argv[1:])
