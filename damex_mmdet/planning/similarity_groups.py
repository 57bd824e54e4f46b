"""Expert maps from dataset similarity: datasets that look alike share an expert.

Shapes: ``D`` datasets. Given a (D, D) similarity in [0, 1], average-linkage
agglomerative grouping merges the two most similar groups (the mean
similarity over their dataset pairs) while that mean is at least
``threshold``, and further while there are more groups than ``num_experts``
(when given). Each group becomes one expert, in the order of its first
dataset name. A router cannot tell look-alike datasets apart at inference,
so splitting them sends half of each one's tokens through an expert trained
on the other; grouping them avoids that.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ['SIMILARITY_THRESHOLD', 'SimilarityMap', 'group_similar_datasets']

# the built-in benchmark's same-road-style pair (street, signs) scores 0.94 with the
# image statistics of damex_mmdet.analysis.image_similarity, every other pair <= 0.79
SIMILARITY_THRESHOLD = 0.9


@dataclass(frozen=True)
class SimilarityMap:
    """A map planned from similarity, with the reason for every expert.

    Attributes:
        expert_map (dict): dataset name -> [expert].
        num_experts (int): experts the map uses (one per group).
        groups (list[tuple]): dataset names of every expert, in expert order.
        reasons (list[str]): one sentence per expert.
    """
    expert_map: Dict[str, List[int]]
    num_experts: int
    groups: List[Tuple[str, ...]]
    reasons: List[str]


def _mean(similarity: np.ndarray, a: List[int], b: List[int]) -> float:
    return float(similarity[np.ix_(a, b)].mean())


def group_similar_datasets(names: Sequence[str], similarity: np.ndarray,
                           threshold: float = SIMILARITY_THRESHOLD,
                           num_experts: Optional[int] = None) -> SimilarityMap:
    """Group datasets whose mean similarity is at least ``threshold``.

    Args:
        names (Sequence[str]): the D dataset names (rows of ``similarity``).
        similarity (np.ndarray): (D, D) symmetric, in [0, 1].
        threshold (float): the least mean similarity of two groups that merge.
        num_experts (int, optional): at most this many groups (the most
            similar ones merge further); None: as many as the threshold leaves.

    Returns:
        SimilarityMap: the map and the reasons.

    Raises:
        ValueError: a similarity of the wrong shape, or ``num_experts < 1``.
    """
    names = list(names)
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.shape != (len(names), len(names)):
        raise ValueError(f'similarity has shape {similarity.shape}; expected '
                         f'({len(names)}, {len(names)}) for datasets {names}.')
    if num_experts is not None and num_experts < 1:
        raise ValueError(f'num_experts must be >= 1, got {num_experts}.')
    groups = [[i] for i in range(len(names))]
    while len(groups) > 1:
        pairs = [(_mean(similarity, a, b), i, j) for i, a in enumerate(groups)
                 for j, b in enumerate(groups) if i < j]
        best, i, j = max(pairs)
        if best < threshold and (num_experts is None or len(groups) <= num_experts):
            break
        groups[i] = groups[i] + groups[j]
        del groups[j]
    groups = sorted((sorted(g, key=lambda k: names[k]) for g in groups),
                    key=lambda g: names[g[0]])
    expert_map, reasons, named = {}, [], []
    for expert, group in enumerate(groups):
        members = tuple(names[k] for k in group)
        named.append(members)
        for name in members:
            expert_map[name] = [expert]
        if len(group) > 1:
            within = _mean(similarity, group, group) if len(group) > 2 else \
                float(similarity[group[0], group[1]])
            reasons.append(f"expert {expert}: {', '.join(members)} share it (similarity "
                           f'{within:.2f}, threshold {threshold:.2f})')
        else:
            others = [k for k in range(len(names)) if k != group[0]]
            if others:
                nearest = max(others, key=lambda k: similarity[group[0], k])
                reasons.append(f'expert {expert}: {members[0]} alone (most similar: '
                               f'{names[nearest]}, {similarity[group[0], nearest]:.2f} < '
                               f'{threshold:.2f})')
            else:
                reasons.append(f'expert {expert}: {members[0]} alone')
    return SimilarityMap(expert_map, len(groups), named, reasons)
