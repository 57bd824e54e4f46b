"""Token groups: which decoder tokens may be mixed with each other.

Shape shorthand: ``T`` tokens of one sequence, ``G`` groups.

A DETR decoder's self-attention mask says which queries may not see which.
Layers that mix tokens (Soft MoE's slots) must never combine two tokens
that the mask keeps apart, or information crosses it (in DINO: noised ground
truth of the denoising queries into the matching queries). The groups are
the classes of *mutual* visibility of the mask; they exist only when
mutual visibility partitions the tokens (a block-structured mask, as
DINO's ``dn_mask``: one block per denoising group, one for the matching
queries).
"""
import torch
from torch import Tensor

__all__ = ['groups_from_attention_mask']


def groups_from_attention_mask(mask: Tensor) -> Tensor:
    """Token groups of mutual visibility from a (T, T) boolean attention mask.

    Args:
        mask (Tensor): (T, T) bool, True where query i may *not* attend to key
            j (mmdet's convention for ``self_attn_mask`` / DINO's ``dn_mask``).

    Returns:
        Tensor: (T,) long group ids ``0..G-1`` in order of first appearance.

    Raises:
        ValueError: mutual visibility is not a partition of the tokens (the
            mask is not block-structured), so no grouping is leak-free.
    """
    if mask.dim() != 2 or mask.shape[0] != mask.shape[1]:
        raise ValueError(f'expected a (T, T) attention mask, got shape {tuple(mask.shape)}.')
    visible = ~mask.bool()
    mutual = visible & visible.t()
    mutual.fill_diagonal_(True)
    first = mutual.int().argmax(1)  # smallest token each token mutually sees
    same = first[:, None] == first[None, :]
    if not torch.equal(same, mutual):
        raise ValueError('the attention mask is not block-structured: mutual visibility does '
                         'not split the tokens into groups, so a layer that mixes tokens (Soft '
                         'MoE) cannot mix them without letting information cross the mask; use '
                         'a routing that treats tokens one by one with this decoder.')
    _, groups = torch.unique(first, sorted=True, return_inverse=True)
    return groups
