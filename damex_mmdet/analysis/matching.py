"""Test-time foreground queries: matching queries Hungarian-matched to a ground-truth box.

Shape shorthand: ``B`` images, ``Q`` matching queries per image.

mmdet test pipelines load annotations *after* ``Resize`` (and flips), so the
packed ground-truth boxes stay in original image coordinates, as the COCO
metric wants them. The head's assigner, however, compares them with
predictions scaled to ``img_shape`` (the network input frame). Before matching,
boxes are therefore brought into that frame: scaled by ``scale_factor`` and
flipped like the image.
"""
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import BaseBoxes, bbox_flip, scale_boxes
from torch import Tensor

from damex_mmdet.models.foreground import matching_foreground_mask

__all__ = ['GT_FRAMES', 'gt_boxes_in_input_frame', 'matched_query_mask']

GT_FRAMES = ('original', 'input')


def gt_boxes_in_input_frame(data_sample: DetDataSample) -> Tensor:
    """Ground-truth boxes of a test sample mapped into the network input frame.

    Args:
        data_sample (DetDataSample): with ``gt_instances.bboxes`` (n, 4) xyxy
            in original image coordinates and ``scale_factor`` (w, h) in its
            metainfo (``flip`` / ``flip_direction`` when the image was flipped).

    Returns:
        Tensor: (n, 4) xyxy boxes in ``img_shape`` coordinates (a new tensor).

    Raises:
        ValueError: when ``scale_factor`` is missing from the metainfo.
    """
    meta = data_sample.metainfo
    if 'scale_factor' not in meta:
        raise ValueError("the test data samples have no 'scale_factor' in their metainfo; keep "
                         "'scale_factor' in the meta_keys of PackDetInputs.")
    boxes = data_sample.gt_instances.bboxes
    boxes = boxes.tensor if isinstance(boxes, BaseBoxes) else boxes
    boxes = scale_boxes(boxes.clone().float(), tuple(float(s) for s in meta['scale_factor']))
    if meta.get('flip', False):
        boxes = bbox_flip(boxes, meta['img_shape'], meta.get('flip_direction') or 'horizontal')
    return boxes


@torch.no_grad()
def matched_query_mask(bbox_head, head_inputs: dict, data_samples,
                       gt_frame: str = 'original') -> Tensor:
    """(B, Q) bool mask of queries matched to a ground-truth box, at test time.

    Args:
        bbox_head: the detector's DETR-family head (with ``assigner``).
        head_inputs (dict): the detector's ``forward_transformer`` output of
            the batch (``session.head_inputs`` of a recorded predict, see
            :class:`~damex_mmdet.moe.RoutingRecorder`).
        data_samples (list[DetDataSample]): the batch, with ``gt_instances``.
        gt_frame (str): ``'original'`` when ground truth is in original image
            coordinates (mmdet test pipelines: ``LoadAnnotations`` after
            ``Resize``), ``'input'`` when it was transformed with the image
            (training-style pipelines).

    Returns:
        Tensor: (B, Q) bool; every ground-truth box has exactly one matched
        query when ``Q`` is at least the number of boxes.
    """
    if gt_frame not in GT_FRAMES:
        raise ValueError(f'gt_frame={gt_frame!r}; use one of {GT_FRAMES}.')
    samples = []
    for sample in data_samples:
        if 'gt_instances' not in sample:
            raise ValueError(
                'a test sample has no gt_instances, so queries cannot be matched to ground '
                "truth: add dict(type='LoadAnnotations', with_bbox=True) to the test pipeline "
                'or collect without matching (match_gt=False).')
        if gt_frame == 'input':
            samples.append(sample)
            continue
        gt = sample.gt_instances.clone()
        gt.bboxes = gt_boxes_in_input_frame(sample)
        framed = DetDataSample(metainfo=sample.metainfo)
        framed.gt_instances = gt
        samples.append(framed)
    return matching_foreground_mask(bbox_head, head_inputs, samples)
