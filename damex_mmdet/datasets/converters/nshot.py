"""Deterministic n-shot subsets of a COCO detection json.

An n-shot subset keeps ``n`` images that hold at least one box
(``iscrowd=0``), with all of their annotations, and every category (so label
ids do not move). The images are ranked by a hash of ``(seed, image id)`` and
the ``n`` first are kept, which makes the choice

* independent of the Python/NumPy version and of the order of the json,
* nested: for one seed, the 50-shot subset lies inside the 100-shot one.

Example:
    >>> subset = select_nshot(coco, n=50, seed=0)
    >>> len(subset['images'])
    50
"""
import hashlib
from collections import Counter

__all__ = ['select_nshot', 'nshot_counts']


def _rank(seed: int, image_id) -> str:
    """Stable pseudo-random rank of an image for ``seed``."""
    return hashlib.sha256(f'{seed}:{image_id}'.encode()).hexdigest()


def select_nshot(coco: dict, n: int, seed: int = 0) -> dict:
    """Return the n-shot subset of ``coco``.

    Args:
        coco (dict): COCO dictionary with ``images``, ``annotations`` and
            ``categories``.
        n (int): Number of images with at least one box to keep.
        seed (int): Selection seed. Defaults to 0.

    Returns:
        dict: A new dictionary: the kept images (in their original order),
        their annotations, all categories, and ``info`` extended with
        ``nshot`` and ``nshot_seed``.

    Raises:
        ValueError: If ``n`` is not positive, exceeds the number of images
            with boxes, or the dictionary lacks a required key.
    """
    missing = [k for k in ('images', 'annotations', 'categories')
               if k not in coco]
    if missing:
        raise ValueError(
            f'Not a COCO detection dictionary: missing {missing}.')
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f'n must be a positive integer, got {n!r}.')
    with_boxes = {
        ann['image_id']
        for ann in coco['annotations'] if not ann.get('iscrowd', 0)
    }
    candidates = [
        img['id'] for img in coco['images'] if img['id'] in with_boxes
    ]
    if n > len(candidates):
        raise ValueError(
            f'Asked for {n} images with boxes but only {len(candidates)} of '
            f'the {len(coco["images"])} images have one; choose n <= '
            f'{len(candidates)}.')
    keep = set(sorted(candidates, key=lambda i: _rank(seed, i))[:n])
    subset = {k: v for k, v in coco.items()
              if k not in ('images', 'annotations')}
    subset['info'] = dict(coco.get('info') or {}, nshot=n, nshot_seed=seed)
    subset['images'] = [img for img in coco['images'] if img['id'] in keep]
    subset['annotations'] = [
        ann for ann in coco['annotations'] if ann['image_id'] in keep
    ]
    return subset


def nshot_counts(coco: dict) -> dict:
    """Image, box and per-category box counts of a COCO dictionary.

    Returns:
        dict: ``images`` (int), ``annotations`` (int) and ``per_category``
        (dict[str, int], in category order, zero counts included).
    """
    names = {cat['id']: cat['name'] for cat in coco['categories']}
    boxes = Counter(ann['category_id'] for ann in coco['annotations'])
    return dict(
        images=len(coco['images']),
        annotations=len(coco['annotations']),
        per_category={name: boxes.get(cat_id, 0)
                      for cat_id, name in names.items()})
