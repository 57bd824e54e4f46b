"""Frozen description of the 11 datasets of the UODB benchmark.

UODB (Wang et al., "Towards Universal Object Detection by Domain Attention",
CVPR 2019) bundles 11 detection datasets; DAMEX (Jain et al., NeurIPS 2023)
trains one detector on all of them. This module is the single source of truth
for what each one looks like once converted to COCO json by
``tools/dataset_converters/uodb_to_coco.py``: the class tuple (its order is the
label order), the splits, the input size UODB resizes to, the image extension
and how names found in the released VOC xml files map onto the classes.

Every dataset lives in its own folder under the UODB root (``data/uodb`` in
the configs)::

    data/uodb/<folder>/<root>/Annotations/*.xml        (VOC-layout sets)
    data/uodb/<folder>/<root>/ImageSets/Main/<split>.txt
    data/uodb/<folder>/<root>/JPEGImages/*<img_ext>
    data/uodb/<folder>/annotations/<split>.json        (converter output)

``<root>`` is empty except for VOC, whose 07+12 training set reads two trees
(``VOC2007`` and ``VOC2012``). COCO is used as released (COCO json).

Example:
    >>> from damex_mmdet.datasets.uodb import UODB_DATASETS, uodb_classes
    >>> list(UODB_DATASETS)[:3]
    ['kitti', 'voc', 'widerface']
    >>> uodb_classes('kitti')
    ('pedestrian', 'cyclist', 'vehicle')
"""
from dataclasses import dataclass
from types import MappingProxyType
from typing import Dict, FrozenSet, Mapping, Tuple

from mmdet.datasets import CocoDataset

__all__ = [
    'UODBDatasetSpec', 'UODB_DATASETS', 'UODB_ROOT', 'VOC_CLASSES',
    'get_uodb_spec', 'uodb_classes', 'uodb_dataset_names',
    'uodb_resize_scale'
]

#: Default UODB root used by the configs and the converter.
UODB_ROOT = 'data/uodb'

#: The 20 PASCAL VOC classes, in the order of the VOC devkit.
VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
               'tvmonitor')

# Long side limit paired with a short side: mmdet's 1333 for 800, scaled alike
# (600 -> 1000 is the classic VOC size).
_LONG_OVER_SHORT = 1333 / 800

_FORMATS = ('voc', 'coco')


@dataclass(frozen=True)
class UODBDatasetSpec:
    """How one UODB dataset is stored, converted and resized.

    Attributes:
        name (str): Canonical lower-case key, e.g. ``'kitti'``. Used as the
            dataset name in ``MultiDataset`` configs and expert maps.
        folder (str): Folder under the UODB root, e.g. ``'KITTI'``.
        classes (tuple[str]): Class names; their order is the label order
            and the COCO category ids are ``1..len(classes)`` in this order.
        train_split (str): Split used for training (``ImageSets/Main`` name).
        test_split (str): Split used for evaluation.
        short_side (int): Shorter image side UODB resizes its inputs to.
        img_ext (str): Image file extension, with the dot.
        source_format (str): ``'voc'`` (released as VOC xml, converted) or
            ``'coco'`` (released as COCO json, used as is).
        coord_base (int): ``1`` when the released xml boxes are 1-based pixel
            indices (UODB's own loader subtracts 1), ``0`` when they are
            already 0-based. The converter's default.
        split_roots (tuple[tuple[str, tuple[str]]]): Per split, the VOC trees
            (relative to the dataset folder) it reads; a split not listed
            reads the dataset folder itself (``('',)``).
        aliases (tuple[tuple[str, str]]): ``(raw name, class)`` pairs that
            rename xml names to a class, e.g. KITTI ``('van', 'vehicle')``.
        ignored (frozenset[str]): xml names dropped on purpose (counted by the
            converter), e.g. KITTI ``'dontcare'``.
        img_prefix (str): ``data_prefix['img']`` of the dataset config; empty
            for converted datasets, whose ``file_name`` is relative to the
            dataset folder.
        note (tuple[str]): What the dataset is, as comment lines of its
            generated config (``damex_mmdet/datasets/uodb_configs.py``).
    """

    name: str
    folder: str
    classes: Tuple[str, ...]
    train_split: str
    test_split: str
    short_side: int
    img_ext: str
    source_format: str = 'voc'
    coord_base: int = 1
    split_roots: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    aliases: Tuple[Tuple[str, str], ...] = ()
    ignored: FrozenSet[str] = frozenset()
    img_prefix: str = ''
    note: Tuple[str, ...] = ()

    def __post_init__(self):
        where = f'UODB dataset spec {self.name!r}'
        if self.name != self.name.lower():
            raise ValueError(f'{where}: the name must be lower-case.')
        if len(set(self.classes)) != len(self.classes) or not self.classes:
            raise ValueError(f'{where}: classes must be non-empty and unique, '
                             f'got {self.classes}.')
        if self.source_format not in _FORMATS:
            raise ValueError(f'{where}: source_format must be one of '
                             f'{_FORMATS}, got {self.source_format!r}.')
        if self.coord_base not in (0, 1):
            raise ValueError(f'{where}: coord_base must be 0 or 1, got '
                             f'{self.coord_base!r}.')
        bad_targets = [dst for _, dst in self.aliases
                       if dst not in self.classes]
        if bad_targets:
            raise ValueError(f'{where}: aliases point to {bad_targets}, which '
                             f'are not classes {self.classes}.')
        clash = (self.ignored | {src for src, _ in self.aliases}) & set(
            self.classes)
        if clash:
            raise ValueError(f'{where}: {sorted(clash)} are classes and can '
                             'be neither ignored nor aliased.')

    @property
    def num_classes(self) -> int:
        """int: Number of classes."""
        return len(self.classes)

    @property
    def alias_map(self) -> Dict[str, str]:
        """dict[str, str]: Raw xml name -> class name."""
        return dict(self.aliases)

    @property
    def splits(self) -> Tuple[str, str]:
        """tuple[str, str]: ``(train_split, test_split)``."""
        return self.train_split, self.test_split

    @property
    def resize_scale(self) -> Tuple[int, int]:
        """tuple[int, int]: ``(long side limit, short side)`` for mmdet's
        ``Resize(keep_ratio=True)``, e.g. ``(1000, 600)``."""
        return round(self.short_side * _LONG_OVER_SHORT), self.short_side

    def roots_for(self, split: str) -> Tuple[str, ...]:
        """VOC trees (relative to the dataset folder) holding ``split``.

        Args:
            split (str): Split name, e.g. ``'trainval'``.

        Returns:
            tuple[str]: Sub-folders; ``('',)`` means the dataset folder.
        """
        return dict(self.split_roots).get(split, ('', ))

    def ann_file(self, split: str) -> str:
        """Annotation file of ``split``, relative to the dataset folder."""
        if self.source_format == 'coco':
            return f'annotations/instances_{split}.json'
        return f'annotations/{split}.json'

    def data_root(self, uodb_root: str = UODB_ROOT) -> str:
        """Dataset folder (with a trailing slash) under ``uodb_root``."""
        return f'{uodb_root.rstrip("/")}/{self.folder}/'


_CROSS_DOMAIN_6 = ('bicycle', 'bird', 'car', 'cat', 'dog', 'person')

_SPECS = (
    UODBDatasetSpec(
        name='kitti',
        folder='KITTI',
        classes=('pedestrian', 'cyclist', 'vehicle'),
        train_split='train',
        test_split='val',
        short_side=576,
        img_ext='.jpg',
        # DAMEX merges the motor vehicles into one class.
        aliases=(('car', 'vehicle'), ('van', 'vehicle'), ('truck', 'vehicle')),
        ignored=frozenset({'dontcare', 'misc', 'tram', 'person_sitting'}),
        note=("KITTI: driving scenes. DAMEX merges car/van/truck into 'vehicle';",
              'dontcare/misc/tram/person_sitting are dropped by the converter.')),
    UODBDatasetSpec(
        name='voc',
        folder='VOC',
        classes=VOC_CLASSES,
        train_split='trainval',
        test_split='test',
        short_side=600,
        img_ext='.jpg',
        split_roots=(('trainval', ('VOC2007', 'VOC2012')),
                     ('test', ('VOC2007', ))),
        note=('PASCAL VOC: trains on VOC2007+VOC2012 trainval, tests on VOC2007 test;',
              'file names carry the VOC2007/ or VOC2012/ tree.')),
    UODBDatasetSpec(
        name='widerface',
        folder='WiderFace',
        classes=('face', ),
        train_split='train',
        test_split='val',
        short_side=800,
        img_ext='.jpg',
        coord_base=0,
        note=('WIDER FACE: faces in crowded scenes.',)),
    UODBDatasetSpec(
        name='lisa',
        folder='LISA',
        classes=('warning', 'noturn', 'speedlimit', 'stop'),
        train_split='train',
        test_split='test',
        short_side=800,
        img_ext='.png',
        coord_base=0,
        note=('LISA traffic signs: four super-classes, mapped by name by the',
              'converter (code bases order them differently).')),
    UODBDatasetSpec(
        name='kitchen',
        folder='Kitchen',
        classes=('coca_cola_glass_bottle', 'coffee_mate_french_vanilla',
                 'honey_bunches_of_oats_honey_roasted', 'hunts_sauce',
                 'mahatma_rice',
                 'nature_valley_soft_baked_oatmeal_squares_cinnamon_'
                 'brown_sugar', 'nature_valley_sweet_and_salty_nut_almond',
                 'palmolive_orange', 'pop_secret_light_butter',
                 'pringles_bbq', 'red_bull'),
        train_split='train',
        test_split='test',
        short_side=800,
        img_ext='.png',
        note=('GMU Kitchen: 11 grocery items, PNG frames; frame names repeat',
              'across scenes, file names come from the unique split-file ids.')),
    UODBDatasetSpec(
        name='coco',
        folder='COCO',
        classes=tuple(CocoDataset.METAINFO['classes']),
        train_split='valminusminival2014',
        test_split='minival2014',
        short_side=800,
        img_ext='.jpg',
        source_format='coco',
        coord_base=0,  # COCO json boxes are used as they are
        img_prefix='val2014/',
        note=('COCO 2014: trains on valminusminival2014 (~35k images), tests on',
              'minival2014 (5k); COCO json used as released, images in val2014/.')),
    UODBDatasetSpec(
        name='dota',
        folder='DOTA',
        classes=('plane', 'baseball-diamond', 'bridge', 'ground-track-field',
                 'small-vehicle', 'large-vehicle', 'ship', 'tennis-court',
                 'basketball-court', 'storage-tank', 'soccer-ball-field',
                 'roundabout', 'harbor', 'swimming-pool', 'helicopter'),
        train_split='train',
        test_split='val',
        short_side=600,
        img_ext='.jpg',
        coord_base=0,
        note=('DOTA: aerial images, horizontal boxes, 15 classes.',)),
    UODBDatasetSpec(
        name='deeplesion',
        folder='DeepLesion',
        classes=('lesion', ),
        train_split='trainval',
        test_split='test',
        short_side=512,
        img_ext='.png',
        coord_base=0,
        note=('DeepLesion: CT slices (16-bit PNG), one class.',)),
    UODBDatasetSpec(
        name='comic',
        folder='Comic',
        classes=_CROSS_DOMAIN_6,
        train_split='train',
        test_split='test',
        short_side=600,
        img_ext='.jpg',
        note=('Comic (Inoue et al. 2018): comics, the 6 watercolor classes.',)),
    UODBDatasetSpec(
        name='clipart',
        folder='Clipart',
        classes=VOC_CLASSES,
        train_split='train',
        test_split='test',
        short_side=600,
        img_ext='.jpg',
        note=('Clipart (Inoue et al. 2018): clip art, the 20 VOC classes.',)),
    UODBDatasetSpec(
        name='watercolor',
        folder='Watercolor',
        classes=_CROSS_DOMAIN_6,
        train_split='train',
        test_split='test',
        short_side=600,
        img_ext='.jpg',
        note=('Watercolor (Inoue et al. 2018): paintings, 6 VOC classes.',)),
)

#: Ordered, read-only mapping name -> :class:`UODBDatasetSpec`, in the
#: column order of the DAMEX paper's Table 1.
UODB_DATASETS: Mapping[str, UODBDatasetSpec] = MappingProxyType(
    {spec.name: spec
     for spec in _SPECS})


def uodb_dataset_names() -> Tuple[str, ...]:
    """Names of the 11 UODB datasets, in benchmark order."""
    return tuple(UODB_DATASETS)


def get_uodb_spec(name: str) -> UODBDatasetSpec:
    """Look a dataset up by name (case-insensitive, e.g. ``'KITTI'``).

    Raises:
        ValueError: If ``name`` is not a UODB dataset.
    """
    key = str(name).lower()
    if key not in UODB_DATASETS:
        raise ValueError(f'Unknown UODB dataset {name!r}; choose one of '
                         f'{list(UODB_DATASETS)}.')
    return UODB_DATASETS[key]


def uodb_classes(name: str) -> Tuple[str, ...]:
    """Class names of a UODB dataset, in label order."""
    return get_uodb_spec(name).classes


def uodb_resize_scale(name: str) -> Tuple[int, int]:
    """``(long side limit, short side)`` UODB resizes ``name`` to."""
    return get_uodb_spec(name).resize_scale
