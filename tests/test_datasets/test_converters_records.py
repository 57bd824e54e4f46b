"""Tests of the shared reader helpers: split files and image sizes."""
import pytest
from PIL import Image

from damex_mmdet.datasets.converters import (MissingImageError,
                                             find_split_file, read_image_size,
                                             read_split_file)


def _write(path, text):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    return str(path)


def test_read_split_file(tmp_path):
    path = _write(tmp_path / 'train.txt', 'a\n\n b \nscene/c\n')
    assert read_split_file(path) == ['a', 'b', 'scene/c']
    dup = _write(tmp_path / 'dup.txt', 'a\nb\na\n')
    with pytest.raises(ValueError, match=r"dup.txt:3: image id 'a'.*line 1"):
        read_split_file(dup)
    with pytest.raises(ValueError, match='lists no image'):
        read_split_file(_write(tmp_path / 'empty.txt', '\n'))


def test_find_split_file_prefers_main(tmp_path):
    (tmp_path / 'ImageSets' / 'Main').mkdir(parents=True)
    flat = _write(tmp_path / 'ImageSets' / 'train.txt', 'a\n')
    assert find_split_file(str(tmp_path), 'train') == flat
    main = _write(tmp_path / 'ImageSets' / 'Main' / 'train.txt', 'a\n')
    assert find_split_file(str(tmp_path), 'train') == main
    with pytest.raises(FileNotFoundError,
                       match=r'Main/val\.txt and .*ImageSets/val\.txt'):
        find_split_file(str(tmp_path), 'val')


def test_read_image_size(tmp_path):
    Image.new('L', (7, 3)).save(tmp_path / 'a.png')
    assert read_image_size(str(tmp_path / 'a.png')) == (7, 3)
    with pytest.raises(MissingImageError):
        read_image_size(str(tmp_path / 'b.png'))
    not_image = _write(tmp_path / 'c.png', 'text')
    with pytest.raises(ValueError, match='c.png'):
        read_image_size(not_image)
