"""Tests of the command line tools/dataset_converters/uodb_to_coco.py."""
import json
import os.path as osp

import pytest
from PIL import Image
from damex_mmdet.testing.scripts import load_script

TOOL = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'dataset_converters',
    'uodb_to_coco.py')


@pytest.fixture(scope='module')
def tool():
    return load_script(TOOL)


def _kitti_tree(root):
    """KITTI (1-based xml) with a car, a person_sitting and a dontcare."""
    tree = root / 'KITTI'
    (tree / 'Annotations').mkdir(parents=True)
    (tree / 'JPEGImages').mkdir()
    (tree / 'ImageSets' / 'Main').mkdir(parents=True)
    (tree / 'Annotations' / '000001.xml').write_text(
        '<annotation><size><width>50</width><height>40</height></size>'
        '<object><name>Car</name><bndbox><xmin>11</xmin><ymin>11</ymin>'
        '<xmax>20</xmax><ymax>30</ymax></bndbox></object>'
        '<object><name>Person_sitting</name><bndbox><xmin>1</xmin>'
        '<ymin>1</ymin><xmax>5</xmax><ymax>8</ymax></bndbox></object>'
        '<object><name>DontCare</name><bndbox><xmin>1</xmin><ymin>1</ymin>'
        '<xmax>3</xmax><ymax>3</ymax></bndbox></object></annotation>')
    Image.new('RGB', (50, 40)).save(tree / 'JPEGImages' / '000001.jpg')
    for split in ('train', 'val'):
        (tree / 'ImageSets' / 'Main' / f'{split}.txt').write_text('000001\n')
    return tree


def test_cli_writes_default_splits(tool, tmp_path, capsys):
    tree = _kitti_tree(tmp_path)
    results = tool.main([str(tmp_path), '--datasets', 'kitti'])
    assert sorted(results) == ['kitti/train', 'kitti/val']
    with open(tree / 'annotations' / 'val.json') as f:
        coco = json.load(f)
    assert [(a['category_id'], a['bbox']) for a in coco['annotations']
            ] == [(3, [10., 10., 10., 20.])]
    out = capsys.readouterr().out
    assert 'kitti/val: 1 images, 1 boxes' in out
    assert "ignored 'person_sitting': 1" in out
    assert 'annotations/train.json' in out


def test_cli_rules_and_flags(tool, tmp_path):
    tree = _kitti_tree(tmp_path)
    results = tool.main([
        str(tmp_path), '--datasets', 'KITTI', '--splits', 'train',
        '--alias', 'person_sitting=pedestrian', '--ignore', 'car',
        '--coord-base', '0', '--no-progress'
    ])
    assert results['kitti/train'].per_class == {'pedestrian': 1}
    with open(tree / 'annotations' / 'train.json') as f:
        coco = json.load(f)
    assert [(a['category_id'], a['bbox']) for a in coco['annotations']
            ] == [(1, [1., 1., 4., 7.])]
    assert not (tree / 'annotations' / 'val.json').exists()


def test_cli_coco_is_skipped_and_bad_args_fail(tool, tmp_path, capsys):
    assert tool.main([str(tmp_path), '--datasets', 'coco']) == {}
    assert 'nothing to convert' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        tool.parse_args([str(tmp_path), '--alias', 'car'])
    with pytest.raises(ValueError, match='Unknown UODB dataset'):
        tool.main([str(tmp_path), '--datasets', 'kitty'])
    with pytest.raises(ValueError, match='only reads kitti; pass --datasets'):
        tool.main([str(tmp_path), '--format', 'kitti'])
    with pytest.raises(SystemExit) as err:
        tool.parse_args(['--help'])
    assert err.value.code == 0
