"""Convert *any* VOC-layout folder to COCO json: your own datasets, not only UODB's.

Layout read (``folder``)::

    folder/Annotations/<id>.xml
    folder/JPEGImages/<id>.<ext>         any image extension, found per id
    folder/ImageSets/Main/<split>.txt    optional: one <id> per line

Written: ``folder/annotations/<split>.json`` with ``file_name`` relative to
``folder`` (``JPEGImages/<id>.<ext>``), so the dataset config is
``CocoDataset(data_root=folder, ann_file='annotations/<split>.json',
data_prefix=dict(img=''))``. Classes come from ``classes`` (their order is the
label order) or, when not given, are the sorted names found in the xml files.
Splits come from ``ImageSets/Main`` or, when the folder has none (or
``split_ratio`` is given), from a deterministic hash split of the ids.
"""
import hashlib
import os
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import print_log

from .coco_builder import CocoBuilder
from .records import MissingImageError, read_split_file
from .stats import ConversionStats
from .voc_xml import load_voc_image, parse_voc_xml

__all__ = ['convert_voc_folder', 'voc_folder_classes', 'voc_folder_splits']

_IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def _annotation_ids(folder: str) -> List[str]:
    annotations = osp.join(folder, 'Annotations')
    if not osp.isdir(annotations):
        raise FileNotFoundError(
            f'{folder}: no Annotations/ folder, so this is not a VOC-layout dataset; expected '
            f'{folder}/Annotations/<id>.xml and {folder}/JPEGImages/<id>.jpg (for a COCO-json '
            'dataset give its folder to tools/misc/make_mixture_config.py directly).')
    ids = sorted(
        osp.splitext(osp.relpath(osp.join(root, name), annotations))[0].replace(os.sep, '/')
        for root, _, names in os.walk(annotations) for name in names if name.endswith('.xml'))
    if not ids:
        raise FileNotFoundError(f'{annotations}: holds no .xml annotation file.')
    return ids


def voc_folder_classes(folder: str, ids: Optional[Sequence[str]] = None) -> Tuple[str, ...]:
    """The object names of the folder's xml files, as annotated, sorted ignoring case.

    Names that differ only in case (``Car`` / ``car``) are one class (labels
    match ignoring case); its name is the most frequent spelling, and the
    merge is printed.
    """
    counts = Counter()
    for image_id in ids if ids is not None else _annotation_ids(folder):
        _, _, objects = parse_voc_xml(osp.join(folder, 'Annotations', image_id + '.xml'))
        counts.update(obj.name for obj in objects)
    if not counts:
        raise ValueError(f'{folder}/Annotations: no <object> in any xml file, so there is no '
                         'class to learn; pass --classes or annotate the images.')
    spellings = {}
    for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        spellings.setdefault(name.lower(), []).append(name)
    for variants in spellings.values():
        if len(variants) > 1:
            print_log(f'{folder}: {variants} differ only in case; one class named '
                      f'{variants[0]!r} (the most frequent spelling).', logger='current')
    return tuple(sorted((variants[0] for variants in spellings.values()), key=str.lower))


def _hash_fraction(image_id: str, seed: int) -> float:
    digest = hashlib.sha256(f'{seed}:{image_id}'.encode()).hexdigest()
    return int(digest[:12], 16) / float(16**12)


def voc_folder_splits(folder: str, split_ratio: Optional[float] = None,
                      seed: int = 0) -> Dict[str, List[str]]:
    """``{split: ids}`` from ``ImageSets/Main/*.txt``, or a hash split of all ids.

    Args:
        folder (str): the VOC folder.
        split_ratio (float, optional): share of ``train`` in (0, 1); the rest is
            ``test``. Used when given, or when the folder has no
            ``ImageSets/Main`` lists (then 0.8).
        seed (int): seed of the hash split (an id's split never depends on
            the other ids).
    """
    ids = _annotation_ids(folder)
    lists = osp.join(folder, 'ImageSets', 'Main')
    files = sorted(f for f in os.listdir(lists) if f.endswith('.txt')) \
        if osp.isdir(lists) and split_ratio is None else []
    # per-class VOC lists (<class>_<split>.txt) are not splits
    files = [f for f in files if '_' not in f[:-4]]
    if files:
        return {f[:-4]: read_split_file(osp.join(lists, f)) for f in files}
    ratio = 0.8 if split_ratio is None else split_ratio
    if not 0 < ratio < 1:
        raise ValueError(f'split ratio {ratio}: give the train share, strictly between 0 and 1.')
    splits = {'train': [], 'test': []}
    for image_id in ids:
        splits['train' if _hash_fraction(image_id, seed) < ratio else 'test'].append(image_id)
    for split, members in splits.items():
        if not members:
            raise ValueError(f'{folder}: split ratio {ratio} leaves {split} empty with '
                             f'{len(ids)} images; use another --split-ratio or add images.')
    return splits


def _image_extension(folder: str, img_dir: str, image_id: str) -> str:
    stem = osp.join(folder, img_dir, image_id)
    for ext in _IMAGE_EXTENSIONS + tuple(e.upper() for e in _IMAGE_EXTENSIONS):
        if osp.isfile(stem + ext):
            return ext
    raise MissingImageError(f'{folder}: image of {image_id!r} not found as '
                            f'{img_dir}/{image_id}.<{"|".join(_IMAGE_EXTENSIONS)}>.')


def convert_voc_folder(folder: str, name: str, classes: Optional[Sequence[str]] = None,
                       split_ratio: Optional[float] = None, seed: int = 0,
                       coord_base: int = 1, img_dir: str = 'JPEGImages',
                       difficult: str = 'keep', ignored: Sequence[str] = (),
                       drop_empty: bool = False
                       ) -> Dict[str, Tuple[dict, ConversionStats]]:
    """Convert every split of one VOC-layout folder to COCO dictionaries.

    Args:
        folder (str): the dataset folder (``Annotations/``, ``JPEGImages/``).
        name (str): the dataset's name (recorded in the json ``info``).
        classes (Sequence[str], optional): class names in label order; an xml
            name outside them (and not in ``ignored``) stops the conversion.
            None: the sorted names found in the xml files.
        split_ratio (float, optional): see :func:`voc_folder_splits`.
        seed (int): seed of the hash split.
        coord_base (int): 1 for VOC's 1-based pixel indices, 0 for 0-based.
        img_dir (str): the image folder.
        difficult (str): ``'keep'``, ``'crowd'`` or ``'drop'``.
        ignored (Sequence[str]): xml names to drop.
        drop_empty (bool): drop images left without boxes.

    Returns:
        dict: ``split -> (coco dict, ConversionStats)``.

    Raises:
        FileNotFoundError: no ``Annotations/``, or a listed id without xml.
        MissingImageError: a listed id without an image.
        ValueError: an xml class outside ``classes`` (naming it, its first
            file and the fix), broken xml.
    """
    splits = voc_folder_splits(folder, split_ratio, seed)
    if classes is None:
        classes = voc_folder_classes(folder, sorted({i for ids in splits.values() for i in ids}))
    out = {}
    for split, ids in splits.items():
        stats = ConversionStats()
        builder = CocoBuilder(classes, ignored=ignored, difficult=difficult,
                              drop_empty=drop_empty, stats=stats,
                              info=dict(description=f'{name} {split}, converted by damex_mmdet',
                                        dataset=name, split=split, source_format='voc',
                                        coord_base=coord_base))
        for image_id in ids:
            ext = _image_extension(folder, img_dir, image_id)
            builder.add(load_voc_image(folder, image_id, img_dir=img_dir, img_ext=ext,
                                       coord_base=coord_base))
        try:
            coco = builder.finish()
        except ValueError as err:
            raise ValueError(f'{folder} ({split}): {err} Or list the class with --classes.') \
                from None
        out[split] = (coco, stats)
    return out
