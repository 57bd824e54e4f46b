"""Read KITTI object-detection labels (the original ``label_2`` txt files).

Layout (KITTI ``training`` folder, plus an id list per split)::

    dataset_dir/label_2/<id>.txt
    dataset_dir/image_2/<id>.png
    dataset_dir/ImageSets/Main/<split>.txt  (or ImageSets/<split>.txt)

Each label line has 15 space-separated fields (16 with a score)::

    type truncated occluded alpha left top right bottom h w l x y z ry

``left top right bottom`` are 0-based pixel coordinates and are used as
continuous coordinates unchanged. ``type`` (``Car``, ``Van``,
``Person_sitting``, ``DontCare`` ...) is lower-cased; the UODB spec maps it.
"""
import os.path as osp
from typing import List, Tuple

from .records import (ImageRecord, MissingImageError, ObjectRecord,
                      read_image_size)

__all__ = ['parse_kitti_label', 'load_kitti_image']


def parse_kitti_label(path: str) -> Tuple[ObjectRecord, ...]:
    """Parse one KITTI label file.

    Args:
        path (str): ``label_2/<id>.txt``.

    Returns:
        tuple[ObjectRecord]: Boxes as 0-based ``(x1, y1, x2, y2)`` with
        lower-case type names.

    Raises:
        ValueError: If a line does not have 15 or 16 fields or its box is not
            numeric; the message names the file and line.
    """
    objects: List[ObjectRecord] = []
    with open(path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) not in (15, 16):
                raise ValueError(
                    f'{path}:{line_no}: a KITTI label line has 15 fields (16 '
                    f'with a score), found {len(fields)}.')
            try:
                box = tuple(float(v) for v in fields[4:8])
            except ValueError as err:
                raise ValueError(f'{path}:{line_no}: the box {fields[4:8]} is '
                                 'not numeric.') from err
            objects.append(ObjectRecord(name=fields[0].lower(), bbox=box))
    return tuple(objects)


def load_kitti_image(dataset_dir: str,
                     image_id: str,
                     img_dir: str = 'image_2',
                     label_dir: str = 'label_2',
                     img_ext: str = '.png') -> ImageRecord:
    """Read the label of one KITTI image; the size comes from the image.

    Args:
        dataset_dir (str): Folder holding ``img_dir`` and ``label_dir``.
        image_id (str): Id from the split file, e.g. ``'000042'``.
        img_dir (str): Image folder. Defaults to ``image_2``.
        label_dir (str): Label folder. Defaults to ``label_2``.
        img_ext (str): Image extension with the dot. Defaults to ``.png``.

    Returns:
        ImageRecord: ``file_name`` is ``<img_dir>/<id><img_ext>``.

    Raises:
        FileNotFoundError: If the label file is missing.
        MissingImageError: If the image is missing.
    """
    label_path = osp.join(dataset_dir, label_dir, f'{image_id}.txt')
    if not osp.isfile(label_path):
        raise FileNotFoundError(
            f'Label file {label_path} of listed image {image_id!r} does not '
            'exist; restore it or remove the id from the split file.')
    file_name = f'{img_dir}/{image_id}{img_ext}'
    img_path = osp.join(dataset_dir, file_name)
    if not osp.isfile(img_path):
        raise MissingImageError(
            f'Image {img_path} labelled by {label_path} does not exist.')
    width, height = read_image_size(img_path)
    return ImageRecord(
        file_name=file_name,
        width=width,
        height=height,
        objects=parse_kitti_label(label_path),
        source=label_path,
        size_from_image=True)
