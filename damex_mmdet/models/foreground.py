"""Foreground queries: matching queries Hungarian-assigned to a ground-truth box.

Shape shorthand: ``L`` decoder layers, ``B`` images, ``T`` decoder tokens per
image (denoising queries first, then ``Q`` matching queries), ``C`` classes.

The balancing loss of vanilla MoE covers foreground tokens only (DAMEX §4).
The mask is rebuilt from the head's last-layer predictions with the head's
own assigner, exactly as the head's loss matches them; denoising queries are
never foreground.
"""
import inspect

import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.structures import InstanceData
from torch import Tensor

__all__ = ['num_denoising_queries', 'matching_foreground_mask']


def num_denoising_queries(head_inputs_dict: dict) -> int:
    """Number of denoising queries in front of the matching ones (0 if none)."""
    dn_meta = head_inputs_dict.get('dn_meta')
    return int(dn_meta['num_denoising_queries']) if dn_meta else 0


@torch.no_grad()
def matching_foreground_mask(bbox_head, head_inputs_dict: dict, batch_data_samples) -> Tensor:
    """Boolean (B, Q) mask of matching queries assigned to a ground-truth box.

    Args:
        bbox_head: an mmdet DETR-family head with ``forward`` and ``assigner``.
        head_inputs_dict (dict): the detector's ``forward_transformer`` output
            (``hidden_states`` (L, B, T, D), and ``references`` for heads that
            take them, ``dn_meta`` for DINO).
        batch_data_samples (list[DetDataSample]): with ``gt_instances``.

    Returns:
        Tensor: (B, Q) bool on the device of the hidden states.
    """
    accepted = inspect.signature(bbox_head.forward).parameters
    inputs = {k: v for k, v in head_inputs_dict.items() if k in accepted}
    cls_scores, bbox_preds = bbox_head.forward(**inputs)
    num_dn = num_denoising_queries(head_inputs_dict)
    cls_scores = cls_scores[-1][:, num_dn:]
    bbox_preds = bbox_preds[-1][:, num_dn:]
    mask = torch.zeros(cls_scores.shape[:2], dtype=torch.bool, device=cls_scores.device)
    for i, data_sample in enumerate(batch_data_samples):
        gt_instances = data_sample.gt_instances
        if len(gt_instances) == 0:
            continue
        img_h, img_w = data_sample.metainfo['img_shape']
        factor = bbox_preds.new_tensor([img_w, img_h, img_w, img_h])
        pred = InstanceData(
            scores=cls_scores[i], bboxes=bbox_cxcywh_to_xyxy(bbox_preds[i]) * factor)
        assigned = bbox_head.assigner.assign(
            pred_instances=pred, gt_instances=gt_instances, img_meta=data_sample.metainfo)
        mask[i] = assigned.gt_inds > 0
    return mask
