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

Benchmark **v2** (``version=2``, :data:`BENCHMARK_V2`, folder
``data/damex_default_v2``) keeps the six situations and adds the papers'
harder ones; v1 stays bit for bit what it was for every recorded result:

* ``street`` and ``signs`` are two cameras of one road domain (``signs``
  has a slightly warmer tone, more blur and grain), and each shows the
  other's objects *unannotated*: street scenes hold 1-2 signs, signs scenes
  1-3 pedestrians, cyclists or vehicles (KITTI vs LISA, DAMEX Table 4);
* ``watercolor`` annotates every person, ``comic`` only persons whose longer
  side is at least 0.154 of the image's shorter side (the same class under two
  annotation policies, as VOC vs COCO or WiderFace in UODB);
* more objects (up to 9-14 per image) and smaller ones, and 7-12 distractor
  shapes (clutter) in every RGB image.

Each root's ``benchmark_meta.json`` also records :func:`benchmark_spec_digest`,
so data written from an earlier draft of a version's spec is regenerated, not
reused.

Layout on disk, for each dataset ``NAME`` under ``root``::

    NAME/annotations/{train,test}.json   COCO, category ids 1..n in class order
    NAME/images/{train,test}/000001.png  ``file_name`` is ``train/000001.png``

so a dataset config uses ``data_root=root/NAME/``,
``ann_file='annotations/train.json'`` and ``data_prefix=dict(img='images/')``.
``root/benchmark_meta.json`` records the generator version and parameters;
a later call with the same ones returns at once without writing anything.
"""
import hashlib
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
    'DEFAULT_BENCHMARK', 'BENCHMARK_V2', 'BENCHMARKS', 'DEFAULT_ROOT', 'DEFAULT_ROOTS',
    'V2_DRAWN_EVALS',
    'GENERATOR_VERSION', 'MARKER_FILE', 'V2_EXTRA_CLUTTER', 'V2_EXTRA_OBJECTS', 'V2_SIZE_SCALE',
    'benchmark_spec_digest',
    'default_benchmark_root', 'generate_default_benchmark', 'sample_layout', 'sample_scene'
]

GENERATOR_VERSION = 1  # v1's version; a change of its pixels or annotations is a new version
MARKER_FILE = 'benchmark_meta.json'
DEFAULT_ROOT = 'data/damex_default'  # relative to the working directory, as in the configs
# version -> folder of the configs that use it
DEFAULT_ROOTS = MappingProxyType({1: DEFAULT_ROOT, 2: 'data/damex_default_v2'})
_SPLITS = ('train', 'test')


def _spec(classes, style, situation, image_size, num_train, num_test, size_range,
          centre_range=(0.0, 1.0), max_objects=4, **v2):
    """Read-only description of one dataset (keys: see DEFAULT_BENCHMARK and BENCHMARK_V2)."""
    return MappingProxyType(dict(
        classes=classes, style=style, situation=situation, image_size=image_size,
        num_train=num_train, num_test=num_test, size_range=size_range,
        centre_range=centre_range, max_objects=max_objects, **v2))


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


# Calibration step 1 of ``docs/results/benchmark_v2/PLAN.md`` turns three knobs on
# dense pilots only, one at a time in round 1 (sizes x 0.8, max objects + 2, clutter
# + 2: mean AP50 90.3 -> 89.5 -> 90.8 -> 90.1, all > 85), all three at once in
# later rounds (round 2: 88.8).

#: Every object size of v2 (annotated and unannotated size ranges, and comic's
#: person threshold) is its first draft's times this: 0.8 per round, three rounds.
V2_SIZE_SCALE = 0.8 ** 3
#: Added to every v2 dataset's first-draft ``max_objects``: 2 per round, three rounds.
V2_EXTRA_OBJECTS = 6
#: Added to both ends of every v2 RGB dataset's first-draft ``clutter`` range (xray
#: has none): 2 per round, three rounds.
V2_EXTRA_CLUTTER = 6


def _sized(lo: float, hi: float) -> Tuple[float, float]:
    """A v2 size range: the first draft's ``(lo, hi)`` times :data:`V2_SIZE_SCALE`."""
    return (lo * V2_SIZE_SCALE, hi * V2_SIZE_SCALE)


def _more(max_objects: int) -> int:
    """A v2 ``max_objects``: the first draft's plus :data:`V2_EXTRA_OBJECTS`."""
    return max_objects + V2_EXTRA_OBJECTS


def _cluttered(lo: int, hi: int) -> Tuple[int, int]:
    """A v2 ``clutter`` range: the first draft's ``(lo, hi)`` plus :data:`V2_EXTRA_CLUTTER`."""
    return (lo + V2_EXTRA_CLUTTER, hi + V2_EXTRA_CLUTTER)


_SIGN_CLASSES = ('warning', 'noturn', 'speedlimit', 'stop')
_ROAD_USERS = ('pedestrian', 'cyclist', 'vehicle')

#: Benchmark v2: :data:`DEFAULT_BENCHMARK`'s keys, plus ``clutter`` ``(lo, hi)``
#: distractor shapes per image, ``unannotated`` (objects drawn but never
#: annotated: ``classes``, ``count`` ``(lo, hi)`` per image, ``size_range``,
#: ``centre_range``) and ``annotate_min_size`` (class -> least longer side, as a
#: fraction of the shorter image side, of an annotated object; smaller ones are
#: drawn and not annotated).
BENCHMARK_V2: Mapping[str, Mapping] = MappingProxyType({
    'watercolor': _spec(('person', 'car', 'dog'), 'watercolor',
                        'same labels as comic, other style; annotates every person',
                        (128, 128), 300, 60, _sized(0.14, 0.4), max_objects=_more(7),
                        clutter=_cluttered(2, 6)),
    'comic': _spec(('person', 'car', 'dog'), 'comic',
                   'same labels as watercolor, other style; persons annotated only when large '
                   '(another annotation policy)', (128, 128), 300, 60, _sized(0.14, 0.4),
                   max_objects=_more(7), clutter=_cluttered(2, 6),
                   annotate_min_size={'person': 0.3 * V2_SIZE_SCALE}),
    'street': _spec(_ROAD_USERS, 'road',
                    'one road domain with signs; signs present, never annotated (KITTI)',
                    (160, 112), 300, 60, _sized(0.16, 0.45), (0.5, 0.85), max_objects=_more(8),
                    clutter=_cluttered(1, 4),
                    unannotated=dict(classes=_SIGN_CLASSES, count=(1, 2),
                                     size_range=_sized(0.14, 0.3), centre_range=(0.15, 0.45))),
    'signs': _spec(_SIGN_CLASSES, 'road_b',
                   'one road domain with street; road users present, never annotated (LISA)',
                   (160, 112), 300, 60, _sized(0.14, 0.32), (0.15, 0.45), max_objects=_more(5),
                   clutter=_cluttered(1, 4),
                   unannotated=dict(classes=_ROAD_USERS, count=(1, 3),
                                    size_range=_sized(0.16, 0.45), centre_range=(0.5, 0.85))),
    'kitchen': _spec(('bottle', 'can', 'box'), 'kitchen',
                     'data-poor next to rich datasets (n-shot, Table 2)',
                     (128, 128), 40, 60, _sized(0.15, 0.4), (0.45, 0.8), max_objects=_more(6),
                     clutter=_cluttered(2, 5)),
    'xray': _spec(('lesion', ), 'xray', 'out-of-domain grayscale (DeepLesion)',
                  (128, 128), 300, 60, _sized(0.1, 0.28), (0.2, 0.8), max_objects=_more(3)),
})
#: version -> benchmark
BENCHMARKS = MappingProxyType({1: DEFAULT_BENCHMARK, 2: BENCHMARK_V2})
#: v2's conflicts, scored against every drawn object (``MultiDatasetCocoMetric(drawn_evals=)``):
#: images dataset -> the datasets whose classes are looked for in them
V2_DRAWN_EVALS = MappingProxyType({'street': ('signs', ), 'signs': ('street', ),
                                   'comic': ('comic', )})


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
    wanted = int(rng.integers(1, spec['max_objects'] + 1))
    objects = []
    for _ in range(wanted):
        label = int(rng.integers(len(spec['classes'])))
        box = _place(rng, spec, spec['classes'][label], spec['size_range'],
                     spec['centre_range'], objects)
        if box is not None:  # else dropped: no free spot in 20 tries
            objects.append((label, box))
    return sorted(objects, key=lambda obj: obj[1][3])


def _overlap(a: Tuple, b: Tuple) -> float:
    """Intersection area over the smaller box's area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller


def _place(rng: np.random.Generator, spec: Mapping, name: str, size_range, centre_range,
           objects: List[Tuple[str, Tuple]]) -> Optional[Tuple]:
    """One box of class ``name`` that overlaps no box in ``objects`` by more than 15 %."""
    width, height = spec['image_size']
    glyph = GLYPHS[name]
    aspect = glyph.aspect * np.exp(rng.uniform(-1, 1) * glyph.aspect_jitter)
    longer = rng.uniform(*size_range) * min(width, height)
    w = max(int(round(min(longer, longer * aspect, width))), 4)
    h = max(int(round(min(longer, longer / aspect, height))), 4)
    lo = int(np.clip(centre_range[0] * height - h / 2, 0, height - h))
    hi = int(np.clip(centre_range[1] * height - h / 2, lo, height - h))
    for _ in range(20):
        x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(lo, hi + 1))
        box = (x0, y0, x0 + w, y0 + h)
        if all(_overlap(box, other) <= 0.15 for _, other in objects):
            return box
    return None


def sample_scene(rng: np.random.Generator, spec: Mapping
                 ) -> Tuple[List[Tuple[str, Tuple]], List[Tuple[int, Tuple]]]:
    """What one image of a dataset shows, and what of it is annotated.

    v1 specs: :func:`sample_layout`, every object annotated. v2 specs also
    apply ``annotate_min_size`` and add the ``unannotated`` objects (see
    :data:`BENCHMARK_V2`).

    Returns:
        tuple: the drawn ``(class name, box)`` pairs, bottom-most last, and
        the annotated ``(label, box)`` pairs (``label`` indexes
        ``spec['classes']``).
    """
    objects = sample_layout(rng, spec)
    drawn = [(spec['classes'][label], box) for label, box in objects]
    short = min(spec['image_size'])
    least = spec.get('annotate_min_size', {})
    annotated = [(label, box) for label, box in objects
                 if max(box[2] - box[0], box[3] - box[1]) >=
                 least.get(spec['classes'][label], 0.0) * short]
    extra = spec.get('unannotated')
    if extra:
        for _ in range(int(rng.integers(extra['count'][0], extra['count'][1] + 1))):
            name = extra['classes'][int(rng.integers(len(extra['classes'])))]
            box = _place(rng, spec, name, extra['size_range'], extra['centre_range'], drawn)
            if box is not None:
                drawn.append((name, box))
    return sorted(drawn, key=lambda obj: obj[1][3]), annotated


def _image_rng(seed: int, name: str, split: str, index: int) -> np.random.Generator:
    """Independent stream per image, stable when other datasets or sizes change."""
    key = (zlib.crc32(name.encode()), _SPLITS.index(split), index)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _write_split(root: str, name: str, spec: Mapping, split: str, num: int, seed: int,
                 progress: Optional[ProgressBar], version: int = GENERATOR_VERSION) -> int:
    """Render ``num`` images of one split and write its COCO json; returns the box count.

    A v2 dataset that draws objects it does not annotate also gets
    ``<split>_drawn.json``: every drawn object, its own classes first, then the
    unannotated ones (evaluation of the conflicts only, never for training).
    """
    os.makedirs(osp.join(root, name, 'images', split), exist_ok=True)
    width, height = spec['image_size']
    images, annotations, every = [], [], []
    extra = spec.get('unannotated', {}).get('classes', ())
    every_classes = (*spec['classes'], *(c for c in extra if c not in spec['classes']))
    for index in range(num):
        rng = _image_rng(seed, name, split, index)
        drawn, objects = sample_scene(rng, spec)
        clutter = int(rng.integers(spec['clutter'][0], spec['clutter'][1] + 1)) \
            if 'clutter' in spec else 0
        img = render_scene(spec['style'], (width, height), drawn, rng, clutter=clutter)
        file_name = f'{split}/{index + 1:06d}.png'
        img.save(osp.join(root, name, 'images', file_name), compress_level=1)
        images.append(dict(id=index + 1, file_name=file_name, width=width, height=height))
        for label, (x0, y0, x1, y1) in objects:
            annotations.append(dict(
                id=len(annotations) + 1, image_id=index + 1, category_id=label + 1,
                bbox=[x0, y0, x1 - x0, y1 - y0], area=(x1 - x0) * (y1 - y0), iscrowd=0))
        for cls, (x0, y0, x1, y1) in drawn:
            every.append(dict(
                id=len(every) + 1, image_id=index + 1, category_id=every_classes.index(cls) + 1,
                bbox=[x0, y0, x1 - x0, y1 - y0], area=(x1 - x0) * (y1 - y0), iscrowd=0))
        if progress is not None:
            progress.update()
    coco = dict(
        info=dict(description=f'damex_mmdet synthetic benchmark: {name} {split}',
                  version=str(version)),
        licenses=[], images=images, annotations=annotations,
        categories=[dict(id=i + 1, name=c) for i, c in enumerate(spec['classes'])])
    os.makedirs(osp.join(root, name, 'annotations'), exist_ok=True)
    with open(osp.join(root, name, 'annotations', f'{split}.json'), 'w') as f:
        json.dump(coco, f, separators=(',', ':'))
    if len(every) != len(annotations):
        drawn_coco = dict(coco, annotations=every, categories=[
            dict(id=i + 1, name=c) for i, c in enumerate(every_classes)])
        drawn_coco['info'] = dict(coco['info'], description=coco['info']['description'] +
                                  ', every drawn object (evaluation only)')
        with open(osp.join(root, name, 'annotations', f'{split}_drawn.json'), 'w') as f:
            json.dump(drawn_coco, f, separators=(',', ':'))
    return len(annotations)


def benchmark_spec_digest(version: int) -> str:
    """A short sha256 of a benchmark version's spec (:data:`BENCHMARKS`).

    It changes when any dataset's description changes (sizes, counts, classes,
    policies), so a root generated from another draft of the same version is
    told apart, and so is a training run on it (the comparison tool puts it in
    each v2 run's config).
    """
    spec = {name: dict(value) for name, value in BENCHMARKS[version].items()}
    text = json.dumps(spec, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def generate_default_benchmark(root: str, seed: int = 0, scale: float = 1.0,
                               force: bool = False, progress: bool = True,
                               version: int = GENERATOR_VERSION) -> Dict[str, dict]:
    """Write the synthetic benchmark (:data:`DEFAULT_BENCHMARK`, or v2) under ``root``.

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
        version: 1 (:data:`DEFAULT_BENCHMARK`, default) or 2
            (:data:`BENCHMARK_V2`); see :data:`BENCHMARKS`.

    Returns:
        dict: ``name -> dict(classes=tuple, style=str, situation=str,
        image_size=(W, H), num_train=int, num_test=int, num_train_boxes=int,
        num_test_boxes=int)`` in the benchmark's order.

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
    if version not in BENCHMARKS:
        raise ValueError(f'version {version!r}: the synthetic benchmark has versions '
                         f'{sorted(BENCHMARKS)}.')
    benchmark = BENCHMARKS[version]
    wanted = dict(generator_version=version, seed=seed, scale=float(scale))
    digest = benchmark_spec_digest(version)
    cached = None if force else _cached_run(root, wanted, benchmark, digest)
    if cached is not None:
        return cached
    counts = {name: [max(1, round(spec[f'num_{split}'] * scale)) for split in _SPLITS]
              for name, spec in benchmark.items()}
    os.makedirs(root, exist_ok=True)
    for name in sorted(set(DEFAULT_BENCHMARK) | set(BENCHMARK_V2)):
        shutil.rmtree(osp.join(root, name), ignore_errors=True)
    marker_path = osp.join(root, MARKER_FILE)
    _dump(marker_path, dict(wanted, complete=False))  # an interrupted run is ours to redo
    total = sum(map(sum, counts.values()))
    bar = ProgressBar(total) if progress else None
    start, datasets = time.perf_counter(), {}
    for name, spec in benchmark.items():
        meta = dict(classes=list(spec['classes']), style=spec['style'],
                    situation=spec['situation'], image_size=list(spec['image_size']))
        for split, num in zip(_SPLITS, counts[name]):
            meta[f'num_{split}'] = num
            meta[f'num_{split}_boxes'] = _write_split(root, name, spec, split, num, seed, bar,
                                                      version)
        datasets[name] = meta
    if bar is not None:
        bar.file.write('\n')  # end the bar's line before the summary
    _dump(marker_path, dict(wanted, complete=True, spec_digest=digest, datasets=datasets))
    print_log(f'synthetic benchmark v{version} ({total} images, seed {seed}) written to {root} in '
              f'{time.perf_counter() - start:.1f} s', logger='current')
    return _decode(datasets)


def _cached_run(root: str, wanted: dict, benchmark: Mapping,
                digest: str) -> Optional[Dict[str, dict]]:
    """Metadata of a finished identical run under ``root``, or None to (re)generate.

    A finished run of ours with the same parameters but another spec digest
    (an earlier draft of the version's spec, or a marker written before the
    digest was recorded) is regenerated, with a message.

    Raises:
        ValueError: ``root`` holds a finished run with other parameters, or
            dataset folders without a marker (not written by this generator).
    """
    marker_path = osp.join(root, MARKER_FILE)
    if not osp.isfile(marker_path):
        foreign = [n for n in benchmark if osp.isdir(osp.join(root, n))]
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
    if not _files_present(root, benchmark):
        return None  # our own run, partly deleted since
    if marker.get('spec_digest') != digest:
        print_log(f'{root} was generated from another spec of benchmark '
                  f"v{wanted['generator_version']} (digest {marker.get('spec_digest')}, now "
                  f'{digest}); regenerating it.', logger='current')
        return None
    return _decode(marker['datasets'])


def _files_present(root: str, benchmark: Mapping) -> bool:
    """Whether every dataset's annotation files exist under ``root``."""
    return all(osp.isfile(osp.join(root, name, 'annotations', f'{split}.json'))
               for name in benchmark for split in _SPLITS)


def _dump(path: str, obj: dict) -> None:
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1)


def _decode(datasets: dict) -> Dict[str, dict]:
    """JSON lists back to tuples in the returned metadata."""
    return {name: dict(meta, classes=tuple(meta['classes']), image_size=tuple(meta['image_size']))
            for name, meta in datasets.items()}
