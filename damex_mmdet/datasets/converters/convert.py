"""Convert one split of a UODB dataset to a COCO json (reader + builder).

Supported inputs (``fmt``):

* ``'voc'``: UODB's released VOC layout, every dataset but COCO
  (:mod:`.voc_xml`); VOC 07+12 reads the ``VOC2007`` and ``VOC2012`` trees.
* ``'kitti'``: the original KITTI ``label_2`` txt files (:mod:`.kitti_txt`).
* ``'wider'``: the original WIDER FACE ``*_bbx_gt.txt`` (:mod:`.wider_txt`).

COCO itself is released as COCO json and is used as is. LISA csv, DOTA
``labelTxt`` and DeepLesion csv are not read: convert them to the VOC layout
first.

Example:
    >>> from damex_mmdet.datasets.converters import convert_uodb_split
    >>> coco, stats = convert_uodb_split('kitti', 'data/uodb/KITTI', 'train')
    >>> print(stats.summary('kitti/train'))
"""
import json
import os
import os.path as osp
from functools import partial
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from mmengine.utils import track_iter_progress

from ..uodb import UODBDatasetSpec, get_uodb_spec
from .coco_builder import CocoBuilder
from .kitti_txt import load_kitti_image
from .records import (ImageRecord, MissingImageError, find_split_file,
                      read_split_file)
from .stats import ConversionStats
from .voc_xml import load_voc_image
from .wider_txt import parse_wider_gt, wider_gt_file, wider_image_record

__all__ = [
    'SOURCE_FORMATS', 'convert_uodb_split', 'merge_name_rules',
    'write_coco_json'
]

#: Readable source formats; the value names the only dataset a non-VOC
#: format applies to (None: any VOC-layout dataset).
SOURCE_FORMATS: Mapping[str, Optional[str]] = {
    'voc': None,
    'kitti': 'kitti',
    'wider': 'widerface',
}


def merge_name_rules(
        spec: UODBDatasetSpec,
        aliases: Optional[Mapping[str, str]] = None,
        ignored: Iterable[str] = ()) -> Tuple[Dict[str, str], frozenset]:
    """Combine the spec's alias/ignore rules with user overrides.

    A user alias wins over a spec ignore of the same name (e.g. DAMEX's
    ``person_sitting -> pedestrian`` for KITTI) and a user ignore wins over a
    spec alias.

    Args:
        spec (UODBDatasetSpec): The dataset.
        aliases (Mapping[str, str], optional): Extra ``raw -> class`` rules.
        ignored (Iterable[str]): Extra raw names to drop.

    Returns:
        tuple[dict[str, str], frozenset[str]]: Aliases and ignored names.
    """
    extra_aliases = {k.lower(): v for k, v in (aliases or {}).items()}
    extra_ignored = {name.lower() for name in ignored}
    alias_map = {
        k: v
        for k, v in spec.alias_map.items() if k not in extra_ignored
    }
    alias_map.update(extra_aliases)
    return alias_map, frozenset(
        (spec.ignored | extra_ignored) - set(extra_aliases))


def _tasks(spec: UODBDatasetSpec, dataset_dir: str, split: str, fmt: str,
           coord_base: int, img_dir: Optional[str],
           img_ext: Optional[str]) -> List[Callable[[], ImageRecord]]:
    """One zero-argument loader per listed image of the split."""
    if fmt == 'kitti':
        ids = read_split_file(find_split_file(dataset_dir, split))
        return [
            partial(load_kitti_image, dataset_dir, image_id,
                    img_dir=img_dir or 'image_2', img_ext=img_ext or '.png')
            for image_id in ids
        ]
    if fmt == 'wider':
        gt_path = wider_gt_file(dataset_dir, split)
        if not osp.isfile(gt_path):
            raise FileNotFoundError(
                f'WIDER FACE gt file {gt_path} does not exist; unpack '
                'wider_face_split.zip into the dataset folder.')
        return [
            partial(wider_image_record, dataset_dir, split, image, faces,
                    gt_path) for image, faces in parse_wider_gt(gt_path)
        ]
    tasks = []
    for tree in spec.roots_for(split):
        ids = read_split_file(
            find_split_file(osp.join(dataset_dir, tree), split))
        tasks += [
            partial(load_voc_image, dataset_dir, image_id, tree=tree,
                    img_dir=img_dir or 'JPEGImages',
                    img_ext=img_ext or spec.img_ext, coord_base=coord_base)
            for image_id in ids
        ]
    return tasks


def convert_uodb_split(dataset,
                       dataset_dir: str,
                       split: str,
                       fmt: str = 'voc',
                       coord_base: Optional[int] = None,
                       aliases: Optional[Mapping[str, str]] = None,
                       ignored: Iterable[str] = (),
                       skip_unknown: bool = False,
                       skip_missing_images: bool = False,
                       difficult: str = 'keep',
                       drop_empty: bool = False,
                       img_dir: Optional[str] = None,
                       img_ext: Optional[str] = None,
                       show_progress: bool = True
                       ) -> Tuple[dict, ConversionStats]:
    """Convert one split of a UODB dataset to a COCO dictionary.

    Args:
        dataset (str | UODBDatasetSpec): Dataset name (``'kitti'``) or spec.
        dataset_dir (str): The dataset folder, e.g. ``data/uodb/KITTI``;
            every ``file_name`` is relative to it.
        split (str): Split name, e.g. ``'train'``.
        fmt (str): Source format, a key of :data:`SOURCE_FORMATS`.
        coord_base (int, optional): VOC xml box base (0 or 1); the spec's
            default when None. Ignored by the other formats.
        aliases (Mapping[str, str], optional): Extra ``raw -> class`` rules.
        ignored (Iterable[str]): Extra raw names to drop.
        skip_unknown (bool): Count and drop unknown names instead of failing.
        skip_missing_images (bool): Count and drop listed images whose file
            is missing instead of failing.
        difficult (str): ``'keep'``, ``'crowd'`` or ``'drop'``.
        drop_empty (bool): Drop images left without boxes.
        img_dir (str, optional): Image folder (``JPEGImages`` for VOC,
            ``image_2`` for KITTI) when the tree uses another name.
        img_ext (str, optional): Image extension; the spec's by default
            (``.png`` for the KITTI format).
        show_progress (bool): Show an mmengine progress bar.

    Returns:
        tuple[dict, ConversionStats]: The COCO dictionary and the counts.

    Raises:
        ValueError: For COCO (no conversion needed), a format that does not
            fit the dataset, an unknown class name (unless ``skip_unknown``)
            or broken annotations (the message names the file).
        FileNotFoundError: For a missing split/annotation file, or a missing
            image unless ``skip_missing_images``.
    """
    spec = dataset if isinstance(dataset, UODBDatasetSpec) else \
        get_uodb_spec(dataset)
    if spec.source_format == 'coco':
        raise ValueError(
            f'{spec.name} is released as COCO json and needs no conversion: '
            f'put {spec.ann_file(split)} and the images under '
            f'{spec.img_prefix} in {dataset_dir}.')
    if fmt not in SOURCE_FORMATS:
        raise ValueError(f'Unknown source format {fmt!r}; choose one of '
                         f'{list(SOURCE_FORMATS)}.')
    owner = SOURCE_FORMATS[fmt]
    if owner is not None and owner != spec.name:
        raise ValueError(f'Source format {fmt!r} only applies to {owner!r}, '
                         f'not {spec.name!r}; use fmt="voc".')
    coord_base = spec.coord_base if coord_base is None else coord_base
    alias_map, ignored_names = merge_name_rules(spec, aliases, ignored)
    stats = ConversionStats()
    builder = CocoBuilder(
        spec.classes,
        aliases=alias_map,
        ignored=ignored_names,
        skip_unknown=skip_unknown,
        difficult=difficult,
        drop_empty=drop_empty,
        stats=stats,
        info=dict(
            description=f'UODB {spec.folder} {split}, converted by '
            'damex_mmdet',
            dataset=spec.name,
            split=split,
            source_format=fmt,
            coord_base=coord_base if fmt == 'voc' else 0))
    tasks = _tasks(spec, dataset_dir, split, fmt, coord_base, img_dir,
                   img_ext)
    for task in (track_iter_progress(tasks) if show_progress else tasks):
        try:
            record = task()
        except MissingImageError as err:
            if not skip_missing_images:
                raise MissingImageError(
                    f'{err} Restore it, or skip such images with '
                    '--skip-missing-images.') from err
            stats.skipped['missing_image'] += 1
            continue
        builder.add(record)
    return builder.finish(), stats


def write_coco_json(coco: dict, path: str) -> None:
    """Write a COCO dictionary to ``path``, creating its folder."""
    folder = osp.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(coco, f)
