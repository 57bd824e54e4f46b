"""Format-neutral records every reader produces, and shared file helpers.

Readers (VOC xml, KITTI txt, WIDER txt) translate their format into
:class:`ImageRecord` objects whose boxes are already in one coordinate
convention: **0-based continuous pixel coordinates** ``(x1, y1, x2, y2)``,
where a box covering the whole ``W x H`` image is ``(0, 0, W, H)`` and its
width is ``x2 - x1`` (mmdet's and COCO's convention). Class names are kept raw;
:class:`~damex_mmdet.datasets.converters.coco_builder.CocoBuilder` maps them.

The helpers read image sizes from image headers and image ids from split
files (``ImageSets/Main/<split>.txt``).
"""
import os.path as osp
from dataclasses import dataclass
from typing import List, Tuple

from PIL import Image, UnidentifiedImageError

__all__ = [
    'ObjectRecord', 'ImageRecord', 'MissingImageError', 'read_image_size',
    'find_split_file', 'read_split_file'
]


@dataclass(frozen=True)
class ObjectRecord:
    """One annotated box.

    Attributes:
        name (str): Raw class name as found in the source (normalised to
            lower case by the readers).
        bbox (tuple[float, float, float, float]): ``(x1, y1, x2, y2)`` in
            0-based continuous pixel coordinates, not yet clipped.
        difficult (bool): VOC ``difficult`` flag.
        invalid (bool): The source marks the box unusable (WIDER ``invalid``).
    """

    name: str
    bbox: Tuple[float, float, float, float]
    difficult: bool = False
    invalid: bool = False


@dataclass(frozen=True)
class ImageRecord:
    """One image and its boxes.

    Attributes:
        file_name (str): Image path relative to the dataset folder; becomes
            the COCO ``file_name`` and must be unique within a split.
        width (int): Image width in pixels.
        height (int): Image height in pixels.
        objects (tuple[ObjectRecord]): The boxes, in source order.
        source (str): File the record was read from, for error messages.
        size_from_image (bool): The size was read from the image file
            because the annotation has none.
    """

    file_name: str
    width: int
    height: int
    objects: Tuple[ObjectRecord, ...]
    source: str
    size_from_image: bool = False


class MissingImageError(FileNotFoundError):
    """An annotated image is not on disk (converters may count and skip)."""


def read_image_size(path: str) -> Tuple[int, int]:
    """Read ``(width, height)`` from an image header (pixels not decoded).

    Args:
        path (str): Image file.

    Returns:
        tuple[int, int]: ``(width, height)``.

    Raises:
        MissingImageError: If ``path`` does not exist.
        ValueError: If ``path`` is not a readable image.
    """
    if not osp.isfile(path):
        raise MissingImageError(f'Image file {path} does not exist.')
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(
            f'Cannot read the size of image {path}: {err}. Replace the file '
            'or drop it from the split.') from err


def find_split_file(tree: str, split: str) -> str:
    """Locate the image list of ``split`` in a dataset tree.

    Looks for ``ImageSets/Main/<split>.txt`` (VOC layout), then
    ``ImageSets/<split>.txt`` (the KITTI lists used by mmdet3d).

    Args:
        tree (str): Folder holding ``ImageSets``.
        split (str): Split name, e.g. ``'train'``.

    Returns:
        str: Path of the split file.

    Raises:
        FileNotFoundError: If neither file exists; the message names both.
    """
    candidates = [
        osp.join(tree, 'ImageSets', 'Main', f'{split}.txt'),
        osp.join(tree, 'ImageSets', f'{split}.txt')
    ]
    for path in candidates:
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'No image list for split {split!r}: looked for {candidates[0]} and '
        f'{candidates[1]}. Put one image id per line in one of them.')


def read_split_file(path: str) -> List[str]:
    """Read image ids, one per line, ignoring blank lines.

    Args:
        path (str): Split file.

    Returns:
        list[str]: Ids in file order (may contain ``/`` for sub-folders).

    Raises:
        ValueError: If an id appears twice or the file lists no id.
    """
    ids, first_line = [], {}
    with open(path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, start=1):
            image_id = line.strip()
            if not image_id:
                continue
            if image_id in first_line:
                raise ValueError(
                    f'{path}:{line_no}: image id {image_id!r} is listed '
                    f'again (first on line {first_line[image_id]}); remove '
                    'the duplicate line.')
            first_line[image_id] = line_no
            ids.append(image_id)
    if not ids:
        raise ValueError(f'Split file {path} lists no image.')
    return ids
