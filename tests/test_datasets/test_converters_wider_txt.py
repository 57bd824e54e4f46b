"""Tests of the WIDER FACE ground-truth txt reader."""
import pytest
from PIL import Image

from damex_mmdet.datasets.converters import (convert_uodb_split,
                                             parse_wider_gt)

WIDER_GT = """0--Parade/0_Parade_marchingband_1_849.jpg
1
449 330 122 149 0 0 0 0 0 0
0--Parade/0_Parade_Parade_0_904.jpg
0
0 0 0 0 0 0 0 0 0 0
1--Handshaking/1_Handshaking_1.jpg
2
10 20 30 40 0 0 0 0 0 0
5 5 4 10 0 0 0 1 0 0
"""


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding='utf-8')
    return str(path)


def test_parse_wider_gt(tmp_path):
    entries = list(parse_wider_gt(_write(tmp_path / 'gt.txt', WIDER_GT)))
    assert [image for image, _ in entries] == [
        '0--Parade/0_Parade_marchingband_1_849.jpg',
        '0--Parade/0_Parade_Parade_0_904.jpg',
        '1--Handshaking/1_Handshaking_1.jpg'
    ]
    assert entries[0][1][0].bbox == (449., 330., 571., 479.)
    assert entries[1][1] == ()
    first, second = entries[2][1]
    assert first.bbox == (10., 20., 40., 60.) and not first.invalid
    assert second.bbox == (5., 5., 9., 15.) and second.invalid
    assert {o.name for _, objs in entries for o in objs} == {'face'}


def test_parse_wider_gt_without_placeholder_and_errors(tmp_path):
    # a zero count directly followed by the next image (digit-led path)
    text = '0--A/a.jpg\n0\n1--B/b.jpg\n1\n1 2 3 4\n'
    entries = list(parse_wider_gt(_write(tmp_path / 'gt.txt', text)))
    assert [(img, len(objs)) for img, objs in entries] == [('0--A/a.jpg', 0),
                                                           ('1--B/b.jpg', 1)]
    with pytest.raises(ValueError, match=r'bad\.txt:2: expected the face'):
        list(parse_wider_gt(_write(tmp_path / 'bad.txt', 'a.jpg\nx\n')))
    with pytest.raises(ValueError, match='announces 2 faces'):
        end = _write(tmp_path / 'end.txt', 'a.jpg\n2\n1 2 3 4\n')
        list(parse_wider_gt(end))


def test_convert_wider_format(tmp_path):
    root = tmp_path / 'WiderFace'
    _write(root / 'wider_face_split' / 'wider_face_val_bbx_gt.txt', WIDER_GT)
    sizes = {
        '0--Parade/0_Parade_marchingband_1_849.jpg': (600, 500),
        '0--Parade/0_Parade_Parade_0_904.jpg': (100, 100),
        '1--Handshaking/1_Handshaking_1.jpg': (200, 100)
    }
    for image, size in sizes.items():
        path = root / 'WIDER_val' / 'images' / image
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new('RGB', size).save(path)
    coco, stats = convert_uodb_split(
        'widerface', str(root), 'val', fmt='wider', show_progress=False)
    assert [img['file_name'] for img in coco['images']] == [
        f'WIDER_val/images/{image}' for image in sizes
    ]
    assert [(a['image_id'], a['bbox']) for a in coco['annotations']
            ] == [(1, [449., 330., 122., 149.]), (3, [10., 20., 30., 40.])]
    assert stats.skipped == {'invalid': 1}

    with pytest.raises(FileNotFoundError, match='wider_face_train_bbx_gt'):
        convert_uodb_split('widerface', str(root), 'train', fmt='wider',
                           show_progress=False)
    with pytest.raises(ValueError, match="only applies to 'widerface'"):
        convert_uodb_split('voc', str(root), 'val', fmt='wider')
