"""Tests of the deterministic n-shot selection."""
import copy

import pytest

from damex_mmdet.datasets.converters import nshot_counts, select_nshot


def _coco():
    """10 images: 1-8 have boxes, 9 only a crowd box, 10 none."""
    images = [dict(id=i, file_name=f'{i}.jpg', width=8, height=8)
              for i in range(1, 11)]
    anns = [dict(id=i, image_id=i, category_id=1 + i % 2, bbox=[0, 0, 2, 2],
                 area=4, iscrowd=0) for i in range(1, 9)]
    anns.append(dict(id=9, image_id=3, category_id=1, bbox=[1, 1, 2, 2],
                     area=4, iscrowd=0))
    anns.append(dict(id=10, image_id=9, category_id=1, bbox=[0, 0, 2, 2],
                     area=4, iscrowd=1))
    cats = [dict(id=1, name='car'), dict(id=2, name='person')]
    return dict(info=dict(description='x'), images=images, annotations=anns,
                categories=cats)


def test_same_seed_same_subset_and_nested():
    coco = _coco()
    original = copy.deepcopy(coco)
    a, b = select_nshot(coco, 3, seed=0), select_nshot(coco, 3, seed=0)
    assert a == b
    assert coco == original  # input untouched
    ids3 = {img['id'] for img in a['images']}
    ids5 = {img['id'] for img in select_nshot(coco, 5, seed=0)['images']}
    assert len(ids3) == 3 and ids3 < ids5
    assert ids5 <= set(range(1, 9))  # never images 9 (crowd only) or 10
    seeds = {frozenset(img['id'] for img in select_nshot(coco, 3, s)['images'])
             for s in range(8)}
    assert len(seeds) > 1  # the seed matters


def test_subset_keeps_all_boxes_of_kept_images_and_categories():
    coco = _coco()
    subset = select_nshot(coco, 8, seed=1)
    assert [img['id'] for img in subset['images']] == list(range(1, 9))
    assert [a['id'] for a in subset['annotations']] == list(range(1, 10))
    assert subset['categories'] == coco['categories']
    assert subset['info'] == dict(description='x', nshot=8, nshot_seed=1)
    assert nshot_counts(subset) == dict(
        images=8, annotations=9, per_category={'car': 5, 'person': 4})


def test_bad_requests():
    with pytest.raises(ValueError, match='only 8 of the 10 images'):
        select_nshot(_coco(), 9)
    for n in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match='positive integer'):
            select_nshot(_coco(), n)
    with pytest.raises(ValueError, match=r"missing \['categories'\]"):
        select_nshot(dict(images=[], annotations=[]), 1)
