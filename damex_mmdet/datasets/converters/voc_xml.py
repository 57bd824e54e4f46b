"""Read PASCAL VOC xml annotations (the layout UODB releases its sets in).

Layout of one VOC tree (``tree``)::

    tree/Annotations/<id>.xml
    tree/ImageSets/Main/<split>.txt     one <id> per line
    tree/JPEGImages/<id><ext>

``<id>`` may contain ``/`` (scene sub-folders). The image's ``file_name`` is
built from ``<id>``, never from the xml ``<filename>`` tag: that tag repeats
across the scenes of GMU Kitchen (``rgb_1.png`` in every scene), while ids are
unique by construction (one xml file each).

Coordinates: with ``coord_base=1`` the xml holds 1-based, inclusive pixel
indices (VOC devkit), so a box ``xmin..xmax`` covers the continuous span
``[xmin - 1, xmax)``; with ``coord_base=0`` the numbers are taken as 0-based
continuous coordinates unchanged.
"""
import os.path as osp
import xml.etree.ElementTree as ET
from typing import List, Optional, Tuple

from .records import (ImageRecord, MissingImageError, ObjectRecord,
                      read_image_size)

__all__ = ['parse_voc_xml', 'load_voc_image']


def _text(node, tag: str) -> Optional[str]:
    """Stripped text of child ``tag`` or None when absent or empty."""
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return None
    return child.text.strip()


def _number(node, tag: str, where: str) -> float:
    """Parse child ``tag`` as a float; errors name ``where``."""
    text = _text(node, tag)
    if text is None:
        raise ValueError(f'{where}: <{tag}> is missing or empty.')
    try:
        return float(text)
    except ValueError as err:
        raise ValueError(
            f'{where}: <{tag}> is {text!r}, not a number.') from err


def _flag(node, tag: str) -> bool:
    """A 0/1 child flag; absent or non-numeric text counts as 0."""
    text = _text(node, tag)
    try:
        return text is not None and int(float(text)) != 0
    except ValueError:
        return False


def parse_voc_xml(
        xml_path: str,
        coord_base: int = 1) -> Tuple[int, int, Tuple[ObjectRecord, ...]]:
    """Parse one VOC annotation file.

    Args:
        xml_path (str): The ``.xml`` file.
        coord_base (int): 1 for 1-based inclusive pixel indices (VOC), 0 for
            0-based continuous coordinates. Defaults to 1.

    Returns:
        tuple: ``(width, height, objects)``; ``width``/``height`` are 0 when
        ``<size>`` is missing or zero, ``objects`` holds boxes as 0-based
        continuous ``(x1, y1, x2, y2)`` with lower-case names.

    Raises:
        ValueError: If the file is not well-formed xml, or an object lacks a
            name or a numeric box; the message names the file.
    """
    if coord_base not in (0, 1):
        raise ValueError(f'coord_base must be 0 or 1, got {coord_base!r}.')
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as err:
        raise ValueError(f'Broken annotation file {xml_path}: {err}. Fix or '
                         'regenerate it, or drop its id from the split '
                         'file.') from err
    width = height = 0
    size = root.find('size')
    if size is not None:
        width = int(float(_text(size, 'width') or 0))
        height = int(float(_text(size, 'height') or 0))
    objects: List[ObjectRecord] = []
    for index, obj in enumerate(root.iter('object')):
        where = f'{xml_path} (object {index})'
        name = _text(obj, 'name')
        if name is None:
            raise ValueError(f'{where}: <name> is missing or empty.')
        box = obj.find('bndbox')
        if box is None:
            raise ValueError(f'{where}: <bndbox> is missing.')
        x1, y1, x2, y2 = (_number(box, tag, where)
                          for tag in ('xmin', 'ymin', 'xmax', 'ymax'))
        objects.append(
            ObjectRecord(
                name=name,  # as annotated; classes match ignoring case
                bbox=(x1 - coord_base, y1 - coord_base, x2, y2),
                difficult=_flag(obj, 'difficult')))
    return width, height, tuple(objects)


def load_voc_image(dataset_dir: str,
                   image_id: str,
                   tree: str = '',
                   img_dir: str = 'JPEGImages',
                   img_ext: str = '.jpg',
                   coord_base: int = 1) -> ImageRecord:
    """Read the annotation of one listed image of a VOC tree.

    Args:
        dataset_dir (str): Dataset folder; ``file_name`` is relative to it.
        image_id (str): Id from the split file.
        tree (str): VOC tree relative to ``dataset_dir`` (``'VOC2007'``);
            empty for the dataset folder itself.
        img_dir (str): Image folder of the tree. Defaults to ``JPEGImages``.
        img_ext (str): Image extension with the dot. Defaults to ``.jpg``.
        coord_base (int): See :func:`parse_voc_xml`.

    Returns:
        ImageRecord: The image; its size comes from ``<size>``, or from the
        image file when ``<size>`` is missing or zero.

    Raises:
        FileNotFoundError: If the xml file is missing.
        MissingImageError: If the image file is missing.
    """
    xml_path = osp.join(dataset_dir, tree, 'Annotations', f'{image_id}.xml')
    if not osp.isfile(xml_path):
        raise FileNotFoundError(
            f'Annotation file {xml_path} of listed image {image_id!r} does '
            'not exist; restore it or remove the id from the split file.')
    width, height, objects = parse_voc_xml(xml_path, coord_base)
    file_name = '/'.join(
        part for part in (tree.strip('/'), img_dir, image_id + img_ext)
        if part)
    img_path = osp.join(dataset_dir, file_name)
    if not osp.isfile(img_path):
        raise MissingImageError(
            f'Image {img_path} annotated by {xml_path} does not exist.')
    size_from_image = width <= 0 or height <= 0
    if size_from_image:
        width, height = read_image_size(img_path)
    return ImageRecord(
        file_name=file_name,
        width=width,
        height=height,
        objects=objects,
        source=xml_path,
        size_from_image=size_from_image)
