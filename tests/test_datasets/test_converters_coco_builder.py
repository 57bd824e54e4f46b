"""Tests of the format-independent COCO assembly rules."""
import math

import pytest

from damex_mmdet.datasets.converters import (CocoBuilder, ImageRecord,
                                             ObjectRecord)

CLASSES = ('pedestrian', 'cyclist', 'vehicle')


def _image(file_name, objects, width=100, height=50):
    return ImageRecord(file_name=file_name, width=width, height=height,
                       objects=tuple(objects), source=f'{file_name}.xml')


def _builder(**kwargs):
    kwargs.setdefault('aliases', {'car': 'vehicle', 'van': 'vehicle'})
    kwargs.setdefault('ignored', ('dontcare', ))
    return CocoBuilder(CLASSES, **kwargs)


def test_names_clipping_and_zero_area():
    builder = _builder()
    image_id = builder.add(
        _image('a.jpg', [
            ObjectRecord('car', (10, 20, 50, 40)),
            ObjectRecord('Pedestrian', (-5, -5, 10, 60)),  # clipped
            ObjectRecord('dontcare', (0, 0, 5, 5)),
            ObjectRecord('van', (30, 10, 30, 20)),  # zero width
            ObjectRecord('cyclist', (120, 0, 130, 10)),  # outside the image
            ObjectRecord('vehicle', (60, 30, 50, 40)),  # inverted
        ]))
    coco = builder.finish()
    assert image_id == 1
    assert coco['images'] == [
        dict(id=1, file_name='a.jpg', width=100, height=50)
    ]
    anns = coco['annotations']
    assert [a['category_id'] for a in anns] == [3, 1]
    assert anns[0]['bbox'] == [10., 20., 40., 20.] and anns[0]['area'] == 800
    assert anns[1]['bbox'] == [0., 0., 10., 50.] and anns[1]['area'] == 500
    assert [a['id'] for a in anns] == [1, 2]
    assert all(a['iscrowd'] == 0 and a['image_id'] == 1 for a in anns)
    assert coco['categories'] == [
        dict(id=1, name='pedestrian', supercategory='none'),
        dict(id=2, name='cyclist', supercategory='none'),
        dict(id=3, name='vehicle', supercategory='none')
    ]
    stats = builder.stats
    assert (stats.images, stats.boxes) == (1, 2)
    assert stats.skipped == {'ignored_class': 1, 'zero_area': 3}
    assert stats.notes == {'clipped': 1}
    assert stats.ignored_names == {'dontcare': 1}
    assert stats.per_class == {'vehicle': 1, 'pedestrian': 1}
    summary = stats.summary('kitti/train')
    assert 'kitti/train: 1 images, 2 boxes' in summary
    assert 'skipped zero_area: 3 boxes' in summary


def test_unknown_names_listed_or_skipped():
    records = [
        _image('a.jpg', [ObjectRecord('ufo', (0, 0, 5, 5))] * 2),
        _image('b.jpg', [ObjectRecord('alien', (0, 0, 5, 5))]),
    ]
    builder = _builder()
    for record in records:
        builder.add(record)
    with pytest.raises(ValueError) as err:
        builder.finish()
    msg = str(err.value)
    assert "'alien' (1 boxes, first in b.jpg.xml)" in msg
    assert "'ufo' (2 boxes, first in a.jpg.xml)" in msg
    assert '--skip-unknown' in msg and '--alias' in msg

    builder = _builder(skip_unknown=True)
    for record in records:
        builder.add(record)
    coco = builder.finish()
    assert len(coco['images']) == 2 and coco['annotations'] == []
    assert builder.stats.skipped == {'unknown_class': 3}


@pytest.mark.parametrize('policy,crowd,skipped', [('keep', [0, 0], {}),
                                                  ('crowd', [0, 1], {}),
                                                  ('drop', [0], {
                                                      'difficult': 1
                                                  })])
def test_difficult_policies(policy, crowd, skipped):
    builder = _builder(difficult=policy)
    builder.add(
        _image('a.jpg', [
            ObjectRecord('car', (0, 0, 5, 5)),
            ObjectRecord('car', (5, 5, 9, 9), difficult=True)
        ]))
    coco = builder.finish()
    assert [a['iscrowd'] for a in coco['annotations']] == crowd
    assert dict(builder.stats.skipped) == skipped


def test_empty_images_kept_or_dropped():
    builder = _builder()
    assert builder.add(_image('a.jpg', [])) == 1
    assert len(builder.finish()['images']) == 1

    builder = _builder(drop_empty=True)
    assert builder.add(_image('a.jpg', [ObjectRecord('dontcare',
                                                     (0, 0, 5, 5))])) is None
    assert builder.add(_image('b.jpg', [ObjectRecord('car',
                                                     (0, 0, 5, 5))])) == 1
    coco = builder.finish()
    assert [img['file_name'] for img in coco['images']] == ['b.jpg']
    assert coco['annotations'][0]['image_id'] == 1
    assert builder.stats.skipped == {'ignored_class': 1, 'empty_image': 1}


def test_invalid_boxes_counted():
    builder = _builder()
    builder.add(
        _image('a.jpg', [ObjectRecord('car', (0, 0, 5, 5), invalid=True)]))
    assert builder.finish()['annotations'] == []
    assert builder.stats.skipped == {'invalid': 1}


def test_bad_records_raise():
    builder = _builder()
    builder.add(_image('a.jpg', []))
    with pytest.raises(ValueError, match="'a.jpg' of a.jpg.xml was already"):
        builder.add(_image('a.jpg', []))
    with pytest.raises(ValueError, match=r'b.jpg.xml: image size 0x50'):
        builder.add(_image('b.jpg', [], width=0))
    with pytest.raises(ValueError, match='non-finite'):
        builder.add(
            _image('c.jpg', [ObjectRecord('car', (0, 0, math.nan, 5))]))


def test_rules_are_validated():
    with pytest.raises(ValueError, match="'car' -> 'truck'"):
        CocoBuilder(CLASSES, aliases={'car': 'truck'})
    with pytest.raises(ValueError, match=r"\['vehicle'\] are classes"):
        CocoBuilder(CLASSES, ignored=('Vehicle', ))
    with pytest.raises(ValueError, match='difficult must be one of'):
        CocoBuilder(CLASSES, difficult='maybe')
    with pytest.raises(ValueError, match='unique'):
        CocoBuilder(('car', 'Car'))
