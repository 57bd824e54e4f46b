"""A miniature UODB tree in the release layout, for end-to-end tests of the UODB configs.

Writes, under ``root`` (the UODB root, ``data/uodb`` in the configs), the 10
VOC-layout datasets with their real folder names, VOC trees, split files,
image extensions, coordinate bases and class names, and COCO as released
(``annotations/instances_<split>.json`` and images under ``val2014/``).
Images keep each dataset's typical aspect ratio at a short side of
``short_side`` pixels (>= 32, the configs' ``filter_cfg.min_size``) and hold
1-2 boxes of the dataset's typical relative size. KITTI's xml files use the
raw KITTI names (``car``, ``van``, ``pedestrian``, ``DontCare`` ...) so the
converter's alias and ignore rules run.

Not written: the converted ``annotations/<split>.json`` of the VOC-layout
sets and the n-shot files; the tests make them with the tools, as the
docs/data.md's "Training on UODB" steps say.
"""
import json
import os
import os.path as osp
from typing import Dict, Optional

import numpy as np

from damex_mmdet.datasets.uodb import UODB_DATASETS

__all__ = ['UODB_FIXTURE_SHAPES', 'make_uodb_fixture']

#: name -> (width / height of the released images, box side as a share of the
#: short side (min, max)): the typical shape of each dataset.
UODB_FIXTURE_SHAPES = {
    'kitti': (3.3, (0.2, 0.5)),  # 1242x375, cars and pedestrians
    'voc': (1.33, (0.3, 0.8)),  # ~500x375, large objects
    'widerface': (1.33, (0.1, 0.25)),  # many small faces
    'lisa': (1.33, (0.1, 0.3)),  # 640x480, small signs
    'kitchen': (1.78, (0.2, 0.4)),  # 1920x1080, products on a counter
    'coco': (1.33, (0.2, 0.7)),  # 640x480
    'dota': (1.0, (0.1, 0.2)),  # large aerial tiles, small objects
    'deeplesion': (1.0, (0.1, 0.25)),  # 512x512 CT slices, small lesions
    'comic': (1.33, (0.3, 0.8)),
    'clipart': (1.33, (0.3, 0.8)),
    'watercolor': (1.33, (0.3, 0.8)),
}
# raw KITTI label names, as in label_2 / the UODB xml (aliases and ignores apply)
_KITTI_RAW = ('car', 'van', 'truck', 'pedestrian', 'cyclist', 'DontCare')


def _image(rng, width, height, boxes, path):
    from PIL import Image
    pixels = np.full((height, width, 3), rng.integers(90, 200), np.uint8)
    for x1, y1, x2, y2 in boxes:
        pixels[int(y1):int(y2), int(x1):int(x2)] = rng.integers(0, 255, 3)
    Image.fromarray(pixels).save(path)


def _boxes(rng, width, height, shares, count):
    short = min(width, height)
    boxes = []
    for _ in range(count):
        side = max(6.0, short * rng.uniform(*shares))
        w, h = min(side * rng.uniform(0.8, 1.25), width - 2), min(side, height - 2)
        x1, y1 = rng.uniform(0, width - w), rng.uniform(0, height - h)
        boxes.append((x1, y1, x1 + w, y1 + h))
    return boxes


def _voc_xml(width, height, objects, coord_base):
    body = ''
    for name, (x1, y1, x2, y2) in objects:
        # 1-based inclusive pixel indices when coord_base is 1 (VOC devkit)
        body += (f'<object><name>{name}</name><difficult>0</difficult><bndbox>'
                 f'<xmin>{x1 + coord_base:.1f}</xmin><ymin>{y1 + coord_base:.1f}</ymin>'
                 f'<xmax>{x2:.1f}</xmax><ymax>{y2:.1f}</ymax></bndbox></object>')
    return (f'<annotation><size><width>{width}</width><height>{height}</height><depth>3</depth>'
            f'</size>{body}</annotation>')


def make_uodb_fixture(root: str, images_per_split: int = 2, short_side: int = 40,
                      kitti_train_images: Optional[int] = None, seed: int = 0) -> Dict[str, dict]:
    """Write the miniature UODB tree.

    Args:
        root (str): the UODB root to create (e.g. ``<tmp>/data/uodb``).
        images_per_split (int): images of every split of every dataset.
        short_side (int): short image side in pixels (>= 32).
        kitti_train_images (int, optional): KITTI training images instead
            (the n-shot mixtures need 1000 with boxes).
        seed (int): seed of sizes, boxes and colours.

    Returns:
        dict: ``name -> {'folder', 'splits': {split: number of images}}``.
    """
    if short_side < 32:
        raise ValueError(f'short_side={short_side}: the UODB configs drop images under 32 px.')
    rng = np.random.default_rng(seed)
    written = {}
    for name, spec in UODB_DATASETS.items():
        ratio, shares = UODB_FIXTURE_SHAPES[name]
        width, height = int(round(short_side * ratio)), short_side
        if ratio < 1:
            width, height = short_side, int(round(short_side / ratio))
        folder = osp.join(root, spec.folder)
        counts = {}
        if spec.source_format == 'coco':
            for split in spec.splits:
                images, annotations = [], []
                os.makedirs(osp.join(folder, spec.img_prefix), exist_ok=True)
                for index in range(images_per_split):
                    file_name = f'COCO_{split}_{index:012d}.jpg'
                    boxes = _boxes(rng, width, height, shares, 1 + index % 2)
                    _image(rng, width, height, boxes, osp.join(folder, spec.img_prefix, file_name))
                    images.append(dict(id=index + 1, file_name=file_name, width=width,
                                       height=height))
                    for x1, y1, x2, y2 in boxes:
                        annotations.append(dict(
                            id=len(annotations) + 1, image_id=index + 1, iscrowd=0,
                            category_id=int(rng.integers(len(spec.classes))) + 1,
                            bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1)))
                categories = [dict(id=i + 1, name=c) for i, c in enumerate(spec.classes)]
                ann = osp.join(folder, spec.ann_file(split))
                os.makedirs(osp.dirname(ann), exist_ok=True)
                with open(ann, 'w') as f:
                    json.dump(dict(images=images, annotations=annotations,
                                   categories=categories), f)
                counts[split] = len(images)
            written[name] = dict(folder=folder, splits=counts)
            continue
        names = _KITTI_RAW if name == 'kitti' else spec.classes
        for split in spec.splits:
            num = kitti_train_images if (name == 'kitti' and split == spec.train_split and
                                         kitti_train_images) else images_per_split
            counts[split] = 0
            trees = spec.roots_for(split)
            num = max(num, len(trees))  # VOC 07+12: at least one image per tree
            for t, tree in enumerate(trees):
                base = osp.join(folder, tree)
                for sub in ('Annotations', 'JPEGImages', osp.join('ImageSets', 'Main')):
                    os.makedirs(osp.join(base, sub), exist_ok=True)
                ids = []
                share = num // len(trees) + (1 if t < num % len(trees) else 0)
                for index in range(share):
                    image_id = f'{split}_{index:06d}'
                    boxes = _boxes(rng, width, height, shares, 1 + index % 2)
                    objects = [(names[int(rng.integers(len(names)))], box) for box in boxes]
                    if name == 'kitti':
                        # DontCare is dropped by the rules: the first box is always a real
                        # class, so every image keeps a box (the 1000-shot file needs 1000)
                        objects[0] = (_KITTI_RAW[int(rng.integers(5))], objects[0][1])
                    _image(rng, width, height, boxes,
                           osp.join(base, 'JPEGImages', image_id + spec.img_ext))
                    with open(osp.join(base, 'Annotations', image_id + '.xml'), 'w') as f:
                        f.write(_voc_xml(width, height, objects, spec.coord_base))
                    ids.append(image_id)
                with open(osp.join(base, 'ImageSets', 'Main', f'{split}.txt'), 'w') as f:
                    f.write(''.join(i + '\n' for i in ids))
                counts[split] += len(ids)
        written[name] = dict(folder=folder, splits=counts)
    return written
