"""Convert UODB datasets to the COCO json files the UODB configs read.

For every chosen dataset and split it writes
``<uodb_root>/<Folder>/annotations/<split>.json`` (``file_name`` relative to
``<uodb_root>/<Folder>``) and prints what was written and skipped.

Examples::

    # every VOC-layout UODB dataset, default train/test splits
    python tools/dataset_converters/uodb_to_coco.py data/uodb
    # one dataset, explicit splits
    python tools/dataset_converters/uodb_to_coco.py data/uodb \\
        --datasets kitchen --splits train test
    # original KITTI label_2 txt / WIDER FACE gt txt instead of VOC xml
    python tools/dataset_converters/uodb_to_coco.py data/uodb \\
        --datasets kitti --format kitti
    python tools/dataset_converters/uodb_to_coco.py data/uodb \\
        --datasets widerface --format wider
"""
import argparse
import os.path as osp

from damex_mmdet.datasets.converters import (DIFFICULT_POLICIES,
                                             SOURCE_FORMATS,
                                             convert_uodb_split,
                                             write_coco_json)
from damex_mmdet.datasets.uodb import UODB_DATASETS, get_uodb_spec


def _alias(text):
    """Parse ``RAW=CLASS``."""
    raw, sep, cls = text.partition('=')
    if not sep or not raw.strip() or not cls.strip():
        raise argparse.ArgumentTypeError(
            f'expected RAW=CLASS (e.g. person_sitting=pedestrian), got '
            f'{text!r}')
    return raw.strip(), cls.strip()


def parse_args(argv=None):
    """Parse the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    voc_layout = [n for n, s in UODB_DATASETS.items()
                  if s.source_format == 'voc']
    parser = argparse.ArgumentParser(
        description='Convert UODB datasets (VOC xml, or the original KITTI / '
        'WIDER FACE txt) to COCO json: <uodb_root>/<Folder>/annotations/'
        '<split>.json. Boxes are clipped to the image, zero-area boxes and '
        'ignored classes are dropped and counted, unknown class names stop '
        'the conversion (see --skip-unknown).')
    parser.add_argument(
        'uodb_root', help='UODB root holding one folder per dataset '
        '(KITTI, VOC, WiderFace, LISA, Kitchen, DOTA, DeepLesion, Comic, '
        'Clipart, Watercolor), e.g. data/uodb')
    parser.add_argument(
        '--datasets', nargs='+', default=voc_layout, metavar='NAME',
        help=f'datasets to convert (default: all VOC-layout ones: '
        f'{" ".join(voc_layout)}); coco is used as released and skipped')
    parser.add_argument(
        '--splits', nargs='+', default=None, metavar='SPLIT',
        help='splits to convert (default: each dataset\'s train and test '
        'split, e.g. KITTI train val, VOC trainval test)')
    parser.add_argument(
        '--format', default='voc', choices=list(SOURCE_FORMATS),
        help='source format: voc (UODB release, default), kitti (label_2 '
        'txt + image_2), wider (wider_face_split/*_bbx_gt.txt)')
    parser.add_argument(
        '--coord-base', type=int, choices=(0, 1), default=None,
        help='VOC xml boxes are 1-based pixel indices (1) or 0-based '
        'coordinates (0); default: per dataset, as UODB\'s loaders (1 for '
        'KITTI, VOC, Kitchen, Clipart, Comic, Watercolor; 0 for the others)')
    parser.add_argument(
        '--alias', type=_alias, action='append', default=[],
        metavar='RAW=CLASS', help='map a raw class name to a class, on top '
        'of the built-in rules (repeatable)')
    parser.add_argument(
        '--ignore', action='append', default=[], metavar='NAME',
        help='drop (and count) boxes of this raw class name (repeatable)')
    parser.add_argument(
        '--skip-unknown', action='store_true',
        help='drop and count boxes of unknown class names instead of failing')
    parser.add_argument(
        '--skip-missing-images', action='store_true',
        help='drop and count listed images whose file is missing instead of '
        'failing')
    parser.add_argument(
        '--difficult', default='keep', choices=DIFFICULT_POLICIES,
        help='VOC difficult boxes: keep as normal boxes (default, as UODB '
        'and DAMEX), write with iscrowd=1 (ignored in training and '
        'evaluation) or drop')
    parser.add_argument(
        '--drop-empty', action='store_true',
        help='drop images left without boxes (default: keep them)')
    parser.add_argument(
        '--img-dir', default=None,
        help='image folder name when not JPEGImages (voc) / image_2 (kitti)')
    parser.add_argument(
        '--img-ext', default=None,
        help='image extension with the dot when not the dataset default')
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar')
    return parser.parse_args(argv)


def main(argv=None):
    """Run the conversion; return ``{'<dataset>/<split>': stats}``."""
    args = parse_args(argv)
    specs = [get_uodb_spec(name) for name in args.datasets]
    owner = SOURCE_FORMATS[args.format]
    if owner is not None and [spec.name for spec in specs] != [owner]:
        raise ValueError(f'--format {args.format} only reads {owner}; pass '
                         f'--datasets {owner}.')
    aliases = dict(args.alias)
    results = {}
    for spec in specs:
        if spec.source_format == 'coco':
            print(f'{spec.name}: released as COCO json, nothing to convert; '
                  f'expects {spec.ann_file(spec.train_split)} and '
                  f'{spec.ann_file(spec.test_split)} with images under '
                  f'{spec.img_prefix} in {spec.data_root(args.uodb_root)}')
            continue
        dataset_dir = osp.join(args.uodb_root, spec.folder)
        for split in args.splits or spec.splits:
            print(f'converting {spec.name}/{split} from {dataset_dir} '
                  f'({args.format})')
            coco, stats = convert_uodb_split(
                spec,
                dataset_dir,
                split,
                fmt=args.format,
                coord_base=args.coord_base,
                aliases=aliases,
                ignored=args.ignore,
                skip_unknown=args.skip_unknown,
                skip_missing_images=args.skip_missing_images,
                difficult=args.difficult,
                drop_empty=args.drop_empty,
                img_dir=args.img_dir,
                img_ext=args.img_ext,
                show_progress=not args.no_progress)
            out_file = osp.join(dataset_dir, spec.ann_file(split))
            write_coco_json(coco, out_file)
            print(stats.summary(f'{spec.name}/{split}'))
            print(f'wrote {out_file}')
            results[f'{spec.name}/{split}'] = stats
    return results


if __name__ == '__main__':
    main()
