"""Tests of damex_mmdet.datasets.multi_dataset (tiny COCO fixtures, CPU)."""
import numpy as np
import pytest
import torch
from mmengine.dataset import BaseDataset
from mmengine.runner import Runner
from mmdet.registry import DATASETS
from mmdet.utils import register_all_modules
from mmdet.visualization import DetLocalVisualizer

import damex_mmdet  # noqa: F401  (registers the modules)
from damex_mmdet.datasets import MultiDataset, build_label_space
from damex_mmdet.testing import make_coco_fixture

register_all_modules(init_default_scope=True)

META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
             'flip', 'flip_direction', 'dataset_name')
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(32, 32), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=META_KEYS),
]
KITTI = ('car', 'person')
VOC = ('dog', 'cat', 'car')


@pytest.fixture(scope='module')
def fixtures(tmp_path_factory):
    """Two datasets: kitti (5 images, the last empty, portrait + landscape)
    and voc (3 images)."""
    root = tmp_path_factory.mktemp('multi')
    kitti = make_coco_fixture(
        str(root / 'kitti'), KITTI, num_images=5, num_empty=1,
        image_sizes=((64, 48), (48, 64)), seed=0)
    voc = make_coco_fixture(str(root / 'voc'), VOC, num_images=3, seed=1)
    return kitti, voc


def _build(fixtures, pipeline=(), **kwargs):
    kitti, voc = fixtures
    datasets = dict(
        kitti=kitti.dataset_cfg(
            pipeline, filter_cfg=dict(filter_empty_gt=True)),
        voc=voc.dataset_cfg(pipeline))
    return DATASETS.build(dict(type='MultiDataset', datasets=datasets,
                               **kwargs))


def _file_labels(fixture, image_id, classes):
    """Local labels of an image, by class name, as written in the file."""
    return [classes.index(name) for _, name in fixture.boxes_of(image_id)]


def test_label_space_offsets_and_names(fixtures):
    dataset = _build(fixtures)
    meta = dataset.metainfo
    assert meta['classes'] == ('kitti/car', 'kitti/person', 'voc/dog',
                               'voc/cat', 'voc/car')
    assert meta['dataset_names'] == ('kitti', 'voc')
    assert meta['dataset_class_ranges'] == {'kitti': (0, 2), 'voc': (2, 5)}
    assert meta['dataset_classes'] == {'kitti': KITTI, 'voc': VOC}
    assert len(meta['palette']) == 5
    assert meta['ann_files']['voc'].endswith('voc/annotations/train.json')
    # the empty kitti image is filtered out: 4 + 3 samples
    assert dataset.dataset_sizes == (4, 3)
    assert len(dataset) == 7 and dataset.cumulative_sizes == [4, 7]
    assert [dataset.get_dataset_source(i) for i in range(7)] == \
        [0, 0, 0, 0, 1, 1, 1]


def test_ids_follow_sorted_names_and_survive_a_config_dump(fixtures, tmp_path):
    """mmengine dumps configs with sorted keys; the label space must not move."""
    from mmengine.config import Config
    kitti, voc = fixtures
    given = dict(voc=voc.dataset_cfg([]), kitti=kitti.dataset_cfg([]))  # unsorted
    assert list(given) == ['voc', 'kitti']
    direct = DATASETS.build(dict(type='MultiDataset', datasets=given))
    assert direct.dataset_names == ('kitti', 'voc')
    assert direct.metainfo['classes'][:2] == ('kitti/car', 'kitti/person')
    cfg = Config(dict(dataset=dict(type='MultiDataset', datasets=given)))
    cfg.dump(str(tmp_path / 'dumped.py'))
    reread = Config.fromfile(str(tmp_path / 'dumped.py'))
    dumped = DATASETS.build(reread.dataset)
    assert dumped.metainfo['classes'] == direct.metainfo['classes']
    assert dumped.metainfo['dataset_label_maps'] == direct.metainfo['dataset_label_maps']
    assert dumped.get_data_info(0)['img_path'] == direct.get_data_info(0)['img_path']


def test_an_explicit_order_keeps_old_labels_when_a_name_that_sorts_first_is_added(fixtures):
    """A grown detector lists its checkpoint's order, then the new dataset (here 'aaa')."""
    kitti, voc = fixtures
    before = MultiDataset(dict(kitti=kitti.dataset_cfg([]), voc=voc.dataset_cfg([])))
    grown = MultiDataset(dict(aaa=kitti.dataset_cfg([]), kitti=kitti.dataset_cfg([]),
                              voc=voc.dataset_cfg([])), dataset_order=('kitti', 'voc', 'aaa'))
    assert grown.dataset_names == ('kitti', 'voc', 'aaa')
    old = before.metainfo['dataset_class_ranges']
    assert {n: grown.metainfo['dataset_class_ranges'][n] for n in old} == old
    assert grown.metainfo['dataset_class_ranges']['aaa'] == (5, 7)
    assert grown.metainfo['classes'][:5] == before.metainfo['classes']
    sorted_by_name = MultiDataset(dict(aaa=kitti.dataset_cfg([]), kitti=kitti.dataset_cfg([]),
                                       voc=voc.dataset_cfg([])))
    assert sorted_by_name.metainfo['dataset_class_ranges']['kitti'] == (2, 4)  # what moved
    with pytest.raises(ValueError, match=r"missing \['voc'\], unknown \['coco'\]"):
        MultiDataset(dict(kitti=kitti.dataset_cfg([]), voc=voc.dataset_cfg([])),
                     dataset_order=('kitti', 'coco'))
    with pytest.raises(ValueError, match=r"repeated \['kitti'\]"):
        MultiDataset(dict(kitti=kitti.dataset_cfg([]), voc=voc.dataset_cfg([])),
                     dataset_order=('kitti', 'kitti', 'voc'))


def test_data_info_is_stamped_and_shifted(fixtures):
    kitti, voc = fixtures
    dataset = _build(fixtures)
    offsets = {'kitti': 0, 'voc': 2}
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        fixture, classes = (kitti, KITTI) if idx < 4 else (voc, VOC)
        assert info['dataset_name'] == ('kitti' if idx < 4 else 'voc')
        assert info['sample_idx'] == idx
        expected = [offsets[info['dataset_name']] + label
                    for label in _file_labels(fixture, info['img_id'],
                                              classes)]
        assert [inst['bbox_label'] for inst in info['instances']] == expected
        assert dataset.get_cat_ids(idx) == expected
    # the sub-dataset's own (serialized) data list is left untouched
    raw = dataset.datasets[1].get_data_info(0)
    assert 'dataset_name' not in raw
    assert [inst['bbox_label'] for inst in raw['instances']] == \
        _file_labels(voc, raw['img_id'], VOC)


@pytest.mark.parametrize('serialize', [True, False])
def test_pipeline_packs_dataset_name(fixtures, serialize):
    kitti, voc = fixtures
    datasets = dict(
        kitti=kitti.dataset_cfg(PIPELINE, serialize_data=serialize),
        voc=voc.dataset_cfg(PIPELINE, serialize_data=serialize))
    dataset = MultiDataset(datasets, lazy_init=True)
    assert not dataset.datasets[0]._fully_initialized
    dataset.full_init()
    for idx in (0, len(dataset) - 1):
        sample = dataset[idx]['data_samples']
        info = dataset.get_data_info(idx)
        assert sample.metainfo['dataset_name'] == info['dataset_name']
        assert 'dataset_id' not in sample.metainfo  # one key says where a sample comes from
        assert sample.gt_instances.labels.tolist() == \
            [inst['bbox_label'] for inst in info['instances']]
    assert dataset[len(dataset) - 1]['data_samples'].dataset_name == 'voc'


def test_packed_samples_carry_dataset_names_whatever_the_meta_keys(fixtures):
    """Pipelines that do not list dataset_name still route and evaluate."""
    kitti, voc = fixtures
    bare = [dict(PIPELINE[-1], meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor')) if step['type'] == 'PackDetInputs'
            else step for step in PIPELINE]
    dataset = MultiDataset(dict(voc=voc.dataset_cfg(bare), kitti=kitti.dataset_cfg(bare)))
    seen = [dataset[idx]['data_samples'].metainfo['dataset_name']
            for idx in range(len(dataset))]
    # the sorted names give the order of the samples (and of the label offsets)
    kitti_size = dataset.dataset_sizes[0]
    assert seen == ['kitti'] * kitti_size + ['voc'] * (len(dataset) - kitti_size)


def test_unified_label_space_merges_equal_names(fixtures):
    dataset = _build(fixtures, label_space='unified')
    meta = dataset.metainfo
    assert meta['classes'] == ('car', 'person', 'dog', 'cat')
    assert meta['dataset_label_maps'] == {'kitti': (0, 1), 'voc': (2, 3, 0)}
    assert 'dataset_class_ranges' not in meta
    voc_info = dataset.get_data_info(4)
    kitti, voc = fixtures
    expected = [(2, 3, 0)[label]
                for label in _file_labels(voc, voc_info['img_id'], VOC)]
    assert [i['bbox_label'] for i in voc_info['instances']] == expected


def test_build_label_space_by_hand():
    space = build_label_space({'a': ('x', ), 'b': ('y', 'x')})
    assert space['classes'] == ('a/x', 'b/y', 'b/x')
    assert space['label_maps'] == {'a': (0, ), 'b': (1, 2)}
    assert space['class_ranges'] == {'a': (0, 1), 'b': (1, 3)}


def test_refetch_stays_in_the_same_dataset(fixtures):
    kitti, voc = fixtures

    def drop_first_image(results):
        return None if results['img_id'] == 1 else results

    dataset = MultiDataset(dict(
        kitti=kitti.dataset_cfg([drop_first_image]),
        voc=voc.dataset_cfg([drop_first_image])))
    np.random.seed(0)
    for _ in range(5):
        data = dataset[5]  # voc image 1 is dropped: another voc image
        assert data['dataset_name'] == 'voc' and data['img_id'] != 1
    test_set = MultiDataset(dict(
        kitti=kitti.dataset_cfg([drop_first_image]),
        voc=voc.dataset_cfg([drop_first_image])), test_mode=True)
    with pytest.raises(RuntimeError, match="test pipeline of dataset 'kitti'"):
        test_set[0]


def test_filtering_is_reported(fixtures, monkeypatch):
    from damex_mmdet.datasets import multi_dataset
    messages = []
    monkeypatch.setattr(multi_dataset, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    _build(fixtures)
    out = '\n'.join(messages)
    assert "'kitti' keeps 4 of 5 images" in out and '(1 skipped' in out
    assert "'voc' keeps 3 of 3 images" in out and '(0 skipped' in out


def test_errors_name_the_problem(fixtures, tmp_path):
    kitti, voc = fixtures
    with pytest.raises(ValueError, match='ordered mapping'):
        MultiDataset([kitti.dataset_cfg(), voc.dataset_cfg()])
    with pytest.raises(ValueError, match='is empty; give at least one'):
        MultiDataset({})
    with pytest.raises(ValueError, match="invalid dataset name 'a/b'"):
        MultiDataset({'a/b': kitti.dataset_cfg()})
    with pytest.raises(ValueError, match="name '1' appears twice"):
        MultiDataset({1: kitti.dataset_cfg(), '1': voc.dataset_cfg()})
    with pytest.raises(ValueError, match="invalid dataset name 'mean'"):
        MultiDataset({'mean': kitti.dataset_cfg()})
    with pytest.raises(ValueError, match="label_space='shared'"):
        MultiDataset({'kitti': kitti.dataset_cfg()}, label_space='shared')
    with pytest.raises(ValueError, match='repeats class names'):
        MultiDataset({'kitti': kitti.dataset_cfg(
            metainfo=dict(classes=('car', 'car')))})
    with pytest.raises(ValueError, match='datasets.kitti.test_mode=False'):
        MultiDataset({'kitti': kitti.dataset_cfg(test_mode=False)},
                     test_mode=True)
    # every image empty, then filtered away
    empty = make_coco_fixture(str(tmp_path / 'empty'), ('a', ), num_images=2,
                              num_empty=2)
    for serialize, message in ((True, "dataset 'e' .* failed: need at"),
                               (False, "dataset 'e' is empty")):
        with pytest.raises(ValueError, match=message):
            MultiDataset({'e': empty.dataset_cfg(
                filter_cfg=dict(filter_empty_gt=True),
                serialize_data=serialize)})
    # a configured class the annotation file does not have
    with pytest.raises(ValueError) as err:
        MultiDataset({'kitti': kitti.dataset_cfg(
            metainfo=dict(classes=('car', 'truck')))})
    assert "['truck']" in str(err.value) and kitti.ann_path in str(err.value)
    # classes listed in another order than the file's categories
    with pytest.raises(ValueError, match='in the file order'):
        MultiDataset({'kitti': kitti.dataset_cfg(
            metainfo=dict(classes=('person', 'car')))})


def test_dataset_without_classes_is_rejected():

    class NoClasses(BaseDataset):

        def load_data_list(self):
            return [dict(img_path='x.png')]

    with pytest.raises(ValueError, match="dataset 'plain' has no `classes`"):
        MultiDataset({'plain': NoClasses()})


def test_visualizer_accepts_combined_metainfo(fixtures):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    dataset = _build(fixtures)
    visualizer = DetLocalVisualizer.get_instance('multi_dataset_vis')
    visualizer.dataset_meta = dataset.metainfo
    sample = DetDataSample()
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[2., 2., 30., 30.]]), labels=torch.tensor([4]))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[4., 4., 20., 20.]]), labels=torch.tensor([3]),
        scores=torch.tensor([0.9]))
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    visualizer.add_datasample('img', image, sample)
    drawn = visualizer.get_image()
    assert drawn.shape == (48, 128, 3)  # gt | prediction, side by side
    assert drawn.any()  # the boxes (label 4 = voc/car) were drawn


def test_dataloader_from_config_through_registries(fixtures):
    kitti, voc = fixtures
    cfg = dict(
        batch_size=2, num_workers=0,
        sampler=dict(type='MultiDatasetSampler', mode='natural', seed=3),
        batch_sampler=dict(type='AspectRatioBatchSampler'),
        dataset=dict(
            type='MultiDataset',
            datasets=dict(kitti=kitti.dataset_cfg(PIPELINE),
                          voc=voc.dataset_cfg(PIPELINE))))
    loader = Runner.build_dataloader(cfg)
    seen, mixed = [], 0
    for batch in loader:
        samples = batch['data_samples']
        seen += [(sample.dataset_name, sample.img_id) for sample in samples]
        portrait = {s.ori_shape[0] > s.ori_shape[1] for s in samples}
        mixed += len(portrait) > 1
    # AspectRatioBatchSampler read the stamped infos: only its final
    # leftover batch may mix portrait and landscape images
    assert mixed <= 1
    # natural mode: every image of both datasets exactly once per epoch
    assert sorted(seen) == [('kitti', i) for i in range(1, 6)] + \
        [('voc', i) for i in range(1, 4)]
