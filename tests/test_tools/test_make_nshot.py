"""Tests of the command line tools/misc/make_nshot.py."""
import json
import os.path as osp

import pytest
from damex_mmdet.testing.scripts import load_script

TOOL = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'misc',
                'make_nshot.py')


@pytest.fixture(scope='module')
def tool():
    return load_script(TOOL)


@pytest.fixture
def ann_file(tmp_path):
    """6 images, the first 4 with one 'car' box each."""
    coco = dict(
        images=[dict(id=i, file_name=f'{i}.jpg', width=9, height=9)
                for i in range(1, 7)],
        annotations=[dict(id=i, image_id=i, category_id=1, bbox=[0, 0, 3, 3],
                          area=9, iscrowd=0) for i in range(1, 5)],
        categories=[dict(id=1, name='car'), dict(id=2, name='bus')])
    path = tmp_path / 'train.json'
    path.write_text(json.dumps(coco))
    return str(path)


def test_writes_default_name_and_reports(tool, ann_file, capsys):
    out_file, counts = tool.main([ann_file, '2'])
    assert out_file == ann_file[:-len('.json')] + '_2shot_seed0.json'
    with open(out_file) as f:
        subset = json.load(f)
    assert len(subset['images']) == 2
    assert {a['image_id'] for a in subset['annotations']} == {
        img['id'] for img in subset['images']} <= {1, 2, 3, 4}
    assert [c['name'] for c in subset['categories']] == ['car', 'bus']
    assert counts == dict(images=2, annotations=2,
                          per_category={'car': 2, 'bus': 0})
    out = capsys.readouterr().out
    assert 'kept 2/6 images, 2/4 boxes' in out and 'car: 2/4 boxes' in out


def test_same_seed_same_file(tool, ann_file, tmp_path):
    a, _ = tool.main([ann_file, '3', '--seed', '7', '--out',
                      str(tmp_path / 'a.json')])
    b, _ = tool.main([ann_file, '3', '--seed', '7', '--out',
                      str(tmp_path / 'b.json')])
    with open(a) as fa, open(b) as fb:
        assert fa.read() == fb.read()


def test_errors(tool, ann_file, tmp_path):
    with pytest.raises(ValueError, match='Asked for 5 images .* only 4'):
        tool.main([ann_file, '5'])
    with pytest.raises(ValueError, match='overwrite the input'):
        tool.main([ann_file, '1', '--out', ann_file])
    with pytest.raises(FileNotFoundError, match='nope.json'):
        tool.main([str(tmp_path / 'nope.json'), '1'])
    with pytest.raises(SystemExit) as err:
        tool.parse_args(['--help'])
    assert err.value.code == 0
