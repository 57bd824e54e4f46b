"""Tests of the KITTI label_2 txt reader."""
import pytest
from PIL import Image

from damex_mmdet.datasets.converters import (convert_uodb_split,
                                             parse_kitti_label)

KITTI_LABEL = (
    'Car 0.00 0 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 '
    '46.70 -1.59\n'
    'Person_sitting 0.00 0 -1.0 10 20 30 40 1 1 1 1 1 1 1\n'
    '\n'
    'DontCare -1 -1 -10 503.89 169.71 590.61 190.13 -1 -1 -1 -1000 -1000 '
    '-1000 -10\n'
    'Van 0.00 0 -1.0 1190 150 1250 200 1 1 1 1 1 1 1 0.9\n')


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding='utf-8')
    return str(path)


def test_parse_kitti_label(tmp_path):
    objects = parse_kitti_label(_write(tmp_path / '000000.txt', KITTI_LABEL))
    assert [o.name for o in objects] == [
        'car', 'person_sitting', 'dontcare', 'van'
    ]
    assert objects[0].bbox == (587.01, 173.33, 614.12, 200.12)
    assert objects[3].bbox == (1190., 150., 1250., 200.)  # 16 fields: score


def test_parse_kitti_label_errors_name_line(tmp_path):
    short = _write(tmp_path / 'a.txt', 'Car 0 0 0 1 2 3\n')
    with pytest.raises(ValueError, match=r'a\.txt:1: .*found 7'):
        parse_kitti_label(short)
    bad = _write(tmp_path / 'b.txt',
                 '\nCar 0 0 0 1 x 3 4 1 1 1 1 1 1 1\n')
    with pytest.raises(ValueError, match=r'b\.txt:2: the box'):
        parse_kitti_label(bad)


def test_convert_kitti_format(tmp_path):
    root = tmp_path / 'KITTI'
    _write(root / 'label_2' / '000000.txt', KITTI_LABEL)
    _write(root / 'ImageSets' / 'train.txt', '000000\n')
    (root / 'image_2').mkdir()
    Image.new('RGB', (1242, 375)).save(root / 'image_2' / '000000.png')
    coco, stats = convert_uodb_split(
        'kitti', str(root), 'train', fmt='kitti', show_progress=False)
    assert coco['images'] == [
        dict(id=1, file_name='image_2/000000.png', width=1242, height=375)
    ]
    car, van = coco['annotations']
    assert car['category_id'] == van['category_id'] == 3  # vehicle
    assert car['bbox'] == pytest.approx([587.01, 173.33, 27.11, 26.79])
    assert van['bbox'] == [1190., 150., 52., 50.]  # clipped at x = 1242
    assert stats.skipped == {'ignored_class': 2}
    assert stats.notes == {'clipped': 1, 'size_from_image': 1}
    assert coco['info']['source_format'] == 'kitti'

    # DAMEX's choice: person_sitting counts as a pedestrian
    coco, _ = convert_uodb_split(
        'kitti', str(root), 'train', fmt='kitti',
        aliases={'person_sitting': 'pedestrian'}, show_progress=False)
    assert [a['category_id'] for a in coco['annotations']] == [3, 1, 3]
