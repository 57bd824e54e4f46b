"""Read WIDER FACE ground truth (the original ``*_bbx_gt.txt`` files).

Layout (as released)::

    dataset_dir/wider_face_split/wider_face_<split>_bbx_gt.txt
    dataset_dir/WIDER_<split>/images/<event>/<name>.jpg

The gt file repeats, per image::

    0--Parade/0_Parade_marchingband_1_849.jpg
    1
    449 330 122 149 0 0 0 0 0 0

i.e. the image path, the number of faces, then one line per face:
``x y w h blur expression illumination invalid occlusion pose``. An image
with no face has a count of 0 followed by one placeholder line of zeros.
Boxes become ``(x, y, x + w, y + h)`` (0-based continuous) named ``face``;
faces flagged ``invalid`` are marked so the builder drops and counts them.
"""
import os.path as osp
from typing import Iterator, List, Tuple

from .records import (ImageRecord, MissingImageError, ObjectRecord,
                      read_image_size)

__all__ = ['parse_wider_gt', 'wider_gt_file', 'wider_image_record']

_INVALID_FIELD = 7


def wider_gt_file(dataset_dir: str, split: str) -> str:
    """Path of the released gt file of ``split`` (``'train'``/``'val'``)."""
    return osp.join(dataset_dir, 'wider_face_split',
                    f'wider_face_{split}_bbx_gt.txt')


def _is_numeric(line: str) -> bool:
    """Whether every whitespace-separated token of ``line`` is a number."""
    tokens = line.split()
    for token in tokens:
        try:
            float(token)
        except ValueError:
            return False
    return bool(tokens)


def _face(fields: List[str], where: str) -> ObjectRecord:
    """One face line -> :class:`ObjectRecord`."""
    try:
        values = [float(v) for v in fields]
    except ValueError as err:
        raise ValueError(f'{where}: face line {fields} is not numeric.') \
            from err
    if len(values) < 4:
        raise ValueError(f'{where}: a face line needs at least x y w h, '
                         f'found {fields}.')
    x, y, w, h = values[:4]
    invalid = len(values) > _INVALID_FIELD and values[_INVALID_FIELD] != 0
    return ObjectRecord(name='face', bbox=(x, y, x + w, y + h),
                        invalid=invalid)


def parse_wider_gt(
        path: str) -> Iterator[Tuple[str, Tuple[ObjectRecord, ...]]]:
    """Iterate over the images of a WIDER FACE gt file.

    Args:
        path (str): ``wider_face_<split>_bbx_gt.txt``.

    Yields:
        tuple[str, tuple[ObjectRecord]]: Image path relative to
        ``WIDER_<split>/images`` and its faces.

    Raises:
        ValueError: If a count is not an integer or the file ends early; the
            message names the file and line.
    """
    with open(path, encoding='utf-8') as f:
        lines = [line.strip() for line in f]
    pos = 0
    while pos < len(lines):
        if not lines[pos]:
            pos += 1
            continue
        image, count_line = lines[pos], pos + 1
        if count_line >= len(lines):
            raise ValueError(f'{path}:{pos + 1}: the file ends after image '
                             f'{image!r} without a face count.')
        try:
            count = int(lines[count_line])
        except ValueError as err:
            raise ValueError(
                f'{path}:{count_line + 1}: expected the face count of '
                f'{image!r}, found {lines[count_line]!r}.') from err
        if count < 0:
            raise ValueError(f'{path}:{count_line + 1}: negative face count '
                             f'{count} for {image!r}.')
        # A zero count is followed by one placeholder line of zeros (image
        # paths such as '0--Parade/...' also start with a digit, hence the
        # test on whole tokens).
        num_lines = count
        if count == 0 and count_line + 1 < len(lines) and _is_numeric(
                lines[count_line + 1]):
            num_lines = 1
        start, end = count_line + 1, count_line + 1 + num_lines
        if end > len(lines):
            raise ValueError(f'{path}: image {image!r} announces {count} '
                             'faces but the file ends first.')
        faces = tuple(
            _face(lines[i].split(), f'{path}:{i + 1}')
            for i in range(start, start + count))
        yield image, faces
        pos = end


def wider_image_record(dataset_dir: str, split: str, image: str,
                       faces: Tuple[ObjectRecord, ...],
                       gt_path: str) -> ImageRecord:
    """Build the record of one WIDER image; the size comes from the image.

    Args:
        dataset_dir (str): WIDER FACE folder.
        split (str): ``'train'`` or ``'val'``.
        image (str): Path from the gt file (``<event>/<name>.jpg``).
        faces (tuple[ObjectRecord]): Its faces.
        gt_path (str): The gt file, for messages.

    Returns:
        ImageRecord: ``file_name`` is ``WIDER_<split>/images/<image>``.

    Raises:
        MissingImageError: If the image is missing.
    """
    file_name = f'WIDER_{split}/images/{image}'
    img_path = osp.join(dataset_dir, file_name)
    if not osp.isfile(img_path):
        raise MissingImageError(
            f'Image {img_path} listed in {gt_path} does not exist.')
    width, height = read_image_size(img_path)
    return ImageRecord(
        file_name=file_name,
        width=width,
        height=height,
        objects=faces,
        source=gt_path,
        size_from_image=True)
