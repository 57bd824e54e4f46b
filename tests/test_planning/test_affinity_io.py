import json

import numpy as np
import pytest

from damex_mmdet.planning import AffinityMatrix, load_affinity, save_affinity

EXPECTED = np.array([[1.0, 0.0, 0.2], [0.9, 0.1, 0.0]])


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_csv_layout(tmp_path):
    path = _write(tmp_path / 'prior.csv', 'dataset,e0,e1,e2\nkitti,1,0,0.2\n\nlisa,0.9,0.1,0\n')
    aff = load_affinity(path)
    assert aff.unit_names == ('kitti', 'lisa')
    assert aff.expert_names == ('e0', 'e1', 'e2')
    np.testing.assert_array_equal(aff.values, EXPECTED)


@pytest.mark.parametrize('payload', [
    dict(units=['kitti', 'lisa'], experts=['0', '1', '2'], affinity=EXPECTED.tolist()),
    dict(datasets=['kitti', 'lisa'], affinity=EXPECTED.tolist()),
    dict(kitti=[1, 0, 0.2], lisa=[0.9, 0.1, 0]),
    {'kitti': {'0': 1, '1': 0, '2': 0.2}, 'lisa': {'0': 0.9, '1': 0.1, '2': 0}},
])
def test_json_layouts(tmp_path, payload):
    aff = load_affinity(_write(tmp_path / 'prior.json', json.dumps(payload)))
    assert aff.unit_names == ('kitti', 'lisa')
    assert aff.expert_names == ('0', '1', '2')
    np.testing.assert_array_equal(aff.values, EXPECTED)


@pytest.mark.parametrize('ext', ['csv', 'json'])
def test_round_trip(tmp_path, ext):
    aff = AffinityMatrix(('a', 'b'), ('x', 'y', 'z'), np.random.default_rng(0).random((2, 3)))
    path = str(tmp_path / f'aff.{ext}')
    save_affinity(aff, path)
    back = load_affinity(path)
    assert back.unit_names == aff.unit_names and back.expert_names == aff.expert_names
    np.testing.assert_array_equal(back.values, aff.values)


@pytest.mark.parametrize('name, text, message', [
    ('a.csv', 'd,0,1\nkitti,1\n', 'data row 2: 2 cells but the header has 3'),
    ('a.csv', 'd,0,1\nkitti,1,abc\n', r"row 'kitti', column '1': expected a number, got 'abc'"),
    ('a.csv', 'd,0,1\nkitti,1,nan\n', r"affinity\['kitti'\]\['1'\] is nan"),
    ('a.csv', 'd,0,1\nkitti,1,inf\n', 'finite'),
    ('a.csv', 'd,0,1\n', 'header row'),
    ('a.csv', 'd,0,1\nkitti,1,0\nkitti,0,1\n', r"duplicate unit names \['kitti'\]"),
    ('a.json', '{"kitti": [1, 0], "lisa": [1]}', 'list of 2 numbers'),
    ('a.json', '{"kitti": {"0": 1}, "lisa": {"1": 1}}', 'same experts'),
    ('a.json', '{"affinity": [[1, 0]]}', '"units"'),
    ('a.json', '{"kitti": [1, true]}', 'expected a number, got True'),
    ('a.json', '{"kitti": 3}', 'must be a list of numbers'),
    ('a.json', '[1, 2]', 'non-empty JSON object'),
    ('a.json', '{broken', 'not valid JSON'),
    ('a.txt', 'x', "unknown affinity file type '.txt'"),
])
def test_bad_files(tmp_path, name, text, message):
    with pytest.raises(ValueError, match=message):
        load_affinity(_write(tmp_path / name, text))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_affinity(str(tmp_path / 'nope.csv'))
