"""Tests of damex_mmdet.evaluation.multi_dataset_metric (tiny COCO fixtures)."""
import logging
import os.path as osp

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.structures import InstanceData
from mmdet.registry import DATASETS, METRICS
from mmdet.utils import register_all_modules

import damex_mmdet  # noqa: F401  (registers the modules)
from damex_mmdet.testing import make_coco_fixture

register_all_modules(init_default_scope=True)

KEYS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75')
META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
             'dataset_name')


@pytest.fixture(scope='module')
def fixtures(tmp_path_factory):
    """kitti: 4 images (the last without boxes); voc: 3 images; blank: 2
    images without any box."""
    root = tmp_path_factory.mktemp('metric')
    return dict(
        kitti=make_coco_fixture(str(root / 'kitti'), ('car', 'person'),
                                num_images=4, num_empty=1, seed=0),
        voc=make_coco_fixture(str(root / 'voc'), ('dog', 'cat', 'car'),
                              num_images=3, seed=1),
        blank=make_coco_fixture(str(root / 'blank'), ('face', ),
                                num_images=2, num_empty=2, seed=2))


def _dataset(fixtures, names=('kitti', 'voc'), **kwargs):
    return DATASETS.build(dict(
        type='MultiDataset', test_mode=True,
        datasets={n: fixtures[n].dataset_cfg() for n in names},
        **kwargs))


def _samples(dataset, relabel=None, keep_instances=False):
    """One data-sample dict per image whose predictions are its ground truth
    (score 1); ``relabel(dataset_name, labels)`` may change or drop them."""
    samples = []
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        boxes = torch.tensor([i['bbox'] for i in info['instances']],
                             dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([i['bbox_label'] for i in info['instances']],
                              dtype=torch.long)
        if relabel is not None:
            boxes, labels = relabel(info['dataset_name'], boxes, labels)
        sample = dict(
            dataset_name=info['dataset_name'], img_id=info['img_id'],
            ori_shape=(info['height'], info['width']),
            pred_instances=dict(bboxes=boxes, labels=labels,
                                scores=torch.ones(len(labels))))
        if keep_instances:
            sample['instances'] = info['instances']
        samples.append(sample)
    return samples


def _evaluate(dataset, samples, **kwargs):
    metric = METRICS.build(dict(type='MultiDatasetCocoMetric', **kwargs))
    metric.dataset_meta = dataset.metainfo
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def _column(metrics, name):
    return [metrics[f'{name}/{key}'] for key in KEYS]


def test_perfect_predictions_score_one(fixtures, tmp_path):
    dataset = _dataset(fixtures)
    metrics = _evaluate(dataset, _samples(dataset), table_dir=str(tmp_path))
    for name in ('kitti', 'voc', 'mean'):
        assert _column(metrics, name) == [1.0, 1.0, 1.0]
    assert len(metrics) == 9


def test_labels_of_another_dataset_are_ignored(fixtures, tmp_path):
    dataset = _dataset(fixtures)

    def voc_boxes_as_kitti(name, boxes, labels):
        # voc labels 2..4 moved into kitti's slice 0..1
        return boxes, (labels - 2) % 2 if name == 'voc' else labels

    metrics = _evaluate(dataset, _samples(dataset, voc_boxes_as_kitti),
                        table_dir=str(tmp_path))
    assert _column(metrics, 'kitti') == [1.0, 1.0, 1.0]
    assert _column(metrics, 'voc') == [0.0, 0.0, 0.0]
    assert _column(metrics, 'mean') == [0.5, 0.5, 0.5]


def test_perfect_and_empty_predictions_average_to_half(fixtures, tmp_path):
    dataset = _dataset(fixtures)

    def drop_voc(name, boxes, labels):
        return (boxes[:0], labels[:0]) if name == 'voc' else (boxes, labels)

    metrics = _evaluate(dataset, _samples(dataset, drop_voc),
                        table_dir=str(tmp_path))
    assert _column(metrics, 'kitti') == [1.0, 1.0, 1.0]
    assert _column(metrics, 'voc') == [0.0, 0.0, 0.0]
    assert _column(metrics, 'mean') == [0.5, 0.5, 0.5]
    with open(tmp_path / 'per_dataset_ap.md') as handle:
        assert handle.read() == (
            '| metric | kitti | voc | mean |\n'
            '|--------|-------|-----|------|\n'
            '| AP     | 100.0 | 0.0 | 50.0 |\n'
            '| AP50   | 100.0 | 0.0 | 50.0 |\n'
            '| AP75   | 100.0 | 0.0 | 50.0 |\n')
    with open(tmp_path / 'per_dataset_ap.csv') as handle:
        assert handle.read().splitlines() == [
            'metric,kitti,voc,mean', 'AP,100.00,0.00,50.00',
            'AP50,100.00,0.00,50.00', 'AP75,100.00,0.00,50.00']


def test_dataset_without_ground_truth_is_left_out(fixtures, tmp_path):
    dataset = _dataset(fixtures, names=('kitti', 'blank', 'voc'))

    def drop_voc(name, boxes, labels):
        return (boxes[:0], labels[:0]) if name == 'voc' else (boxes, labels)

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        metrics = _evaluate(dataset, _samples(dataset, drop_voc),
                            table_dir=str(tmp_path))
    finally:
        logger.removeHandler(handler)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any("'blank' has no ground-truth box" in w for w in warnings)
    assert not any(key.startswith('blank/') for key in metrics)
    assert _column(metrics, 'mean') == [0.5, 0.5, 0.5]  # (1 + 0) / 2
    with open(tmp_path / 'per_dataset_ap.md') as handle:
        # columns in dataset-id (sorted name) order: blank, kitti, voc
        assert '| AP     | n/a   | 100.0 | 0.0 | 50.0 |' in handle.read()


def test_ground_truth_from_instances(fixtures, tmp_path):
    dataset = _dataset(fixtures)
    meta = dataset.metainfo
    meta['ann_files'] = {'kitti': None, 'voc': meta['ann_files']['voc']}
    metric = METRICS.build(
        dict(type='MultiDatasetCocoMetric', table_dir=str(tmp_path)))
    metric.dataset_meta = meta
    with pytest.raises(KeyError, match="add 'instances' to the meta_keys"):
        metric.process({}, _samples(dataset))
    metric.results.clear()
    metric.process({}, _samples(dataset, keep_instances=True))
    metrics = metric.evaluate(len(dataset))
    assert _column(metrics, 'kitti') == [1.0, 1.0, 1.0]
    assert _column(metrics, 'mean') == [1.0, 1.0, 1.0]


def test_unified_label_space_scores_shared_classes(fixtures, tmp_path):
    dataset = _dataset(fixtures, label_space='unified')
    assert dataset.metainfo['classes'] == ('car', 'person', 'dog', 'cat')
    metrics = _evaluate(dataset, _samples(dataset), table_dir=str(tmp_path))
    assert _column(metrics, 'mean') == [1.0, 1.0, 1.0]


def test_bad_configuration_and_inputs(fixtures):
    with pytest.raises(ValueError, match="use metric='bbox'"):
        METRICS.build(dict(type='MultiDatasetCocoMetric', metric='segm'))
    metric = METRICS.build(dict(type='MultiDatasetCocoMetric'))
    metric.dataset_meta = dict(classes=('a', ))
    with pytest.raises(ValueError, match="dict\\(type='MultiDataset'"):
        metric.process({}, [])
    dataset = _dataset(fixtures)
    metric.dataset_meta = dataset.metainfo
    sample = _samples(dataset)[0]
    with pytest.raises(KeyError, match="dataset 'lisa', which is not in the evaluated"):
        metric.process({}, [dict(sample, dataset_name='lisa')])
    del sample['dataset_name']
    with pytest.raises(KeyError, match="no 'dataset_name'.*type='MultiDataset'"):
        metric.process({}, [sample])


class GroundTruthAsPrediction(BaseModel):
    """Predicts every ground-truth box with score 1."""

    def forward(self, inputs, data_samples=None, mode='predict'):
        for sample in data_samples:
            gt = sample.gt_instances
            sample.pred_instances = InstanceData(
                bboxes=gt.bboxes.tensor, labels=gt.labels,
                scores=torch.ones(len(gt)))
        return data_samples


def test_stock_test_loop_writes_table_to_log_dir(fixtures, tmp_path):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs', meta_keys=META_KEYS),
    ]
    runner = Runner(
        model=GroundTruthAsPrediction(),
        work_dir=str(tmp_path),
        test_dataloader=dict(
            batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='MultiDataset', test_mode=True, pipeline=pipeline,
                datasets=dict(kitti=fixtures['kitti'].dataset_cfg(),
                              voc=fixtures['voc'].dataset_cfg()))),
        test_evaluator=dict(type='MultiDatasetCocoMetric'),
        test_cfg=dict(type='TestLoop'),
        default_scope='mmdet')
    metrics = runner.test()
    assert metrics['kitti/bbox_mAP'] == 1.0 and metrics['voc/bbox_mAP'] == 1.0
    assert metrics['mean/bbox_mAP'] == 1.0
    assert osp.isfile(osp.join(runner.log_dir, 'per_dataset_ap.md'))
    assert osp.isfile(osp.join(runner.log_dir, 'per_dataset_ap.csv'))


def test_drawn_evals_score_what_a_dataset_leaves_unannotated(tmp_path):
    """Benchmark v2: the signs drawn in street images, found by signs' classes, score 1.0."""
    import json

    from damex_mmdet.datasets.synthetic import generate_default_benchmark
    generate_default_benchmark(str(tmp_path), scale=0.05, progress=False, version=2)
    classes = dict(street=('pedestrian', 'cyclist', 'vehicle'),
                   signs=('warning', 'noturn', 'speedlimit', 'stop'),
                   kitchen=('bottle', 'can', 'box'))
    dataset = DATASETS.build(dict(type='MultiDataset', test_mode=True, datasets={
        name: dict(type='CocoDataset', data_root=str(tmp_path / name) + '/',
                   ann_file='annotations/test.json', data_prefix=dict(img='images/'),
                   metainfo=dict(classes=cls), test_mode=True)
        for name, cls in classes.items()}))
    meta = dataset.metainfo
    with open(tmp_path / 'street' / 'annotations' / 'test_drawn.json') as f:
        drawn = json.load(f)
    names = {c['id']: c['name'] for c in drawn['categories']}
    signs_label = dict(zip(classes['signs'], meta['dataset_label_maps']['signs']))

    def samples(with_signs):
        out = []
        for idx in range(len(dataset)):
            info = dataset.get_data_info(idx)
            boxes = [i['bbox'] for i in info['instances']]
            labels = [i['bbox_label'] for i in info['instances']]
            if with_signs and info['dataset_name'] == 'street':
                for ann in drawn['annotations']:
                    if ann['image_id'] == info['img_id'] and names[ann['category_id']] in \
                            signs_label:
                        x, y, w, h = ann['bbox']
                        boxes.append([x, y, x + w, y + h])
                        labels.append(signs_label[names[ann['category_id']]])
            out.append(dict(dataset_name=info['dataset_name'], img_id=info['img_id'],
                            ori_shape=(info['height'], info['width']), pred_instances=dict(
                                bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                                labels=torch.tensor(labels, dtype=torch.long),
                                scores=torch.ones(len(labels)))))
        return out

    evals = dict(street=['signs'])
    found = _evaluate(dataset, samples(True), drawn_evals=evals, table_dir=str(tmp_path))
    missed = _evaluate(dataset, samples(False), drawn_evals=evals, table_dir=str(tmp_path))
    assert found['drawn/street/signs/bbox_mAP'] == pytest.approx(1.0)
    assert missed['drawn/street/signs/bbox_mAP'] == 0.0
    # the own slices score as usual, and the drawn keys stay out of the mean
    assert found['street/bbox_mAP'] == pytest.approx(1.0)
    assert found['mean/bbox_mAP'] == missed['mean/bbox_mAP']
    with pytest.raises(ValueError, match=r'kitchen.*test_drawn.json, the record of every'):
        _evaluate(dataset, samples(False), drawn_evals=dict(kitchen=['signs']),
                  table_dir=str(tmp_path))
