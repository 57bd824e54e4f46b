"""A small synthetic multi-domain detection benchmark, generated on the fly.

It lets the README's main job (and the tests) train and evaluate a tiny
DAMEX-DINO on CPU without downloading anything. The six datasets reproduce
the mixing situations of the DAMEX paper (arXiv 2311.04894):

* ``watercolor`` / ``comic``: the same label set in two visual styles
  (UODB's Watercolor and Comic, paper Table 3);
* ``street`` / ``signs``: one domain (road scenes) with divergent label sets
  (KITTI and LISA, Table 4);
* ``kitchen``: a data-poor dataset (40 training images) trained next to rich
  ones (n-shot KITTI next to Kitchen, Table 2);
* ``xray``: an out-of-domain grayscale set with one class (DeepLesion).

Layout on disk, for each dataset ``NAME`` under ``root``::

    NAME/annotations/{train,test}.json   COCO, category ids 1..n in class order
    NAME/images/{train,test}/000001.png  ``file_name`` is ``train/000001.png``

so a dataset config uses ``data_root=root/NAME/``,
``ann_file='annotations/train.json'`` and ``data_prefix=dict(img='images/')``.
``root/benchmark_meta.json`` records the generator version and parameters;
a later call with the same ones returns at once without writing anything.
"""
import json
import os
import os.path as osp
import shutil
import time
import zlib
from types import MappingProxyType
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from .synthetic_draw import GLYPHS, render_scene

__all__ = [
    'DEFAULT_BENCHMARK', 'DEFAULT_ROOT', 'GENERATOR_VERSION', 'MARKER_FILE',
    'default_benchmark_root', 'generate_default_benchmark', 'sample_layout'
]

GENERATOR_VERSION = 1  # bump whenever the pixels or annotations would change
MARKER_FILE = 'benchmark_meta.json'
DEFAULT_ROOT = 'data/damex_default'  # relative to the working directory, as in the configs
_SPLITS = ('train', 'test')


def _spec(classes, style, situation, image_size, num_train, num_test, size_range,
          centre_range=(0.0, 1.0), max_objects=4):
    """Read-only description of one dataset (keys: see DEFAULT_BENCHMARK)."""
    return MappingProxyType(dict(
        classes=classes, style=style, situation=situation, image_size=image_size,
        num_train=num_train, num_test=num_test, size_range=size_range,
        centre_range=centre_range, max_objects=max_objects))


#: Ordered, read-only description of the benchmark: ``name -> spec`` where a
#: spec holds ``classes`` (tuple, category ids 1..n in this order), ``style``
#: (see :data:`~damex_mmdet.datasets.synthetic_draw.STYLES`), ``situation``
#: (which DAMEX experiment it mimics), ``image_size`` ``(W, H)``,
#: ``num_train`` / ``num_test`` (images at ``scale=1``), ``size_range``
#: (longer box side as a fraction of the shorter image side), ``centre_range``
#: (allowed box centre height as a fraction of H) and ``max_objects``.
DEFAULT_BENCHMARK: Mapping[str, Mapping] = MappingProxyType({
    'watercolor': _spec(('person', 'car', 'dog'), 'watercolor',
                        'same labels as comic, other style (Watercolor)',
                        (128, 128), 300, 60, (0.3, 0.6)),
    'comic': _spec(('person', 'car', 'dog'), 'comic',
                   'same labels as watercolor, other style (Comic)',
                   (128, 128), 300, 60, (0.3, 0.6)),
    'street': _spec(('pedestrian', 'cyclist', 'vehicle'), 'road',
                    'same domain as signs, other labels (KITTI)',
                    (160, 112), 300, 60, (0.3, 0.6), (0.5, 0.8)),
    'signs': _spec(('warning', 'noturn', 'speedlimit', 'stop'), 'road',
                   'same domain as street, other labels (LISA)',
                   (160, 112), 300, 60, (0.22, 0.42), (0.15, 0.45)),
    'kitchen': _spec(('bottle', 'can', 'box'), 'kitchen',
                     'data-poor next to rich datasets (n-shot, Table 2)',
                     (128, 128), 40, 60, (0.3, 0.6), (0.45, 0.75)),
    'xray': _spec(('lesion', ), 'xray', 'out-of-domain grayscale (DeepLesion)',
                  (128, 128), 300, 60, (0.16, 0.36), (0.2, 0.8), max_objects=3),
})


def default_benchmark_root() -> str:
    """Absolute path of the default cache folder, ``data/damex_default`` under the cwd.

    It is where ``configs/_base_/datasets/damex_default.py`` looks for the data
    (``data_root = 'data/damex_default/'``) when a job runs from the repo root.
    """
    return osp.abspath(DEFAULT_ROOT)


def sample_layout(rng: np.random.Generator, spec: Mapping) -> List[Tuple[int, Tuple]]:
    """Sample the boxes of one image of a dataset.

    Each new box is placed (by up to 20 random tries, else dropped) so that
    it covers at most 15 % of any earlier box and vice versa; the first box
    always fits, so every image has at least one.

    Args:
        rng: Random generator of this image.
        spec: One value of :data:`DEFAULT_BENCHMARK`.

    Returns:
        list[tuple[int, tuple]]: 1 to ``spec['max_objects']`` pairs of
        ``(label, (x0, y0, x1, y1))``: ``label`` indexes ``spec['classes']``,
        boxes are integer pixels (``x1``/``y1`` exclusive) inside the image,
        ordered bottom-most last (drawn on top).
    """
    width, height = spec['image_size']
    short = min(width, height)
    wanted = int(rng.integers(1, spec['max_objects'] + 1))
    objects = []
    for _ in range(wanted):
        label = int(rng.integers(len(spec['classes'])))
        glyph = GLYPHS[spec['classes'][label]]
        aspect = glyph.aspect * np.exp(rng.uniform(-1, 1) * glyph.aspect_jitter)
        longer = rng.uniform(*spec['size_range']) * short
        w = int(round(min(longer, longer * aspect, width)))
        h = int(round(min(longer, longer / aspect, height)))
        w, h = max(w, 4), max(h, 4)
        lo = int(np.clip(spec['centre_range'][0] * height - h / 2, 0, height - h))
        hi = int(np.clip(spec['centre_range'][1] * height - h / 2, lo, height - h))
        for _ in range(20):  # rejection sampling of a free spot
            x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(lo, hi + 1))
            box = (x0, y0, x0 + w, y0 + h)
            if all(_overlap(box, other) <= 0.15 for _, other in objects):
                objects.append((label, box))
                break
    return sorted(objects, key=lambda obj: obj[1][3])


def _overlap(a: Tuple, b: Tuple) -> float:
    """Intersection area over the smaller box's area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller


def _image_rng(seed: int, name: str, split: str, index: int) -> np.random.Generator:
    """Independent stream per image, stable when other datasets or sizes change."""
    key = (zlib.crc32(name.encode()), _SPLITS.index(split), index)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _write_split(root: str, name: str, spec: Mapping, split: str, num: int, seed: int,
                 progress: Optional[ProgressBar]) -> int:
    """Render ``num`` images of one split and write its COCO json; returns the box count."""
    os.makedirs(osp.join(root, name, 'images', split), exist_ok=True)
    width, height = spec['image_size']
    images, annotations = [], []
    for index in range(num):
        rng = _image_rng(seed, name, split, index)
        objects = sample_layout(rng, spec)
        img = render_scene(spec['style'], (width, height),
                           [(spec['classes'][label], box) for label, box in objects], rng)
        file_name = f'{split}/{index + 1:06d}.png'
        img.save(osp.join(root, name, 'images', file_name), compress_level=1)
        images.append(dict(id=index + 1, file_name=file_name, width=width, height=height))
        for label, (x0, y0, x1, y1) in objects:
            annotations.append(dict(
                id=len(annotations) + 1, image_id=index + 1, category_id=label + 1,
                bbox=[x0, y0, x1 - x0, y1 - y0], area=(x1 - x0) * (y1 - y0), iscrowd=0))
        if progress is not None:
            progress.update()
    coco = dict(
        info=dict(description=f'damex_mmdet synthetic benchmark: {name} {split}',
                  version=str(GENERATOR_VERSION)),
        licenses=[], images=images, annotations=annotations,
        categories=[dict(id=i + 1, name=c) for i, c in enumerate(spec['classes'])])
    os.makedirs(osp.join(root, name, 'annotations'), exist_ok=True)
    with open(osp.join(root, name, 'annotations', f'{split}.json'), 'w') as f:
        json.dump(coco, f, separators=(',', ':'))
    return len(annotations)


def generate_default_benchmark(root: str, seed: int = 0, scale: float = 1.0,
                               force: bool = False, progress: bool = True) -> Dict[str, dict]:
    """Write the synthetic benchmark of :data:`DEFAULT_BENCHMARK` under ``root``.

    Deterministic: the same ``seed`` and ``scale`` give byte-identical files.
    Idempotent: when ``root/benchmark_meta.json`` records a finished run with
    the same generator version, seed and scale, nothing is written.

    Args:
        root: Output folder (created); see the module docstring for the layout.
        seed: Seed of every random choice.
        scale: Multiplies each split's image count (at least 1 image per
            split), e.g. ``0.02`` for a tiny copy in tests.
        force: Regenerate even if ``root`` holds another finished run or
            files not written by this generator (the dataset folders are
            deleted first).
        progress: Show a progress bar.

    Returns:
        dict: ``name -> dict(classes=tuple, style=str, situation=str,
        image_size=(W, H), num_train=int, num_test=int, num_train_boxes=int,
        num_test_boxes=int)`` in :data:`DEFAULT_BENCHMARK` order.

    Raises:
        ValueError: On a non-positive ``scale``, a negative or non-integer
            ``seed``, or (without ``force``) a ``root`` that holds another
            run or foreign dataset folders.
    """
    if scale <= 0:
        raise ValueError(f'scale must be positive, got {scale}; use e.g. 0.02 for a tiny copy.')
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}.')
    seed = int(seed)
    wanted = dict(generator_version=GENERATOR_VERSION, seed=seed, scale=float(scale))
    cached = None if force else _cached_run(root, wanted)
    if cached is not None:
        return cached
    counts = {name: [max(1, round(spec[f'num_{split}'] * scale)) for split in _SPLITS]
              for name, spec in DEFAULT_BENCHMARK.items()}
    os.makedirs(root, exist_ok=True)
    for name in DEFAULT_BENCHMARK:
        shutil.rmtree(osp.join(root, name), ignore_errors=True)
    marker_path = osp.join(root, MARKER_FILE)
    _dump(marker_path, dict(wanted, complete=False))  # an interrupted run is ours to redo
    total = sum(map(sum, counts.values()))
    bar = ProgressBar(total) if progress else None
    start, datasets = time.perf_counter(), {}
    for name, spec in DEFAULT_BENCHMARK.items():
        meta = dict(classes=list(spec['classes']), style=spec['style'],
                    situation=spec['situation'], image_size=list(spec['image_size']))
        for split, num in zip(_SPLITS, counts[name]):
            meta[f'num_{split}'] = num
            meta[f'num_{split}_boxes'] = _write_split(root, name, spec, split, num, seed, bar)
        datasets[name] = meta
    if bar is not None:
        bar.file.write('\n')  # end the bar's line before the summary
    _dump(marker_path, dict(wanted, complete=True, datasets=datasets))
    print_log(f'synthetic benchmark ({total} images, seed {seed}) written to {root} in '
              f'{time.perf_counter() - start:.1f} s', logger='current')
    return _decode(datasets)


def _cached_run(root: str, wanted: dict) -> Optional[Dict[str, dict]]:
    """Metadata of a finished identical run under ``root``, or None to (re)generate.

    Raises:
        ValueError: ``root`` holds a finished run with other parameters, or
            dataset folders without a marker (not written by this generator).
    """
    marker_path = osp.join(root, MARKER_FILE)
    if not osp.isfile(marker_path):
        foreign = [n for n in DEFAULT_BENCHMARK if osp.isdir(osp.join(root, n))]
        if foreign:
            raise ValueError(
                f'{root} has folders {foreign} but no {MARKER_FILE}, so they were not written '
                'by this generator; pass force=True (--force) to overwrite them or choose '
                'another root.')
        return None
    with open(marker_path) as f:
        marker = json.load(f)
    if not marker.get('complete'):
        return None  # an interrupted run of ours
    found = {key: marker.get(key) for key in wanted}
    if found != wanted:
        raise ValueError(
            f'{root} already holds the synthetic benchmark generated with {found}, not '
            f'{wanted}; pass force=True (--force) to regenerate it or choose another root.')
    if not _files_present(root):
        return None  # our own run, partly deleted since
    return _decode(marker['datasets'])


def _files_present(root: str) -> bool:
    """Whether every dataset's annotation files exist under ``root``."""
    return all(osp.isfile(osp.join(root, name, 'annotations', f'{split}.json'))
               for name in DEFAULT_BENCHMARK for split in _SPLITS)


def _dump(path: str, obj: dict) -> None:
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1)


def _decode(datasets: dict) -> Dict[str, dict]:
    """JSON lists back to tuples in the returned metadata."""
    return {name: dict(meta, classes=tuple(meta['classes']), image_size=tuple(meta['image_size']))
            for name, meta in datasets.items()}
