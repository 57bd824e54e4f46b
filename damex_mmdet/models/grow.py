"""Grow a trained detector's weights into a larger one: more classes, one more expert.

Shapes: ``K`` old classes, ``K'`` > ``K`` classes after growing, ``E`` old
experts, ``E'`` experts after growing, ``D`` model dim, ``H`` expert width.

:func:`grow_state_dict` maps the checkpoint of a trained detector onto the
state of a detector built for the grown label space (new classes appended at
the end) and expert count (new experts appended at the end), tensor by
tensor:

- the same shape: the trained tensor, bit for bit;
- a tensor that grows along its first axis only, with the rest of its shape
  unchanged (class rows of every classification branch (K', D) / (K',), the
  denoising label embedding (K', D), the router's gate (E', D), the experts'
  (E', ...) tensors): the trained rows first, bit for bit, then the grown
  model's own initialisation for the new rows; an expert tensor's new rows
  are instead a copy of expert ``copy_expert`` (the expert whose datasets
  are most like the new one);
- anything else (a key only on one side, another change of shape) stops with
  a message naming the key: nothing is loaded half.
"""
import re
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

__all__ = ['grow_state_dict', 'shut_class_rows', 'EXPERT_TENSOR']

# the experts' stacked tensors of an MoE layer (grouped experts: (E, ...))
EXPERT_TENSOR = re.compile(r'(^|\.)experts\.(w1|b1|w2|b2)$')


def grow_state_dict(trained: Mapping[str, Tensor], grown: Mapping[str, Tensor],
                    copy_expert: Optional[int] = None
                    ) -> Tuple[Dict[str, Tensor], Dict[str, List[str]]]:
    """The grown model's state with every trained value kept (see the module docstring).

    Args:
        trained (Mapping[str, Tensor]): the trained detector's state dict.
        grown (Mapping[str, Tensor]): the state dict of the detector built for
            the grown label space / expert count (its initialisation gives the
            new class rows and router rows).
        copy_expert (int, optional): the trained expert every new expert starts
            as; required when experts are added.

    Returns:
        tuple: the state dict to load (strictly) into the grown model, and
        ``{'kept': [...], 'grown': [...]}`` key lists.

    Raises:
        ValueError: keys on one side only, a shape that does not grow by
            appending rows, or experts added without ``copy_expert`` (or
            with one out of range).
    """
    only_trained = sorted(set(trained) - set(grown))
    only_grown = sorted(set(grown) - set(trained))
    if only_trained or only_grown:
        raise ValueError(f'the trained and the grown model differ in more than sizes: keys only '
                         f'in the checkpoint {only_trained[:5]}, only in the grown model '
                         f'{only_grown[:5]}; build the grown model from the same config with '
                         'more classes / experts.')
    state, report = {}, dict(kept=[], grown=[])
    for key, template in grown.items():
        old = trained[key]
        if tuple(old.shape) == tuple(template.shape):
            state[key] = old.detach().clone()
            report['kept'].append(key)
            continue
        if old.dim() != template.dim() or old.dim() == 0 or \
                tuple(old.shape[1:]) != tuple(template.shape[1:]) or \
                old.shape[0] > template.shape[0]:
            raise ValueError(f'{key}: shape {tuple(old.shape)} in the checkpoint, '
                             f'{tuple(template.shape)} in the grown model; growing appends rows '
                             'along the first axis only (classes, experts, router rows).')
        value = template.detach().clone()
        rows = old.shape[0]
        with torch.no_grad():
            value[:rows] = old
            if EXPERT_TENSOR.search(key):
                if copy_expert is None or not 0 <= copy_expert < rows:
                    raise ValueError(f'{key}: {template.shape[0] - rows} new expert(s) need '
                                     f'copy_expert in [0, {rows}), got {copy_expert!r}.')
                value[rows:] = old[copy_expert]
        state[key] = value
        report['grown'].append(key)
    return state, report


@torch.no_grad()
def shut_class_rows(model: torch.nn.Module, first_row: int) -> int:
    """Give classes ``first_row`` and up the score -inf in every classification branch.

    What a grown detector predicts with the new classes out of the competition: DINO's
    two-stage query selection (the encoder's branch) and its final top-k over every
    class then see only the old classes. Measures the second way a dataset added in
    frozen mode can move the old datasets' results.

    Args:
        model (nn.Module): a DETR-family detector (``bbox_head.cls_branches``).
        first_row (int): the first class to shut.

    Returns:
        int: how many branches were changed.

    Raises:
        ValueError: no classification branch, or ``first_row`` out of range.
    """
    branches = getattr(getattr(model, 'bbox_head', None), 'cls_branches', None)
    if not branches:
        raise ValueError(f'{type(model).__name__} has no bbox_head.cls_branches to shut.')
    for branch in branches:
        if not 0 < first_row < branch.bias.shape[0]:
            raise ValueError(f'first_row={first_row}: the branches have {branch.bias.shape[0]} '
                             'classes; shut at least one and keep at least one.')
        branch.bias[first_row:] = float('-inf')
    return len(branches)
