"""End-to-end tests of UODB VOC-layout conversion on tiny trees in tmp dirs.

The trees follow the released layout (``Annotations/``, ``ImageSets/Main/``,
``JPEGImages/``); every expected box is computed by hand from the xml.
"""
import os.path as osp

import pytest
from mmdet.datasets import CocoDataset
from mmengine.config import Config
from PIL import Image

from damex_mmdet.datasets.converters import (MissingImageError,
                                             convert_uodb_split,
                                             merge_name_rules,
                                             write_coco_json)
from damex_mmdet.datasets.uodb import get_uodb_spec

UODB_DATASETS_CFG = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', '_base_', 'datasets',
    'uodb', 'uodb_datasets.py')


def _xml(objects, size=None, folder='', filename=''):
    """VOC xml text; ``objects`` holds ``(name, xmin, ymin, xmax, ymax)``."""
    parts = [f'<annotation><folder>{folder}</folder>'
             f'<filename>{filename}</filename>']
    if size is not None:
        parts.append(f'<size><width>{size[0]}</width>'
                     f'<height>{size[1]}</height><depth>3</depth></size>')
    for name, x1, y1, x2, y2 in objects:
        parts.append(f'<object><name>{name}</name><difficult>0</difficult>'
                     f'<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>'
                     f'<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>')
    return ''.join(parts) + '</annotation>'


def _add(tree, image_id, xml_text, image_size, ext='.jpg'):
    """Write ``Annotations/<id>.xml`` and, if ``image_size``, the image."""
    xml_path = tree / 'Annotations' / f'{image_id}.xml'
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    xml_path.write_text(xml_text, encoding='utf-8')
    if image_size is not None:
        img_path = tree / 'JPEGImages' / f'{image_id}{ext}'
        img_path.parent.mkdir(parents=True, exist_ok=True)
        Image.new('RGB', image_size).save(img_path)


def _split(tree, split, ids):
    path = tree / 'ImageSets' / 'Main' / f'{split}.txt'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(f'{i}\n' for i in ids), encoding='utf-8')


@pytest.fixture
def kitti_tree(tmp_path):
    """UODB KITTI in VOC layout (1-based boxes) with every awkward case."""
    root = tmp_path / 'KITTI'
    _add(root, '000001', _xml([
        ('car', 11, 21, 50, 40),  # -> vehicle [10, 20, 40, 20]
        ('pedestrian', 1, 1, 100, 50),  # whole image [0, 0, 100, 50]
        ('dontcare', 5, 5, 10, 10),  # ignored
        ('van', 91, 41, 120, 60),  # clipped -> [90, 40, 10, 10]
        ('cyclist', 30, 30, 29, 35),  # x1 = x2 = 29: zero area
    ], size=(100, 50)), (100, 50))
    # no <size>: read from the image; only an ignored box: kept, empty
    _add(root, '000002', _xml([('person_sitting', 2, 2, 9, 9)]), (64, 48))
    # zero <size>: read from the image
    _add(root, '000003', _xml([('truck', 1, 1, 10, 10)], size=(0, 0)),
         (40, 30))
    _split(root, 'train', ['000001', '000002', '000003'])
    _add(root, '000004', _xml([('ufo', 1, 1, 5, 5), ('ufo', 1, 1, 6, 6),
                               ('alien', 1, 1, 5, 5)], size=(40, 30)),
         (40, 30))
    _split(root, 'unknown', ['000004'])
    _add(root, '000005', '<annotation><object><name>car</name>', (40, 30))
    _split(root, 'broken', ['000005'])
    _add(root, '000006', _xml([('car', 1, 1, 5, 5)], size=(40, 30)), None)
    _split(root, 'missing', ['000006', '000003'])
    return root


def test_kitti_boxes_and_counts(kitti_tree):
    coco, stats = convert_uodb_split(
        'kitti', str(kitti_tree), 'train', show_progress=False)
    assert [(img['id'], img['file_name'], img['width'], img['height'])
            for img in coco['images']] == [
                (1, 'JPEGImages/000001.jpg', 100, 50),
                (2, 'JPEGImages/000002.jpg', 64, 48),
                (3, 'JPEGImages/000003.jpg', 40, 30)
            ]
    assert [(a['image_id'], a['category_id'], a['bbox'], a['area'])
            for a in coco['annotations']] == [
                (1, 3, [10., 20., 40., 20.], 800.),
                (1, 1, [0., 0., 100., 50.], 5000.),
                (1, 3, [90., 40., 10., 10.], 100.),
                (3, 3, [0., 0., 10., 10.], 100.),
            ]
    assert [c['name'] for c in coco['categories']] == [
        'pedestrian', 'cyclist', 'vehicle'
    ]
    assert (stats.images, stats.boxes) == (3, 4)
    assert stats.skipped == {'ignored_class': 2, 'zero_area': 1}
    assert stats.ignored_names == {'dontcare': 1, 'person_sitting': 1}
    assert stats.notes == {'clipped': 1, 'size_from_image': 2}
    assert coco['info']['coord_base'] == 1


def test_kitti_options(kitti_tree):
    coco, _ = convert_uodb_split(
        'kitti', str(kitti_tree), 'train', coord_base=0, show_progress=False)
    assert coco['annotations'][0]['bbox'] == [11., 21., 39., 19.]
    coco, stats = convert_uodb_split(
        'kitti', str(kitti_tree), 'train', drop_empty=True,
        ignored=('van', ), show_progress=False)
    assert [img['file_name'] for img in coco['images']] == [
        'JPEGImages/000001.jpg', 'JPEGImages/000003.jpg'
    ]
    assert [a['image_id'] for a in coco['annotations']] == [1, 1, 2]
    assert stats.skipped['empty_image'] == 1
    assert stats.ignored_names['van'] == 1


def test_unknown_classes_error_lists_them(kitti_tree):
    with pytest.raises(ValueError) as err:
        convert_uodb_split('kitti', str(kitti_tree), 'unknown',
                           show_progress=False)
    assert "'alien' (1 boxes" in str(err.value)
    assert "'ufo' (2 boxes, first in" in str(err.value)
    assert '000004.xml' in str(err.value)
    coco, stats = convert_uodb_split('kitti', str(kitti_tree), 'unknown',
                                     skip_unknown=True, show_progress=False)
    assert coco['annotations'] == [] and stats.skipped == {'unknown_class': 3}


def test_broken_xml_and_missing_image(kitti_tree):
    with pytest.raises(ValueError, match=r'Broken annotation file .*000005'):
        convert_uodb_split('kitti', str(kitti_tree), 'broken',
                           show_progress=False)
    with pytest.raises(MissingImageError,
                       match=r'000006\.jpg.*--skip-missing-images'):
        convert_uodb_split('kitti', str(kitti_tree), 'missing',
                           show_progress=False)
    coco, stats = convert_uodb_split(
        'kitti', str(kitti_tree), 'missing', skip_missing_images=True,
        show_progress=True)
    assert [img['file_name'] for img in coco['images']] == [
        'JPEGImages/000003.jpg'
    ]
    assert stats.skipped == {'missing_image': 1}
    with pytest.raises(FileNotFoundError, match='ImageSets/Main/val.txt'):
        convert_uodb_split('kitti', str(kitti_tree), 'val')


@pytest.fixture
def kitchen_tree(tmp_path):
    """Kitchen: two scenes whose frames share names (and xml <filename>)."""
    root = tmp_path / 'Kitchen'
    for scene, box in (('gmu_scene_001', (11, 11, 40, 30)),
                       ('gmu_scene_002', (21, 6, 60, 45))):
        _add(root, f'{scene}/rgb_0001',
             _xml([('red_bull', *box)], size=(64, 48), folder=scene,
                  filename='rgb_0001.png'), (64, 48), ext='.png')
    _split(root, 'train', ['gmu_scene_001/rgb_0001', 'gmu_scene_002/rgb_0001'])
    return root


def test_kitchen_repeated_frame_names_stay_unique(kitchen_tree):
    coco, _ = convert_uodb_split('kitchen', str(kitchen_tree), 'train',
                                 show_progress=False)
    assert [img['file_name'] for img in coco['images']] == [
        'JPEGImages/gmu_scene_001/rgb_0001.png',
        'JPEGImages/gmu_scene_002/rgb_0001.png'
    ]
    boxes = [(a['image_id'], a['category_id'], a['bbox']) for a in coco['annotations']]
    assert boxes == [(1, 11, [10., 10., 30., 20.]), (2, 11, [20., 5., 40., 40.])]


def test_converted_kitchen_loads_with_uodb_config(kitchen_tree):
    """The converter's json + the dataset config give mmdet the boxes."""
    cfg = Config.fromfile(UODB_DATASETS_CFG)
    coco, _ = convert_uodb_split('kitchen', str(kitchen_tree), 'train',
                                 show_progress=False)
    write_coco_json(coco, str(kitchen_tree / 'annotations' / 'train.json'))
    ds_cfg = dict(cfg.uodb_train_datasets.kitchen)
    ds_cfg.pop('type')
    ds_cfg.update(data_root=str(kitchen_tree) + '/', pipeline=[])
    dataset = CocoDataset(**ds_cfg)
    assert len(dataset) == 2
    info = dataset.get_data_info(1)
    assert info['img_path'] == str(
        kitchen_tree / 'JPEGImages' / 'gmu_scene_002' / 'rgb_0001.png')
    assert [(i['bbox'], i['bbox_label']) for i in info['instances']
            ] == [([20., 5., 60., 45.], 10)]


def test_voc_reads_both_trees(tmp_path):
    root = tmp_path / 'VOC'
    _add(root / 'VOC2007', '000005', _xml([('chair', 1, 1, 10, 10)],
                                          size=(20, 20)), (20, 20))
    _add(root / 'VOC2012', '2008_000001', _xml([('dog', 2, 2, 8, 8)],
                                               size=(20, 20)), (20, 20))
    _split(root / 'VOC2007', 'trainval', ['000005'])
    _split(root / 'VOC2012', 'trainval', ['2008_000001'])
    coco, _ = convert_uodb_split('voc', str(root), 'trainval',
                                 show_progress=False)
    assert [img['file_name'] for img in coco['images']] == [
        'VOC2007/JPEGImages/000005.jpg', 'VOC2012/JPEGImages/2008_000001.jpg'
    ]
    assert [a['category_id'] for a in coco['annotations']] == [9, 12]


def test_lisa_maps_by_name_with_zero_based_boxes(tmp_path):
    root = tmp_path / 'LISA'
    objects = [('stop', 10, 20, 50, 60), ('SpeedLimit', 0, 0, 5, 5)]
    _add(root, 'a', _xml(objects, size=(80, 80)), (80, 80), ext='.png')
    _split(root, 'train', ['a'])
    coco, _ = convert_uodb_split('lisa', str(root), 'train',
                                 show_progress=False)
    # classes: warning, noturn, speedlimit, stop
    assert [(a['category_id'], a['bbox']) for a in coco['annotations']] == [
        (4, [10., 20., 40., 40.]), (3, [0., 0., 5., 5.])
    ]


def test_merge_name_rules_user_rules_win():
    spec = get_uodb_spec('kitti')
    aliases, ignored = merge_name_rules(
        spec, aliases={'Person_sitting': 'pedestrian'}, ignored=('van', ))
    assert aliases == {'car': 'vehicle', 'truck': 'vehicle',
                       'person_sitting': 'pedestrian'}
    assert ignored == {'dontcare', 'misc', 'tram', 'van'}


def test_coco_and_bad_formats_are_rejected(tmp_path):
    with pytest.raises(ValueError, match='needs no conversion'):
        convert_uodb_split('coco', str(tmp_path), 'minival2014')
    with pytest.raises(ValueError, match='Unknown source format'):
        convert_uodb_split('kitti', str(tmp_path), 'train', fmt='csv')
    with pytest.raises(ValueError, match='Unknown UODB dataset'):
        convert_uodb_split('kitty', str(tmp_path), 'train')
