"""Tests of the synthetic default benchmark: generator, layout, glyphs, config."""
import hashlib
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image, ImageDraw
from pycocotools.coco import COCO

from damex_mmdet.datasets.synthetic import (BENCHMARK_V2, DEFAULT_BENCHMARK, DEFAULT_ROOTS,
                                            V2_EXTRA_CLUTTER, V2_SIZE_SCALE,
                                            MARKER_FILE, generate_default_benchmark,
                                            sample_layout, sample_scene)
from damex_mmdet.datasets.synthetic_draw import GLYPHS, draw_glyph, render_scene
from damex_mmdet.testing.scripts import load_script

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', '_base_', 'datasets', 'damex_default.py')
SCALE = 0.03  # 9 train / 2 test images per rich dataset, 1 / 2 for kitchen


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('bench'))
    return root, generate_default_benchmark(root, seed=0, scale=SCALE, progress=False)


def _digest(root):
    """sha256 over every file's relative path and bytes."""
    sha = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = osp.join(folder, name)
            sha.update(osp.relpath(path, root).encode())
            with open(path, 'rb') as f:
                sha.update(f.read())
    return sha.hexdigest()


def _mtimes(root):
    return {osp.join(d, f): os.stat(osp.join(d, f)).st_mtime_ns
            for d, _, files in os.walk(root) for f in files}


def _pixels(root, name):
    """Float RGB arrays (H, W, 3) of every image of a dataset."""
    files = sorted(os.listdir(osp.join(root, name, 'images', 'train')))
    return [np.asarray(Image.open(osp.join(root, name, 'images', 'train', f)).convert('RGB'),
                       np.float64) for f in files]


def test_same_seed_gives_identical_files(bench, tmp_path):
    root, _ = bench
    generate_default_benchmark(str(tmp_path / 'a'), seed=0, scale=SCALE, progress=False)
    generate_default_benchmark(str(tmp_path / 'b'), seed=1, scale=SCALE, progress=False)
    assert _digest(str(tmp_path / 'a')) == _digest(root)
    assert _digest(str(tmp_path / 'b')) != _digest(root)


def test_second_call_rewrites_nothing(tmp_path):
    root = str(tmp_path)
    first = generate_default_benchmark(root, seed=0, scale=0.01, progress=False)
    before = _mtimes(root)
    assert generate_default_benchmark(root, seed=0, scale=0.01, progress=False) == first
    assert _mtimes(root) == before
    with pytest.raises(ValueError, match='force=True'):
        generate_default_benchmark(root, seed=3, scale=0.01, progress=False)
    generate_default_benchmark(root, seed=3, scale=0.01, force=True, progress=False)
    with open(osp.join(root, MARKER_FILE)) as f:
        assert json.load(f)['seed'] == 3
    # A finished run whose files were partly deleted is regenerated.
    os.remove(osp.join(root, 'xray', 'annotations', 'test.json'))
    generate_default_benchmark(root, seed=3, scale=0.01, progress=False)
    assert osp.isfile(osp.join(root, 'xray', 'annotations', 'test.json'))


def test_foreign_and_interrupted_roots(tmp_path):
    foreign = tmp_path / 'foreign'
    (foreign / 'street').mkdir(parents=True)
    with pytest.raises(ValueError, match='not written by this generator'):
        generate_default_benchmark(str(foreign), scale=0.01, progress=False)
    generate_default_benchmark(str(foreign), scale=0.01, force=True, progress=False)
    # An unfinished run (marker says complete=False) is redone without force.
    interrupted = tmp_path / 'interrupted'
    (interrupted / 'street').mkdir(parents=True)
    (interrupted / MARKER_FILE).write_text(json.dumps(dict(complete=False)))
    meta = generate_default_benchmark(str(interrupted), scale=0.01, progress=False)
    assert meta['street']['num_train'] == 3  # round(300 * 0.01)
    with pytest.raises(ValueError, match='scale must be positive'):
        generate_default_benchmark(str(tmp_path / 'x'), scale=0, progress=False)
    with pytest.raises(ValueError, match='seed must be a non-negative integer'):
        generate_default_benchmark(str(tmp_path / 'x'), seed=-1, progress=False)
    assert not osp.exists(tmp_path / 'x')  # bad arguments fail before writing


@pytest.mark.parametrize('name', list(DEFAULT_BENCHMARK))
def test_coco_files_are_valid(bench, name):
    root, meta = bench
    spec = DEFAULT_BENCHMARK[name]
    assert meta[name]['classes'] == spec['classes']
    for split in ('train', 'test'):
        coco = COCO(osp.join(root, name, 'annotations', f'{split}.json'))
        cats = coco.loadCats(coco.getCatIds())
        assert [(c['id'], c['name']) for c in cats] == list(enumerate(spec['classes'], 1))
        assert len(coco.imgs) == max(1, round(spec[f'num_{split}'] * SCALE))
        assert len(coco.imgs) == meta[name][f'num_{split}']
        assert len(coco.anns) == meta[name][f'num_{split}_boxes']
        for img_id, img in coco.imgs.items():
            assert img['file_name'].startswith(f'{split}/')
            with Image.open(osp.join(root, name, 'images', img['file_name'])) as pil:
                assert pil.size == (img['width'], img['height']) == spec['image_size']
            anns = coco.imgToAnns[img_id]
            assert 1 <= len(anns) <= spec['max_objects']
            for ann in anns:
                x, y, w, h = ann['bbox']
                assert w > 0 and h > 0 and ann['area'] == w * h and ann['iscrowd'] == 0
                assert x >= 0 and y >= 0 and x + w <= img['width'] and y + h <= img['height']


def test_styles_differ_as_designed(bench):
    root, _ = bench

    def saturation(a):
        return ((a.max(-1) - a.min(-1)) / np.maximum(a.max(-1), 1)).mean()

    def strong_edges(a):  # fraction of pixels with a gray step > 40 to a neighbour
        g = a.mean(-1)
        return (np.maximum(np.abs(np.diff(g, axis=1))[:-1],
                           np.abs(np.diff(g, axis=0))[:, :-1]) > 40).mean()

    paint, comic = _pixels(root, 'watercolor'), _pixels(root, 'comic')
    # Comic: saturated flat fills with black outlines; watercolour: pastel, blurred.
    assert np.mean([saturation(a) for a in comic]) > 1.5 * np.mean([saturation(a) for a in paint])
    assert np.mean([strong_edges(a) for a in comic]) > 20 * np.mean(
        [strong_edges(a) for a in paint])
    for a in _pixels(root, 'xray'):  # grayscale PNG: R == G == B everywhere
        assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()
    # street and signs share the road domain: blue sky on top, gray asphalt below.
    for name in ('street', 'signs'):
        for a in _pixels(root, name):
            top, bottom = a[:3].mean((0, 1)), a[-3:].mean((0, 1))
            assert top[2] > top[0] + 40
            assert np.ptp(bottom) < 15 and 60 < bottom.mean() < 140


def test_data_poor_dataset(bench):
    _, meta = bench
    rich = [s['num_train'] for n, s in DEFAULT_BENCHMARK.items() if n != 'kitchen']
    assert DEFAULT_BENCHMARK['kitchen']['num_train'] * 5 <= min(rich)
    assert meta['kitchen']['num_train'] < meta['street']['num_train']
    # The same label set in two styles, divergent label sets in one domain.
    assert DEFAULT_BENCHMARK['watercolor']['classes'] == DEFAULT_BENCHMARK['comic']['classes']
    assert DEFAULT_BENCHMARK['street']['style'] == DEFAULT_BENCHMARK['signs']['style']
    assert not set(DEFAULT_BENCHMARK['street']['classes']) & set(
        DEFAULT_BENCHMARK['signs']['classes'])


def test_sample_layout_respects_spec():
    spec = DEFAULT_BENCHMARK['street']
    width, height = spec['image_size']
    counts = set()
    for seed in range(200):
        objects = sample_layout(np.random.default_rng(seed), spec)
        counts.add(len(objects))
        for i, (label, (x0, y0, x1, y1)) in enumerate(objects):
            assert 0 <= label < 3 and 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            longer = max(x1 - x0, y1 - y0) / height
            assert spec['size_range'][0] - 0.01 <= longer <= spec['size_range'][1] + 0.01
            for _, (a0, b0, a1, b1) in objects[:i]:  # at most 15 % of the smaller box hidden
                inter = max(0, min(x1, a1) - max(x0, a0)) * max(0, min(y1, b1) - max(y0, b0))
                smaller = min((x1 - x0) * (y1 - y0), (a1 - a0) * (b1 - b0))
                assert inter <= 0.15 * smaller
        bottoms = [box[3] for _, box in objects]
        assert bottoms == sorted(bottoms)  # nearer (lower) objects are drawn last
    assert counts == {1, 2, 3, 4}


@pytest.mark.parametrize('name', [n for n, g in GLYPHS.items() if g.parts])
@pytest.mark.parametrize('mirror', [False, True])
def test_glyph_exactly_fills_its_box(name, mirror):
    img = Image.new('L', (64, 64), 0)
    colours = {role: 255 for role in ('main', 'dark', 'accent', 'black', 'white', 'red',
                                      'yellow', 'glass', 'skin', 'gray')}
    draw_glyph(ImageDraw.Draw(img), name, (7, 11, 47, 53), colours, mirror=mirror)
    ys, xs = np.nonzero(np.asarray(img))
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (7, 11, 46, 52)


def test_xray_lesion_is_a_bright_blob():
    rng = np.random.default_rng(0)
    img = np.asarray(render_scene('xray', (128, 128), [('lesion', (20, 30, 50, 60))], rng),
                     np.float64)
    assert img.shape == (128, 128)
    centre = img[40:50, 30:40].mean()
    assert centre > img[80:90, 30:40].mean() + 50  # same lung, no lesion
    with pytest.raises(ValueError, match='Unknown synthetic style'):
        render_scene('sketch', (8, 8), [], rng)


def test_config_matches_benchmark():
    cfg = Config.fromfile(CONFIG)
    assert cfg.damex_default_data_root == 'data/damex_default/'
    assert {k: tuple(v) for k, v in cfg.damex_default_classes.items()} == {
        name: spec['classes'] for name, spec in DEFAULT_BENCHMARK.items()}
    assert list(cfg.damex_default_classes) == list(DEFAULT_BENCHMARK)
    assert cfg.damex_default_num_classes == sum(
        len(s['classes']) for s in DEFAULT_BENCHMARK.values())
    assert list(cfg.damex_default_expert_map) == list(DEFAULT_BENCHMARK)
    loaders = ((cfg.damex_default_train_dataloader, 'train'),
               (cfg.damex_default_test_dataloader, 'test'))
    for loader, split in loaders:
        assert loader.dataset.type == 'MultiDataset'
        datasets = loader.dataset.datasets
        assert list(datasets) == list(DEFAULT_BENCHMARK)
        for name, ds in datasets.items():
            assert tuple(ds.metainfo.classes) == DEFAULT_BENCHMARK[name]['classes']
            assert ds.data_root == f'data/damex_default/{name}/'
            assert ds.ann_file == f'annotations/{split}.json'
            assert ds.data_prefix.img == 'images/'
            # the test datasets share the MultiDataset's pipeline (DetInferencer's too)
            pipeline = ds.get('pipeline') or loader.dataset.pipeline
            pack = pipeline[-1]
            # (dataset_name need not be listed: MultiDataset stamps it)
            assert pack.type == 'PackDetInputs' and 'scale_factor' in pack.meta_keys
    assert cfg.damex_default_train_dataloader.sampler.type == 'MultiDatasetSampler'
    assert cfg.damex_default_evaluator.type == 'MultiDatasetCocoMetric'


def test_train_dataset_builds_from_config(bench):
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules()
    root, meta = bench
    cfg = Config.fromfile(CONFIG).damex_default_train_dataloader.dataset
    for name, ds in cfg.datasets.items():
        ds.data_root = osp.join(root, name) + '/'
    dataset = DATASETS.build(cfg)
    # ids follow the sorted names: comic, kitchen, signs, street, watercolor, xray
    assert dataset.dataset_names == tuple(sorted(meta))
    assert dataset.dataset_sizes == tuple(meta[name]['num_train'] for name in sorted(meta))
    xray = len(dataset) - 1  # the last sample belongs to the last dataset
    sample = dataset[xray]
    assert sample['data_samples'].metainfo['dataset_name'] == 'xray'
    # xray's only class sits after the 16 classes of the five other datasets.
    assert sample['data_samples'].gt_instances.labels.tolist() == [16] * len(
        sample['data_samples'].gt_instances)
    assert tuple(sample['inputs'].shape) == (3, 128, 128)
    street = dataset[sum(dataset.dataset_sizes[:3])]
    assert street['data_samples'].metainfo['dataset_name'] == 'street'
    assert tuple(street['inputs'].shape) == (3, 112, 160)


def test_cli_writes_the_benchmark(tmp_path, capsys):
    tool = load_script(osp.join(REPO, 'tools', 'misc', 'generate_default_data.py'))
    meta = tool.main([str(tmp_path), '--scale', '0.01', '--seed', '2'])
    assert meta['kitchen']['num_train'] == 1
    assert osp.isfile(tmp_path / 'xray' / 'annotations' / 'test.json')
    assert 'signs' in capsys.readouterr().out


# --- benchmark v2 -------------------------------------------------------------------------

def _content_digest(root):
    """sha256 over the annotation files and the decoded pixels (not the PNG encoder's bytes)."""
    sha = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = osp.join(folder, name)
            if name.endswith('.json') and name != MARKER_FILE:
                with open(path, 'rb') as f:
                    sha.update(f.read())
            elif name.endswith('.png'):
                sha.update(np.asarray(Image.open(path)).tobytes())
    return sha.hexdigest()


def test_v1_stays_what_every_recorded_result_used(tmp_path):
    """Pinned before benchmark v2 was written: v1's annotations and pixels, seed 0, scale 0.05."""
    generate_default_benchmark(str(tmp_path), seed=0, scale=0.05, progress=False)
    assert _content_digest(str(tmp_path)) == (
        '2dfd337776ddaf981f0e00ec19bde3c476374b4a728d98579a1c4236828f3cc1')


def _scenes(name, count=200):
    spec = BENCHMARK_V2[name]
    return [sample_scene(np.random.default_rng(i), spec) for i in range(count)], spec


def test_v2_street_and_signs_show_each_others_objects_unannotated():
    signs = {'warning', 'noturn', 'speedlimit', 'stop'}
    users = {'pedestrian', 'cyclist', 'vehicle'}
    for name, own, other in (('street', users, signs), ('signs', signs, users)):
        scenes, spec = _scenes(name)
        for drawn, annotated in scenes:
            assert {spec['classes'][label] for label, _ in annotated} <= own
            assert any(cls in other for cls, _ in drawn), name  # every image shows some
            assert {box for _, box in annotated} <= {box for _, box in drawn}
    assert BENCHMARK_V2['street']['style'] != BENCHMARK_V2['signs']['style']


def test_v2_comic_annotates_only_large_persons_and_watercolor_all():
    short, least = 128, BENCHMARK_V2['comic']['annotate_min_size']['person']
    assert least == pytest.approx(0.3 * V2_SIZE_SCALE) and least < 0.3
    for name, policy in (('comic', least), ('watercolor', 0.0)):
        scenes, spec = _scenes(name)
        small_drawn = small_annotated = 0
        for drawn, annotated in scenes:
            for label, box in annotated:
                if spec['classes'][label] == 'person':
                    assert max(box[2] - box[0], box[3] - box[1]) >= policy * short
            small_drawn += sum(cls == 'person' and max(b[2] - b[0], b[3] - b[1]) < least * short
                               for cls, b in drawn)
            small_annotated += sum(spec['classes'][label] == 'person' and
                                   max(b[2] - b[0], b[3] - b[1]) < least * short
                                   for label, b in annotated)
        assert small_drawn > 20  # both draw small persons ...
        assert small_annotated == (0 if name == 'comic' else small_drawn)  # ... one annotates


def test_v2_is_its_own_version_and_folder(tmp_path):
    meta = generate_default_benchmark(str(tmp_path), scale=0.02, progress=False, version=2)
    assert list(meta) == list(BENCHMARK_V2)
    with open(tmp_path / MARKER_FILE) as f:
        assert json.load(f)['generator_version'] == 2
    with open(tmp_path / 'street' / 'annotations' / 'train.json') as f:
        assert json.load(f)['info']['version'] == '2'
    with pytest.raises(ValueError, match="generator_version': 2"):
        generate_default_benchmark(str(tmp_path), scale=0.02, progress=False, version=1)
    with pytest.raises(ValueError, match=r'versions \[1, 2\]'):
        generate_default_benchmark(str(tmp_path / 'x'), version=3)
    assert DEFAULT_ROOTS[2] == 'data/damex_default_v2'


def test_v2_records_every_drawn_object_for_evaluating_the_conflicts(tmp_path):
    generate_default_benchmark(str(tmp_path), scale=0.05, progress=False, version=2)
    for name, extra in (('street', 'stop'), ('signs', 'vehicle'), ('comic', None)):
        with open(tmp_path / name / 'annotations' / 'test.json') as f:
            own = json.load(f)
        with open(tmp_path / name / 'annotations' / 'test_drawn.json') as f:
            every = json.load(f)
        names = [c['name'] for c in every['categories']]
        assert names[:len(own['categories'])] == [c['name'] for c in own['categories']]
        if extra:
            assert extra in names
        assert len(every['annotations']) > len(own['annotations'])
        boxes = {(a['image_id'], tuple(a['bbox'])) for a in every['annotations']}
        assert {(a['image_id'], tuple(a['bbox'])) for a in own['annotations']} <= boxes
    # datasets that annotate all they draw get no such file (v1: none at all)
    assert not (tmp_path / 'kitchen' / 'annotations' / 'test_drawn.json').exists()


def test_a_root_from_another_draft_of_the_spec_is_regenerated(tmp_path, monkeypatch):
    """The marker records the spec's digest: stale data of the same version is not reused."""
    from damex_mmdet.datasets import synthetic
    root = str(tmp_path)
    generate_default_benchmark(root, scale=0.02, progress=False, version=2)
    with open(tmp_path / MARKER_FILE) as f:
        assert json.load(f)['spec_digest'] == synthetic.benchmark_spec_digest(2)
    before = _digest(root)
    generate_default_benchmark(root, scale=0.02, progress=False, version=2)
    assert _digest(root) == before  # same spec: reused as it is
    assert synthetic.benchmark_spec_digest(1) != synthetic.benchmark_spec_digest(2)
    # another draft of v2: larger objects in xray
    draft = dict(BENCHMARK_V2, xray=dict(BENCHMARK_V2['xray'], size_range=(0.2, 0.4)))
    monkeypatch.setattr(synthetic, 'BENCHMARKS', {1: synthetic.DEFAULT_BENCHMARK, 2: draft})
    assert synthetic.benchmark_spec_digest(2) != json.loads(
        (tmp_path / MARKER_FILE).read_text())['spec_digest']
    generate_default_benchmark(root, scale=0.02, progress=False, version=2)
    assert _digest(root) != before
    with open(tmp_path / MARKER_FILE) as f:
        assert json.load(f)['spec_digest'] == synthetic.benchmark_spec_digest(2)


def test_v2_clutters_every_rgb_image_and_leaves_xray_clean():
    """Calibration's clutter knob: distractors in every RGB image, none on the x-ray slices."""
    for name, spec in BENCHMARK_V2.items():
        if name == 'xray':
            assert 'clutter' not in spec
        else:
            lo, hi = spec['clutter']
            assert 1 + V2_EXTRA_CLUTTER <= lo <= hi, name
