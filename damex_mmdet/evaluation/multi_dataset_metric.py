"""COCO box AP of each source dataset of a ``MultiDataset``.

Predictions are dataset-agnostic: the detector scores the whole combined
label space. Each test image is scored only against its own dataset, named
by ``data_sample['dataset_name']`` (``MultiDataset`` stamps it on every
sample it serves). A prediction whose label lies outside
that dataset's classes is ignored for it; the other labels are mapped back to
the dataset's own categories and evaluated with the official COCO protocol
(pycocotools, IoU 0.50:0.95, 100 detections per image).

Ground truth, per dataset:

- its COCO json annotation file (``metainfo['ann_files'][name]``, filled by
  ``MultiDataset`` from the sub-dataset's ``ann_file``): the same source as
  mmdet's ``CocoMetric``, with ``iscrowd`` and areas as in the file;
- otherwise, when the dataset has no ``.json`` annotation file (e.g. an
  XML-based sub-dataset), the ``instances`` of the data samples (add
  ``'instances'`` to ``meta_keys``); their boxes are in original image
  coordinates and ``ignore_flag`` becomes ``iscrowd``.

A dataset without any ground-truth box among its evaluated images has no AP:
a warning is logged, its keys are left out and it does not enter the mean
(its table column shows ``n/a``).

``drawn_evals`` scores what a dataset's annotations leave out. Benchmark v2
records every drawn object of such a dataset in ``<split>_drawn.json`` next
to its annotation file. ``drawn_evals=dict(street=['signs'])`` also scores
the predictions of ``signs``' classes on ``street``'s images against that
record: does the detector find the signs that ``street`` never annotates?
Keys ``drawn/<images>/<classes>/bbox_mAP`` (and ``_50``); they do not enter
the mean.
"""
import contextlib
import io
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger

from mmdet.datasets.api_wrappers import COCO, COCOeval
from mmdet.registry import METRICS
from .results_table import (METRIC_ROWS, ap_table_rows, format_markdown_table,
                            write_ap_tables)

__all__ = ['MultiDatasetCocoMetric']

_REQUIRED_META = ('dataset_names', 'dataset_classes', 'dataset_label_maps')


def _quiet(func, *args):
    """Call a pycocotools function and return (result, what it printed)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        result = func(*args)
    return result, buffer.getvalue()


@METRICS.register_module()
class MultiDatasetCocoMetric(BaseMetric):
    """Per-dataset COCO box AP and its mean over datasets.

    Reports ``<name>/bbox_mAP``, ``<name>/bbox_mAP_50``,
    ``<name>/bbox_mAP_75`` for every dataset with ground truth and
    ``mean/bbox_mAP*`` (unweighted mean over those datasets), logs a markdown
    table (metrics x datasets, then ``mean``) and writes it as
    ``per_dataset_ap.md`` / ``per_dataset_ap.csv``.

    Args:
        metric (str | Sequence[str]): Only ``'bbox'`` is supported.
        table_dir (str, optional): Folder for the table files. None uses the
            folder of the current MMLogger's log file (the runner's log dir);
            without one the files are not written (logged). Defaults to None.
        collect_device (str): Device used to collect results across ranks.
        prefix (str, optional): Prefix added to every key. Defaults to None
            (no prefix: keys read ``kitti/bbox_mAP``).
        backend_args (dict, optional): File backend arguments for reading the
            annotation files.
        drawn_evals (dict, optional): ``images dataset -> [classes dataset,
            ...]`` scored against the images dataset's ``<split>_drawn.json``
            (see the module docstring). Defaults to None.
    """

    # Empty, not None: keys stay ``<name>/bbox_mAP`` and BaseMetric does not
    # warn about a missing prefix.
    default_prefix: Optional[str] = ''

    def __init__(self,
                 metric='bbox',
                 table_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 backend_args: Optional[dict] = None,
                 drawn_evals: Optional[Dict[str, Sequence[str]]] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        metrics = [metric] if isinstance(metric, str) else list(metric)
        if metrics != ['bbox']:
            raise ValueError('MultiDatasetCocoMetric only evaluates boxes; '
                             f"use metric='bbox' (got {metric!r}).")
        self.table_dir = table_dir
        self.backend_args = backend_args
        self.drawn_evals = {str(k): [str(c) for c in v] for k, v in (drawn_evals or {}).items()}
        self._coco_gts: Dict[str, COCO] = {}

    def _meta(self) -> dict:
        """The ``MultiDataset`` metainfo, checked."""
        meta = self.dataset_meta or {}
        missing = [key for key in _REQUIRED_META if key not in meta]
        if missing:
            raise ValueError(
                f'MultiDatasetCocoMetric needs dataset_meta keys {missing}; '
                "evaluate a dict(type='MultiDataset', ...) dataset (the "
                'runner copies its metainfo into the evaluator).')
        return meta

    def _json_ann_file(self, name: str) -> Optional[str]:
        """The dataset's COCO json annotation file, if it has one."""
        ann_file = (self._meta().get('ann_files') or {}).get(name)
        return ann_file if ann_file and ann_file.endswith('.json') else None

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each sample's predictions (and ground truth when needed).

        Args:
            data_batch (dict): Unused.
            data_samples (Sequence[dict]): Samples with ``dataset_name``,
                ``img_id``, ``ori_shape`` and ``pred_instances`` (``bboxes``
                (N, 4) xyxy in original image pixels, ``scores`` (N, ),
                ``labels`` (N, ) in the combined label space).
        """
        names = self._meta()['dataset_names']
        for sample in data_samples:
            if 'dataset_name' not in sample:
                raise KeyError(
                    'MultiDatasetCocoMetric: a data sample has no '
                    "'dataset_name': evaluate a dataset of type='MultiDataset', which "
                    'stamps dataset_name on every sample it serves.')
            name = str(sample['dataset_name'])
            if name not in names:
                raise KeyError(f"MultiDatasetCocoMetric: a sample of dataset {name!r}, which "
                               f'is not in the evaluated mixture {names}.')
            pred = sample['pred_instances']
            result = dict(
                dataset_name=name,
                img_id=sample['img_id'],
                height=int(sample['ori_shape'][0]),
                width=int(sample['ori_shape'][1]),
                bboxes=pred['bboxes'].cpu().numpy().reshape(-1, 4),
                scores=pred['scores'].cpu().numpy().reshape(-1),
                labels=pred['labels'].cpu().numpy().reshape(-1))
            if self._json_ann_file(name) is None:
                if 'instances' not in sample:
                    raise KeyError(
                        f'MultiDatasetCocoMetric: dataset {name!r} has no '
                        'COCO json annotation file, so ground truth must come '
                        "from the samples: add 'instances' to the meta_keys "
                        'of PackDetInputs in its test pipeline.')
                result['instances'] = sample['instances']
            self.results.append(result)

    def _ground_truth(self, name: str, results: List[dict]):
        """COCO ground truth of one dataset and its category ids.

        Returns:
            tuple[COCO, list[int]]: The COCO api and the category id of each
            local label (class order of the dataset).
        """
        classes = self._meta()['dataset_classes'][name]
        ann_file = self._json_ann_file(name)
        if ann_file is None:
            return self._coco_from_instances(name, results), list(
                range(1, len(classes) + 1))
        if name not in self._coco_gts:
            with get_local_path(
                    ann_file, backend_args=self.backend_args) as local_path:
                self._coco_gts[name], _ = _quiet(COCO, local_path)
        coco = self._coco_gts[name]
        ids_by_name = {cat['name']: cat['id'] for cat in coco.dataset['categories']}
        missing = [cls for cls in classes if cls not in ids_by_name]
        if missing:
            raise ValueError(
                f'MultiDatasetCocoMetric: classes {missing} of dataset '
                f'{name!r} are not categories of {ann_file}.')
        return coco, [ids_by_name[cls] for cls in classes]

    def _coco_from_instances(self, name: str, results: List[dict]) -> COCO:
        """Build a COCO api from the ``instances`` kept by :meth:`process`."""
        label_map = self._meta()['dataset_label_maps'][name]
        local_of = {label: local for local, label in enumerate(label_map)}
        images, annotations = [], []
        for result in results:
            images.append(dict(id=result['img_id'], width=result['width'],
                               height=result['height']))
            for inst in result['instances']:
                x1, y1, x2, y2 = (float(v) for v in inst['bbox'])
                annotations.append(
                    dict(id=len(annotations) + 1, image_id=result['img_id'],
                         category_id=local_of[int(inst['bbox_label'])] + 1,
                         bbox=[x1, y1, x2 - x1, y2 - y1],
                         area=(x2 - x1) * (y2 - y1),
                         iscrowd=int(inst.get('ignore_flag', 0))))
        classes = self._meta()['dataset_classes'][name]
        coco = COCO()
        coco.dataset = dict(
            images=images, annotations=annotations,
            categories=[dict(id=i + 1, name=c) for i, c in enumerate(classes)])
        _quiet(coco.createIndex)
        return coco

    def _evaluate_dataset(self, name: str,
                          results: List[dict]) -> Optional[List[float]]:
        """AP, AP50 and AP75 of one dataset; None when it has no ground truth."""
        coco_gt, cat_ids = self._ground_truth(name, results)
        return self._evaluate(coco_gt, cat_ids, self._meta()['dataset_label_maps'][name],
                              results, repr(name))

    def _evaluate_drawn(self, images: str, classes: str,
                        results: List[dict]) -> Optional[List[float]]:
        """AP of ``classes``' labels on ``images``' images against every drawn object."""
        meta = self._meta()
        for name in (images, classes):
            if name not in meta['dataset_names']:
                raise ValueError(f'MultiDatasetCocoMetric: drawn_evals names {name!r}, which '
                                 f'is not in the evaluated mixture {meta["dataset_names"]}.')
        ann_file = self._json_ann_file(images)
        drawn = ann_file[:-len('.json')] + '_drawn.json' if ann_file else None
        if drawn is None or not osp.exists(drawn):
            raise ValueError(f'MultiDatasetCocoMetric: drawn_evals[{images!r}] needs {drawn}, '
                             'the record of every drawn object (benchmark v2 writes it for a '
                             'dataset that leaves objects unannotated).')
        key = f'drawn:{images}'
        if key not in self._coco_gts:
            self._coco_gts[key], _ = _quiet(COCO, drawn)
        coco = self._coco_gts[key]
        ids_by_name = {cat['name']: cat['id'] for cat in coco.dataset['categories']}
        wanted = meta['dataset_classes'][classes]
        missing = [cls for cls in wanted if cls not in ids_by_name]
        if missing:
            raise ValueError(f'MultiDatasetCocoMetric: classes {missing} of {classes!r} are '
                             f'not categories of {drawn}.')
        return self._evaluate(coco, [ids_by_name[c] for c in wanted],
                              meta['dataset_label_maps'][classes], results,
                              f'{classes!r} on the drawn objects of {images!r}')

    def _evaluate(self, coco_gt, cat_ids: List[int], label_map: Sequence[int],
                  results: List[dict], what: str) -> Optional[List[float]]:
        """COCO AP, AP50, AP75 of the predictions whose labels are in ``label_map``."""
        img_ids = [result['img_id'] for result in results]
        if not coco_gt.getAnnIds(imgIds=img_ids, catIds=cat_ids,
                                 iscrowd=False):
            return None
        cat_of = dict(zip(label_map, cat_ids))
        detections = []
        for result in results:
            for box, score, label in zip(result['bboxes'], result['scores'],
                                         result['labels']):
                if int(label) not in cat_of:
                    continue
                x1, y1, x2, y2 = (float(v) for v in box)
                detections.append(
                    dict(image_id=result['img_id'],
                         category_id=cat_of[int(label)],
                         bbox=[x1, y1, x2 - x1, y2 - y1], score=float(score)))
        if not detections:
            return [0.0] * len(METRIC_ROWS)
        coco_dt, _ = _quiet(coco_gt.loadRes, detections)
        evaluator = COCOeval(coco_gt, coco_dt, 'bbox')
        evaluator.params.imgIds = img_ids
        evaluator.params.catIds = cat_ids
        _quiet(evaluator.evaluate)
        _quiet(evaluator.accumulate)
        _, summary = _quiet(evaluator.summarize)
        MMLogger.get_current_instance().info(
            f'COCO box evaluation of {what}:\n{summary}')
        return [float(v) for v in evaluator.stats[:len(METRIC_ROWS)]]

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Per-dataset and mean AP from all processed samples.

        Returns:
            dict[str, float]: ``<name>/bbox_mAP``, ``<name>/bbox_mAP_50``,
            ``<name>/bbox_mAP_75`` and the same for ``mean``, in [0, 1].
        """
        logger = MMLogger.get_current_instance()
        names = self._meta()['dataset_names']
        grouped = OrderedDict((name, OrderedDict()) for name in names)
        for result in results:  # keep one result per image (drop padding)
            grouped[result['dataset_name']].setdefault(
                result['img_id'], result)

        metrics: Dict[str, float] = OrderedDict()
        scored = []
        for name, by_image in grouped.items():
            if not by_image:
                logger.warning(f'MultiDatasetCocoMetric: no test image of '
                               f'dataset {name!r} was evaluated.')
                continue
            values = self._evaluate_dataset(name, list(by_image.values()))
            if values is None:
                logger.warning(
                    f'MultiDatasetCocoMetric: dataset {name!r} has no '
                    'ground-truth box in its evaluated images; it gets no AP '
                    'and is left out of the mean.')
                continue
            scored.append(values)
            for (key, _), value in zip(METRIC_ROWS, values):
                metrics[f'{name}/{key}'] = round(value, 4)
        if scored:
            for (key, _), value in zip(METRIC_ROWS, np.mean(scored, axis=0)):
                metrics[f'mean/{key}'] = round(float(value), 4)
        self._report(metrics, [*names, 'mean'])
        for images, class_sets in self.drawn_evals.items():
            for classes in class_sets:
                values = self._evaluate_drawn(images, classes,
                                              list(grouped.get(images, {}).values()))
                for (key, _), value in zip(METRIC_ROWS, values or []):
                    metrics[f'drawn/{images}/{classes}/{key}'] = round(value, 4)
        return dict(metrics)

    def _report(self, metrics: Dict[str, float], columns: List[str]) -> None:
        """Log the markdown table and write the table files."""
        logger = MMLogger.get_current_instance()
        table = format_markdown_table(ap_table_rows(metrics, columns))
        logger.info(f'Per-dataset box AP (%):\n{table}')
        table_dir = self.table_dir
        if table_dir is None and getattr(logger, 'log_file', None):
            table_dir = osp.dirname(logger.log_file)
        if table_dir is None:
            logger.info('MultiDatasetCocoMetric: no table_dir and no log '
                        'file, per_dataset_ap.{md,csv} not written.')
            return
        paths = write_ap_tables(metrics, columns, table_dir)
        logger.info(f'Per-dataset AP tables written to {paths["md"]} and '
                    f'{paths["csv"]}.')
