"""convert_voc_folder: any VOC-layout folder, classes from the xml, splits from lists or a hash."""
import pytest
from PIL import Image

from damex_mmdet.datasets.converters import (convert_voc_folder, voc_folder_classes,
                                             voc_folder_splits)


def _folder(root, objects_per_image, lists=None, ext='.png'):
    for sub in ('Annotations', 'JPEGImages'):
        (root / sub).mkdir(parents=True)
    for index, names in enumerate(objects_per_image):
        Image.new('RGB', (50, 40)).save(root / 'JPEGImages' / f'{index:03d}{ext}')
        body = ''.join(f'<object><name>{n}</name><bndbox><xmin>2</xmin><ymin>3</ymin>'
                       '<xmax>20</xmax><ymax>30</ymax></bndbox></object>' for n in names)
        (root / 'Annotations' / f'{index:03d}.xml').write_text(
            f'<annotation><size><width>50</width><height>40</height></size>{body}</annotation>')
    if lists:
        (root / 'ImageSets' / 'Main').mkdir(parents=True)
        for split, ids in lists.items():
            (root / 'ImageSets' / 'Main' / f'{split}.txt').write_text(
                ''.join(f'{i:03d}\n' for i in ids))
    return str(root)


def test_classes_and_splits_from_the_folder(tmp_path):
    folder = _folder(tmp_path / 'a', [['Roof'], ['tree', 'roof'], ['tree']],
                     lists=dict(train=[0, 1], test=[2]))
    # 'Roof' and 'roof' are one class (a tie: the first spelling in sorted order names it)
    assert voc_folder_classes(folder) == ('Roof', 'tree')
    out = convert_voc_folder(folder, 'a')
    assert sorted(out) == ['test', 'train']
    train, _ = out['train']
    assert [c['name'] for c in train['categories']] == ['Roof', 'tree']
    assert [img['file_name'] for img in train['images']] == ['JPEGImages/000.png',
                                                             'JPEGImages/001.png']
    # VOC's 1-based xmin 2 -> continuous 1; width 20 - 1
    assert train['annotations'][0]['bbox'] == [1.0, 2.0, 19.0, 28.0]
    assert [a['category_id'] for a in train['annotations']] == [1, 2, 1]


def test_class_names_keep_their_case(tmp_path):
    folder = _folder(tmp_path / 'a', [['Car'], ['TrafficSign', 'Car'], ['car', 'bus']])
    assert voc_folder_classes(folder) == ('bus', 'Car', 'TrafficSign')  # 'Car' twice, 'car' once


def test_hash_split_is_per_id_and_deterministic(tmp_path):
    folder = _folder(tmp_path / 'b', [['x']] * 30)
    first = voc_folder_splits(folder, seed=0)
    assert voc_folder_splits(folder, seed=0) == first
    assert sorted(first['train'] + first['test']) == [f'{i:03d}' for i in range(30)]
    assert 15 <= len(first['train']) <= 29  # ~80 %
    assert voc_folder_splits(folder, seed=1) != first
    with pytest.raises(ValueError, match='strictly between 0 and 1'):
        voc_folder_splits(folder, split_ratio=1.0)


def test_errors_name_the_folder_and_the_fix(tmp_path):
    (tmp_path / 'plain').mkdir()
    with pytest.raises(FileNotFoundError, match='no Annotations/ folder'):
        convert_voc_folder(str(tmp_path / 'plain'), 'plain')
    folder = _folder(tmp_path / 'c', [['cat'], ['dog']], lists=dict(train=[0, 1]))
    with pytest.raises(ValueError, match=r"Unknown class names: 'dog'.*001.xml.*--classes"):
        convert_voc_folder(folder, 'c', classes=['cat'])
    assert convert_voc_folder(folder, 'c', classes=['cat'], ignored=['dog'])['train'][1].boxes == 1
