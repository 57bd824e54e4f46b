"""Collect routing statistics of an MoE detector over a dataloader.

Shape shorthand: ``B`` images, ``T`` tokens per image, ``N = B * T``,
``Q`` matching queries per image, ``E`` experts.

:func:`collect_routing` runs ``model.predict`` (through ``test_step``) with a
:class:`~damex_mmdet.moe.RoutingRecorder` attached; every batch's routing
session gives one :class:`~damex_mmdet.moe.RoutingRecord` per MoE layer call
and the detector's head inputs (for the query-to-ground-truth matching). The source dataset
of each image is read from ``data_sample.metainfo['dataset_name']`` for the
*analysis only*: the model never sees it at inference.
"""
import logging
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.utils import ProgressBar
from torch import Tensor

from damex_mmdet.moe import RoutingRecorder
from .matching import matched_query_mask
from .routing_stats import RoutingStats

__all__ = ['RoutingAccumulator', 'collect_routing', 'image_dataset_names']


def image_dataset_names(data_samples, dataset_names: Optional[Sequence[str]] = None) -> List[str]:
    """Source dataset name of every image of a batch.

    Uses ``metainfo['dataset_name']`` (``MultiDataset`` stamps it).

    Args:
        data_samples (list[DetDataSample]): the batch's samples.
        dataset_names (Sequence[str], optional): the mixture's names; when
            given, a name outside them is refused.

    Raises:
        ValueError: a sample without ``dataset_name`` or of another mixture
            (naming the fix).
    """
    names = []
    for sample in data_samples:
        name = sample.metainfo.get('dataset_name')
        if name is None:
            raise ValueError(
                "a test sample has no 'dataset_name' in its metainfo, so its source dataset "
                "is unknown: evaluate a dataset of type='MultiDataset', which stamps it on "
                'every sample it serves.')
        if dataset_names is not None and name not in dataset_names:
            raise ValueError(f'a test sample of dataset {name!r}, which is not one of the '
                             f'mixture {list(dataset_names)}.')
        names.append(str(name))
    return names


class RoutingAccumulator:
    """Sum routing records per (layer, dataset, expert).

    Args:
        num_experts (int): ``E``.
        dataset_names (Sequence[str], optional): allowed datasets in row
            order; None accepts any, ordered by first appearance.
        expert_map (dict, optional): ``{dataset: [expert ids]}``, stored in
            the result for router accuracy.
    """

    def __init__(self, num_experts: int, dataset_names: Optional[Sequence[str]] = None,
                 expert_map: Optional[Dict[str, List[int]]] = None):
        self.num_experts = num_experts
        self.fixed_names = dataset_names is not None
        self.dataset_names = list(dataset_names or [])
        self.expert_map = expert_map
        self.layers: List[str] = []
        self._sums: Dict[str, Dict[str, Tensor]] = {}
        self._num_images: Dict[str, int] = {name: 0 for name in self.dataset_names}
        self._warned = set()

    def _dataset_rows(self, names: Sequence[str]) -> Tensor:
        for name in names:
            if name not in self._num_images:
                if self.fixed_names:
                    raise ValueError(f'an image of dataset {name!r} was routed but the '
                                     f'analysis covers datasets {self.dataset_names}; add it '
                                     'to dataset_names.')
                self.dataset_names.append(name)
                self._num_images[name] = 0
        return torch.tensor([self.dataset_names.index(n) for n in names], dtype=torch.long)

    def _layer_sums(self, layer: str) -> Dict[str, Tensor]:
        if layer not in self._sums:
            self.layers.append(layer)
            self._sums[layer] = {}
        return self._sums[layer]

    @torch.no_grad()
    def add(self, records, names: Sequence[str], matched: Optional[Tensor] = None) -> None:
        """Add one batch.

        Args:
            records (list[RoutingRecord]): the batch's records (batch-first
                tokens, ``batch_shape = (B, T)``).
            names (Sequence[str]): (B,) source dataset of each image.
            matched (Tensor, optional): (B, Q) bool queries matched to a
                ground-truth box; applied to layers whose ``T == Q`` (decoder
                layers), ignored for others (their matched counts stay 0).
        """
        for record in records:
            if record.batch_shape[0] != len(names):
                raise ValueError(f'the routing record of {record.name} covers '
                                 f'{record.batch_shape[0]} images but the batch has {len(names)}.')
        rows = self._dataset_rows(names)
        for name in names:
            self._num_images[name] += 1
        num_rows = len(self.dataset_names)
        for record in records:
            batch, tokens = record.batch_shape
            probs = record.plan.probs.detach().float().reshape(batch, tokens, -1).cpu()
            top1 = F.one_hot(record.plan.expert_index[:, 0].reshape(batch, tokens).cpu(),
                             self.num_experts).float()
            if matched is not None and matched.shape[1] == tokens:
                mask = matched.to(device='cpu', dtype=torch.float32)[..., None]
            else:
                mask = torch.zeros(batch, tokens, 1)
                if matched is not None and record.name not in self._warned:
                    self._warned.add(record.name)
                    print_log(f'{record.name} routes {tokens} tokens per image, not the '
                              f'{matched.shape[1]} matching queries: it gets no matched-token '
                              'statistics.', logger='current', level=logging.WARNING)
            per_image = dict(
                weight_sum=(probs * mask).sum(1),
                matched_count=mask.sum((1, 2)),
                top1_count_all=top1.sum(1),
                top1_count_matched=(top1 * mask).sum(1),
                weight_sum_all=probs.sum(1),
                token_count=torch.full((batch, ), float(tokens)))
            per_image = {key: value.double() for key, value in per_image.items()}
            sums = self._layer_sums(record.name)
            for key, value in per_image.items():
                total = sums.get(key)
                if total is None or total.shape[0] < num_rows:
                    grown = value.new_zeros((num_rows, ) + value.shape[1:])
                    if total is not None:
                        grown[:total.shape[0]] = total
                    total = grown
                sums[key] = total.index_add_(0, rows, value)

    def result(self) -> RoutingStats:
        """The :class:`RoutingStats` of everything added so far."""
        if not self.layers:
            raise ValueError('no routing record was collected: the model ran no MoE layer '
                             '(is it an MoE detector, and was the dataloader empty?).')
        num_rows = len(self.dataset_names)
        arrays = {}
        for key in ('weight_sum', 'matched_count', 'top1_count_all', 'top1_count_matched',
                    'weight_sum_all', 'token_count'):
            stacked = []
            for layer in self.layers:
                value = self._sums[layer][key].double().numpy()
                padded = np.zeros((num_rows, ) + value.shape[1:])
                padded[:value.shape[0]] = value
                stacked.append(padded)
            arrays[key] = np.stack(stacked)
        arrays['num_images'] = np.array([self._num_images[n] for n in self.dataset_names], float)
        return RoutingStats(list(self.layers), list(self.dataset_names), self.num_experts,
                            expert_map=self.expert_map, **arrays)


def _unwrap(model):
    model = model.module if is_model_wrapper(model) else model
    if not hasattr(model, 'moe_layers') or not hasattr(model, 'moe_summary'):
        raise TypeError(f'collect_routing needs an MoE detector (DAMEXDINO, MoEDetector, ...), '
                        f'got {type(model).__name__}.')
    if not model.moe_layers:
        raise ValueError(f'{type(model).__name__} has no MoE layer to analyse.')
    return model


def collect_routing(model, dataloader, dataset_names: Optional[Sequence[str]] = None,
                    progress: bool = True, match_gt: bool = True,
                    gt_frame: str = 'original') -> RoutingStats:
    """Run an MoE detector over a dataloader and sum its routing decisions.

    Args:
        model (nn.Module): an MoE detector (``MoEDetectorMixin``), possibly
            wrapped; it is put in eval mode and restored afterwards.
        dataloader (Iterable): yields mmdet data batches (``inputs``,
            ``data_samples`` with ``dataset_name`` and ``gt_instances``).
        dataset_names (Sequence[str], optional): rows of the result; defaults
            to ``dataloader.dataset.metainfo['dataset_names']`` (MultiDataset),
            else datasets in order of appearance.
        progress (bool): show an mmengine progress bar (one tick per batch).
        match_gt (bool): match queries to ground truth (needed for the
            matched-token statistics of the paper's Figure 3).
        gt_frame (str): coordinates of the packed ground truth, see
            :func:`~damex_mmdet.analysis.matching.matched_query_mask`.

    Returns:
        RoutingStats: sums and counts per (MoE layer, dataset, expert).
    """
    detector = _unwrap(model)
    if dataset_names is None:
        meta = getattr(getattr(dataloader, 'dataset', None), 'metainfo', None) or {}
        dataset_names = meta.get('dataset_names')
    expert_map = detector.expert_map.to_dict() if detector.expert_map is not None else None
    # columns of the plans: the experts, and MoE++'s zero-computation experts after them
    num_experts = next(iter(detector.moe_layers.values())).num_routes
    accumulator = RoutingAccumulator(num_experts, dataset_names, expert_map)
    bar = None
    if progress and hasattr(dataloader, '__len__'):
        bar = ProgressBar(len(dataloader), file=sys.stdout)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), RoutingRecorder() as recorder:
            for data in dataloader:
                samples = model.test_step(data)
                (session, ) = recorder.pop()
                names = image_dataset_names(samples, dataset_names)
                matched = None
                if match_gt:
                    matched = matched_query_mask(detector.bbox_head, session.head_inputs,
                                                 samples, gt_frame)
                accumulator.add(session.records, names, matched)
                if bar is not None:
                    bar.update()
    finally:
        model.train(was_training)
    if bar is not None:
        bar.file.write('\n')
    stats = accumulator.result()
    # layers with matched tokens (decoder layers) where a dataset has none
    empty = [(layer, name) for layer_idx, layer in enumerate(stats.layers)
             if stats.matched_count[layer_idx].sum() > 0
             for d, name in enumerate(stats.dataset_names)
             if stats.matched_count[layer_idx, d] == 0]
    if empty:
        print_log(f'no matched token for (layer, dataset) {empty}: their utilization is n/a '
                  '(datasets without ground-truth boxes among the images?).',
                  logger='current', level=logging.WARNING)
    return stats
