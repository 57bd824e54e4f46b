"""Write tiny COCO-format detection datasets for tests and benchmarks.

The images are plain PNGs: a flat random background with one filled
rectangle per box, drawn in a colour fixed by the box's class, so a detector
could in principle learn them. Everything is derived from ``seed``: the same
arguments always produce byte-identical files.

Layout written under ``root`` (the one :mod:`damex_mmdet.datasets.synthetic`
uses as well)::

    root/annotations/<split>.json
    root/images/<split>/<split>_000000.png ...

Example:
    >>> from damex_mmdet.testing import make_coco_fixture
    >>> fix = make_coco_fixture('/tmp/kitti', classes=('car', 'person'),
    ...                         num_images=4)
    >>> cfg = fix.dataset_cfg(pipeline=[])  # a CocoDataset config dict
"""
import colorsys
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

__all__ = ['CocoFixture', 'make_coco_fixture']


@dataclass(frozen=True)
class CocoFixture:
    """Paths and contents of a dataset written by :func:`make_coco_fixture`.

    Attributes:
        root (str): Dataset root folder (use it as ``data_root``).
        ann_file (str): Annotation file, relative to ``root``.
        img_prefix (str): Image folder, relative to ``root``, with a
            trailing slash.
        classes (tuple[str]): Class names, in label order.
        coco (dict): The COCO dictionary that was written to ``ann_file``.
    """

    root: str
    ann_file: str
    img_prefix: str
    classes: Tuple[str, ...]
    coco: dict = field(repr=False)

    @property
    def ann_path(self) -> str:
        """str: Absolute path of the annotation file."""
        return osp.join(self.root, self.ann_file)

    @property
    def num_images(self) -> int:
        """int: Number of images in the annotation file."""
        return len(self.coco['images'])

    def boxes_of(self, image_id: int) -> List[Tuple[List[float], str]]:
        """Ground-truth boxes of one image.

        Args:
            image_id (int): COCO image id.

        Returns:
            list[tuple[list[float], str]]: ``([x1, y1, x2, y2], class name)``
            per annotation, in file order.
        """
        names = {cat['id']: cat['name'] for cat in self.coco['categories']}
        boxes = []
        for ann in self.coco['annotations']:
            if ann['image_id'] == image_id:
                x, y, w, h = ann['bbox']
                boxes.append(([x, y, x + w, y + h], names[ann['category_id']]))
        return boxes

    def dataset_cfg(self,
                    pipeline: Optional[Sequence] = None,
                    **kwargs) -> dict:
        """An mmdet ``CocoDataset`` config reading this fixture.

        Args:
            pipeline (Sequence, optional): Data pipeline (transform configs or
                callables). None leaves the key out (CocoDataset then runs no
                transform, a ``MultiDataset`` may fill it in). Defaults to
                None.
            **kwargs: More ``CocoDataset`` arguments (``filter_cfg``,
                ``test_mode``, ...); they override the defaults here.

        Returns:
            dict: Config dict with ``type='CocoDataset'``.
        """
        cfg = dict(
            type='CocoDataset',
            data_root=self.root,
            ann_file=self.ann_file,
            data_prefix=dict(img=self.img_prefix),
            metainfo=dict(classes=self.classes))
        if pipeline is not None:
            cfg['pipeline'] = list(pipeline)
        cfg.update(kwargs)
        return cfg


def _class_colours(num_classes: int) -> np.ndarray:
    """Fully saturated RGB colour per class, evenly spaced in hue.

    Returns:
        np.ndarray: uint8 array of shape (num_classes, 3).
    """
    rgb = [
        colorsys.hsv_to_rgb(index / num_classes, 1.0, 1.0)
        for index in range(num_classes)
    ]
    return (np.asarray(rgb, dtype=float).reshape(-1, 3) * 255).astype(
        np.uint8)


def _random_box(rng: np.random.Generator, width: int, height: int,
                min_size: int) -> List[float]:
    """Random ``[x, y, w, h]`` box fully inside a ``width x height`` image."""
    box_w = int(rng.integers(min_size, max(min_size + 1, width // 2 + 1)))
    box_h = int(rng.integers(min_size, max(min_size + 1, height // 2 + 1)))
    x = int(rng.integers(0, width - box_w + 1))
    y = int(rng.integers(0, height - box_h + 1))
    return [float(x), float(y), float(box_w), float(box_h)]


def make_coco_fixture(root: str,
                      classes: Sequence[str],
                      num_images: int = 4,
                      boxes_per_image: Tuple[int, int] = (1, 3),
                      image_sizes: Sequence[Tuple[int, int]] = ((64, 48), ),
                      num_empty: int = 0,
                      file_classes: Optional[Sequence[str]] = None,
                      split: str = 'train',
                      seed: int = 0) -> CocoFixture:
    """Write a tiny COCO detection dataset and return where it is.

    Args:
        root (str): Folder to write into (created if missing).
        classes (Sequence[str]): Class names; boxes only use these.
        num_images (int): Number of images, including the empty ones.
        boxes_per_image (tuple[int, int]): Inclusive ``(low, high)`` range of
            boxes drawn per non-empty image.
        image_sizes (Sequence[tuple[int, int]]): ``(width, height)`` of the
            images, cycled over the image index (give both a landscape and a
            portrait size to exercise aspect-ratio grouping).
        num_empty (int): The last ``num_empty`` images get no box at all.
        file_classes (Sequence[str], optional): Category names written to the
            file, in file order, with ids ``1..len(file_classes)``. Defaults to
            ``classes``. Use it to write files whose categories do not match
            the configured classes (a superset, another order, a missing
            name); boxes still only use names present in both.
        split (str): Split name used in the file and folder names.
        seed (int): Seed of every random choice.

    Returns:
        CocoFixture: Paths (``root``-relative) and the written COCO dict.
    """
    classes = tuple(classes)
    if not classes:
        raise ValueError('make_coco_fixture needs at least one class name.')
    if not 0 <= num_empty <= num_images:
        raise ValueError(f'num_empty={num_empty} must lie in [0, num_images='
                         f'{num_images}].')
    file_classes = tuple(classes if file_classes is None else file_classes)
    cat_ids: Dict[str, int] = {
        name: i + 1 for i, name in enumerate(file_classes)
    }
    usable = [name for name in classes if name in cat_ids]
    colours = _class_colours(len(classes))
    rng = np.random.default_rng(seed)

    img_prefix = f'images/{split}/'
    ann_file = f'annotations/{split}.json'
    os.makedirs(osp.join(root, img_prefix), exist_ok=True)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)

    images, annotations = [], []
    low, high = boxes_per_image
    for index in range(num_images):
        width, height = image_sizes[index % len(image_sizes)]
        canvas = np.empty((height, width, 3), dtype=np.uint8)
        canvas[...] = rng.integers(0, 64, size=3, dtype=np.uint8)
        file_name = f'{split}_{index:06d}.png'
        image_id = index + 1
        images.append(
            dict(id=image_id, file_name=file_name, width=width,
                 height=height))
        empty = index >= num_images - num_empty or not usable
        for _ in range(0 if empty else int(rng.integers(low, high + 1))):
            name = usable[int(rng.integers(len(usable)))]
            x, y, w, h = _random_box(rng, width, height, min_size=4)
            canvas[int(y):int(y + h), int(x):int(x + w)] = \
                colours[classes.index(name)]
            annotations.append(
                dict(id=len(annotations) + 1, image_id=image_id,
                     category_id=cat_ids[name], bbox=[x, y, w, h],
                     area=w * h, iscrowd=0))
        Image.fromarray(canvas).save(osp.join(root, img_prefix, file_name))

    coco = dict(
        images=images,
        annotations=annotations,
        categories=[
            dict(id=cat_id, name=name) for name, cat_id in cat_ids.items()
        ])
    with open(osp.join(root, ann_file), 'w', encoding='utf-8') as handle:
        json.dump(coco, handle)
    return CocoFixture(root=root, ann_file=ann_file, img_prefix=img_prefix,
                       classes=classes, coco=coco)
