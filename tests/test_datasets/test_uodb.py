"""Tests of the UODB dataset specs and of the UODB dataset configs.

The configs are only parsed (no data on disk, no plugin import): what is
checked is that every dataset entry of every mixture agrees with the spec.
"""
import dataclasses
import glob
import os.path as osp

import pytest
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from PIL import Image

import damex_mmdet  # noqa: F401  (registers MultiDataset & co.)
from damex_mmdet.datasets.uodb import (UODB_DATASETS, VOC_CLASSES,
                                       UODBDatasetSpec, get_uodb_spec,
                                       uodb_classes, uodb_dataset_names,
                                       uodb_resize_scale)
from damex_mmdet.testing.scripts import load_script

REPO = osp.join(osp.dirname(__file__), '..', '..')
CFG_DIR = osp.join(REPO, 'configs', '_base_', 'datasets', 'uodb')
CONVERTER = osp.join(REPO, 'tools', 'dataset_converters', 'uodb_to_coco.py')
ORDER = ('kitti', 'voc', 'widerface', 'lisa', 'kitchen', 'coco', 'dota',
         'deeplesion', 'comic', 'clipart', 'watercolor')
# config file -> training datasets in order, and KITTI's training ann file
MIXTURES = {
    'uodb_11.py': (ORDER, 'annotations/train.json'),
    'uodb_kitti_kitchen.py': (('kitti', 'kitchen'), 'annotations/train.json'),
    'uodb_kitti-50shot_kitchen.py':
    (('kitti', 'kitchen'), 'annotations/train_50shot_seed0.json'),
    'uodb_kitti-100shot_kitchen.py':
    (('kitti', 'kitchen'), 'annotations/train_100shot_seed0.json'),
    'uodb_kitti-1000shot_kitchen.py':
    (('kitti', 'kitchen'), 'annotations/train_1000shot_seed0.json'),
    'uodb_watercolor_comic.py': (('watercolor', 'comic'), None),
    'uodb_kitti_lisa.py': (('kitti', 'lisa'), 'annotations/train.json'),
    'uodb_clipart_dota_kitti_voc.py':
    (('clipart', 'dota', 'kitti', 'voc'), 'annotations/train.json'),
}


def _load(name):
    return Config.fromfile(
        osp.join(CFG_DIR, name), import_custom_modules=False)


def test_names_order_and_classes():
    assert uodb_dataset_names() == ORDER
    assert uodb_classes('KITTI') == ('pedestrian', 'cyclist', 'vehicle')
    assert uodb_classes('lisa') == ('warning', 'noturn', 'speedlimit', 'stop')
    assert uodb_classes('widerface') == ('face', )
    assert uodb_classes('deeplesion') == ('lesion', )
    assert uodb_classes('coco') == tuple(CocoDataset.METAINFO['classes'])
    assert len(uodb_classes('coco')) == 80
    assert uodb_classes('voc') == uodb_classes('clipart') == VOC_CLASSES
    assert len(VOC_CLASSES) == 20 and VOC_CLASSES[-1] == 'tvmonitor'
    assert uodb_classes('watercolor') == uodb_classes('comic') == (
        'bicycle', 'bird', 'car', 'cat', 'dog', 'person')
    assert len(uodb_classes('dota')) == 15
    assert uodb_classes('dota')[4] == 'small-vehicle'
    kitchen = uodb_classes('kitchen')
    assert len(kitchen) == 11 and kitchen[5] == (
        'nature_valley_soft_baked_oatmeal_squares_cinnamon_brown_sugar')


def test_sizes_splits_and_files():
    short = {n: s.short_side for n, s in UODB_DATASETS.items()}
    assert short == dict(kitti=576, voc=600, widerface=800, lisa=800,
                         kitchen=800, coco=800, dota=600, deeplesion=512,
                         comic=600, clipart=600, watercolor=600)
    assert uodb_resize_scale('coco') == (1333, 800)
    assert uodb_resize_scale('voc') == (1000, 600)
    assert uodb_resize_scale('kitti') == (960, 576)
    assert uodb_resize_scale('deeplesion') == (853, 512)
    assert get_uodb_spec('kitti').splits == ('train', 'val')
    voc = get_uodb_spec('voc')
    assert voc.splits == ('trainval', 'test')
    assert voc.roots_for('trainval') == ('VOC2007', 'VOC2012')
    assert voc.roots_for('test') == ('VOC2007', )
    assert get_uodb_spec('kitti').roots_for('train') == ('', )
    coco = get_uodb_spec('coco')
    assert coco.ann_file('minival2014') == (
        'annotations/instances_minival2014.json')
    assert coco.img_prefix == 'val2014/'
    assert get_uodb_spec('kitchen').ann_file('test') == 'annotations/test.json'
    assert get_uodb_spec('kitchen').img_ext == '.png'
    assert get_uodb_spec('lisa').data_root('/d/uodb/') == '/d/uodb/LISA/'
    one_based = {n for n, s in UODB_DATASETS.items() if s.coord_base == 1}
    assert one_based == {'kitti', 'voc', 'kitchen', 'comic', 'clipart',
                         'watercolor'}


def test_kitti_name_rules():
    kitti = get_uodb_spec('kitti')
    assert kitti.alias_map == dict(car='vehicle', van='vehicle',
                                   truck='vehicle')
    assert kitti.ignored == {'dontcare', 'misc', 'tram', 'person_sitting'}


def test_lookup_errors_and_immutability():
    with pytest.raises(ValueError, match=r"'kitty'.*'kitti', 'voc'"):
        get_uodb_spec('kitty')
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_uodb_spec('kitti').short_side = 600
    with pytest.raises(TypeError):
        UODB_DATASETS['mine'] = get_uodb_spec('kitti')


def test_spec_validation():
    base = dict(name='toy', folder='Toy', classes=('a', 'b'),
                train_split='train', test_split='test', short_side=600,
                img_ext='.jpg')
    assert UODBDatasetSpec(**base).num_classes == 2
    with pytest.raises(ValueError, match="point to \\['c'\\]"):
        UODBDatasetSpec(**base, aliases=(('x', 'c'), ))
    with pytest.raises(ValueError, match=r"\['a'\] are classes"):
        UODBDatasetSpec(**base, ignored=frozenset({'a'}))
    with pytest.raises(ValueError, match='lower-case'):
        UODBDatasetSpec(**dict(base, name='Toy'))
    with pytest.raises(ValueError, match='coord_base'):
        UODBDatasetSpec(**base, coord_base=2)
    with pytest.raises(ValueError, match='unique'):
        UODBDatasetSpec(**dict(base, classes=('a', 'a')))


@pytest.mark.parametrize('path', sorted(glob.glob(osp.join(CFG_DIR, '*.py'))),
                         ids=osp.basename)
def test_every_config_parses(path):
    cfg = Config.fromfile(path, import_custom_modules=False)
    assert len(cfg.keys()) > 0
    # every top-level name is prefixed so the files compose with model
    # configs (mmdet's own keys are only defined by the mixtures)
    own = {'train_dataloader', 'val_dataloader', 'test_dataloader',
           'val_evaluator', 'test_evaluator', 'custom_imports'}
    assert all(k.startswith('uodb_') or k in own for k in cfg.keys())


def test_per_dataset_files_match_specs():
    for name, spec in UODB_DATASETS.items():
        cfg = _load(f'{name}.py')
        train, test = cfg[f'uodb_{name}_train'], cfg[f'uodb_{name}_test']
        for ds, split in ((train, spec.train_split), (test, spec.test_split)):
            assert ds.type == 'CocoDataset'
            assert ds.data_root == f'data/uodb/{spec.folder}/'
            assert ds.ann_file == spec.ann_file(split)
            assert ds.data_prefix == dict(img=spec.img_prefix)
            assert tuple(ds.metainfo.classes) == spec.classes, name
        assert test.test_mode and not train.get('test_mode', False)


def _resize(pipeline):
    (step, ) = [s for s in pipeline if s.type == 'Resize']
    return tuple(step.scale)


def _meta_keys(pipeline):
    return pipeline[-1].meta_keys


@pytest.mark.parametrize('name', sorted(MIXTURES))
def test_mixtures(name):
    names, kitti_ann = MIXTURES[name]
    cfg = _load(name)
    assert cfg.custom_imports.imports == ['damex_mmdet']
    assert cfg.val_evaluator == dict(type='MultiDatasetCocoMetric',
                                     metric='bbox')
    assert cfg.test_evaluator == cfg.val_evaluator
    assert cfg.train_dataloader.sampler.type == 'MultiDatasetSampler'
    for loader, train in ((cfg.train_dataloader, True),
                          (cfg.val_dataloader, False),
                          (cfg.test_dataloader, False)):
        assert loader.dataset.type == 'MultiDataset'
        datasets = loader.dataset.datasets
        assert tuple(datasets) == names
        for ds_name, ds in datasets.items():
            spec = get_uodb_spec(ds_name)
            assert tuple(ds.metainfo.classes) == spec.classes
            assert _resize(ds.pipeline) == spec.resize_scale, ds_name
            # dataset_name is stamped by MultiDataset, not listed
            assert 'scale_factor' in _meta_keys(ds.pipeline)
            split = spec.train_split if train else spec.test_split
            if not (train and ds_name == 'kitti'):
                assert ds.ann_file == spec.ann_file(split)
            assert ds.get('test_mode', False) is not train
        if train and kitti_ann is not None:
            assert datasets.kitti.ann_file == kitti_ann


def test_converted_mixture_feeds_multidataset(tmp_path):
    """Converter output + a mixture config -> labelled, dataset-tagged data."""
    register_all_modules()
    for folder, name in (('Watercolor', 'dog'), ('Comic', 'person')):
        tree = tmp_path / folder
        for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
            (tree / sub).mkdir(parents=True)
        (tree / 'Annotations' / 'a.xml').write_text(
            '<annotation><size><width>120</width><height>80</height></size>'
            f'<object><name>{name}</name><bndbox><xmin>11</xmin>'
            '<ymin>11</ymin><xmax>60</xmax><ymax>50</ymax></bndbox>'
            '</object></annotation>')
        Image.new('RGB', (120, 80)).save(tree / 'JPEGImages' / 'a.jpg')
        (tree / 'ImageSets' / 'Main' / 'train.txt').write_text('a\n')
    tool = load_script(CONVERTER)
    tool.main([str(tmp_path), '--datasets', 'watercolor', 'comic',
               '--splits', 'train', '--no-progress'])

    cfg = _load('uodb_watercolor_comic.py').train_dataloader.dataset
    for ds in cfg.datasets.values():
        ds.data_root = ds.data_root.replace('data/uodb', str(tmp_path))
    dataset = DATASETS.build(cfg)
    assert len(dataset) == 2
    # the sorted names give the label offsets: comic comes first (no label offset)
    assert dataset.dataset_names == ('comic', 'watercolor')
    sample = dataset[0]
    meta = sample['data_samples'].metainfo
    assert meta['dataset_name'] == 'comic'
    gt = sample['data_samples'].gt_instances
    assert gt.labels.tolist() == [5]  # 'person' is comic's 6th class
    assert dataset[1]['data_samples'].gt_instances.labels.tolist() == [6 + 4]  # watercolor's 'dog'
    # 80 px -> short side 600: x7.5, box [10, 10, 60, 50] -> [75, 75, 450, 375]
    assert tuple(sample['inputs'].shape[1:]) == (600, 900)
    flipped = meta['flip']
    x1, x2 = (900 - 450., 900 - 75.) if flipped else (75., 450.)
    assert gt.bboxes.tensor.tolist() == [[x1, 75., x2, 375.]]
