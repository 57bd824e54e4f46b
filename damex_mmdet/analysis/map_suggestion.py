"""A map suggested from what the router confuses at inference.

Shapes: ``L`` MoE layers, ``D`` datasets, ``E`` experts.

From :class:`~damex_mmdet.analysis.routing_stats.RoutingStats` (where the
router sends each dataset's tokens at inference, never told the dataset),
the confusion of dataset ``i`` with ``j`` is the share of ``i``'s tokens
whose top-1 expert is ``j``'s mapped expert, averaged over the MoE layers.
Two datasets on different experts are *mutually confused* when each sends at
least ``threshold`` of its tokens to the other's expert: the router cannot
tell them apart, so each one's images are half served by an expert trained
on the other. Mutually confused datasets are merged onto one expert (with
everything they are merged with already); the suggested map numbers the
resulting groups 0.. in the order of their first dataset name.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

__all__ = ['CONFUSION_THRESHOLD', 'MapSuggestion', 'confusion_matrix', 'confusion_from_csv',
           'most_confused_pair', 'suggest_map', 'write_suggestion']

# a router that cannot separate two datasets sends each about half of its tokens to the
# other's expert (0.44-0.52 on the look-alike photo sets of issue #30); a router that
# separates them sends a few percent; 1 / E is chance for an untrained router
CONFUSION_THRESHOLD = 0.3


@dataclass(frozen=True)
class MapSuggestion:
    """The suggested map and why.

    Attributes:
        expert_map (dict): dataset -> [expert] (one expert per group).
        num_experts (int): groups.
        merged (list[tuple]): ``(dataset a, dataset b, confusion a->b, confusion b->a)``
            of every mutually confused pair.
        confusion (np.ndarray): (D, D) confusion, row dataset -> column dataset's expert.
        dataset_names (list[str]): row/column order.
    """
    expert_map: Dict[str, List[int]]
    num_experts: int
    merged: List[Tuple[str, str, float, float]]
    confusion: np.ndarray
    dataset_names: List[str]


def confusion_matrix(stats) -> np.ndarray:
    """(D, D) share of dataset i's tokens on dataset j's first mapped expert, mean over layers.

    Raises:
        ValueError: the statistics carry no expert map.
    """
    if not stats.expert_map:
        raise ValueError('the routing statistics have no expert map (a model trained without '
                         'one): there is no dataset -> expert to be confused about.')
    share = np.nan_to_num(stats.top1_share('all'))  # (L, D, E)
    experts = [stats.expert_map[name][0] for name in stats.dataset_names]
    return share[:, :, experts].mean(0)


def confusion_from_csv(path: str, expert_map: Dict[str, List[int]]
                       ) -> Tuple[List[str], np.ndarray]:
    """:func:`confusion_matrix` from a ``top1_share.csv`` (what every comparison run writes).

    Args:
        path (str): ``<run>/routing/top1_share.csv`` (columns layer, dataset,
            tokens, e0..e{E-1}).
        expert_map (dict): the map the run was trained with.

    Returns:
        tuple: dataset names (file order) and the (D, D) confusion.

    Raises:
        ValueError: the file names a dataset the map lacks.
    """
    import csv
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    names = list(dict.fromkeys(row['dataset'] for row in rows))
    missing = sorted(set(names) - set(expert_map))
    if missing:
        raise ValueError(f'{path}: datasets {missing} are not in the expert map given; pass the '
                         'map the run was trained with.')
    shares = {}
    for row in rows:
        shares.setdefault(row['dataset'], []).append(
            [float(row[f'e{expert_map[other][0]}']) for other in names])
    return names, np.array([np.mean(shares[name], axis=0) for name in names])


def most_confused_pair(names: List[str], confusion: np.ndarray,
                       expert_map: Dict[str, List[int]]
                       ) -> Optional[Tuple[str, str, float, float]]:
    """The pair on different experts that the router separates worst.

    Args:
        names (list[str]): the ``D`` datasets, in the order of ``confusion``.
        confusion (np.ndarray): (D, D), as :func:`confusion_matrix` returns.
        expert_map (dict): dataset -> [expert] the model was trained with.

    Returns:
        tuple | None: ``(a, b, confusion a->b, confusion b->a)`` of the pair
        with the largest mutual confusion (the smaller of the two shares, the
        quantity :func:`suggest_map` compares with its threshold); None when
        every dataset is on one expert.
    """
    best = None
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if expert_map[names[i]][0] == expert_map[names[j]][0]:
                continue
            mutual = min(confusion[i, j], confusion[j, i])
            if best is None or mutual > best[0]:
                best = (mutual, (names[i], names[j], float(confusion[i, j]),
                                 float(confusion[j, i])))
    return None if best is None else best[1]


def suggest_map(stats, threshold: float = CONFUSION_THRESHOLD) -> MapSuggestion:
    """Merge the mutually confused datasets of ``stats`` (see the module docstring)."""
    names = list(stats.dataset_names)
    confusion = confusion_matrix(stats)
    experts = [stats.expert_map[name][0] for name in names]
    parent = list(range(len(names)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    # datasets already sharing an expert stay together
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if experts[i] == experts[j]:
                parent[root(j)] = root(i)
    merged = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if experts[i] != experts[j] and min(confusion[i, j], confusion[j, i]) >= threshold:
                merged.append((names[i], names[j], float(confusion[i, j]),
                               float(confusion[j, i])))
                parent[root(j)] = root(i)
    groups = {}
    for i in range(len(names)):
        groups.setdefault(root(i), []).append(names[i])
    ordered = sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])
    expert_map = {name: [e] for e, group in enumerate(ordered) for name in group}
    return MapSuggestion(dict(sorted(expert_map.items())), len(ordered), merged, confusion,
                         names)


def write_suggestion(suggestion: MapSuggestion, out_dir: str, threshold: float,
                     base_config: Optional[str] = None,
                     child_config: Optional[str] = None) -> Dict[str, str]:
    """``suggested_map.json``, ``confusion.png`` and (optionally) a child config.

    Returns:
        dict: kind -> path.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    os.makedirs(out_dir, exist_ok=True)
    paths = dict(json=osp.join(out_dir, 'suggested_map.json'),
                 png=osp.join(out_dir, 'confusion.png'))
    with open(paths['json'], 'w') as f:
        json.dump(dict(expert_map=suggestion.expert_map, num_experts=suggestion.num_experts,
                       threshold=threshold, merged=[list(m) for m in suggestion.merged],
                       dataset_names=suggestion.dataset_names,
                       confusion=suggestion.confusion.round(4).tolist()), f, indent=2)
    names, size = suggestion.dataset_names, len(suggestion.dataset_names)
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * size, 1.0 + 0.6 * size))
    image = ax.imshow(suggestion.confusion, vmin=0, vmax=1, cmap='viridis')
    for i in range(size):
        for j in range(size):
            value = suggestion.confusion[i, j]
            ax.text(j, i, f'{value:.2f}', ha='center', va='center', fontsize=8,
                    color='black' if value > 0.5 else 'white')
    ax.set_xticks(range(size), [f"{n}'s expert" for n in names], rotation=45, ha='right')
    ax.set_yticks(range(size), names)
    ax.set_title(f'share of tokens on another dataset\'s expert (merge >= {threshold:g} both ways)',
                 fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(paths['png'], dpi=120)
    plt.close(fig)
    if child_config:
        from damex_mmdet.planning import render_map_config
        out = osp.dirname(osp.abspath(child_config))
        os.makedirs(out, exist_ok=True)
        comment = (f"expert map suggested from the router's confusion "
                   f'(tools/analysis/suggest_map.py, threshold {threshold:g})')
        with open(child_config, 'w') as f:
            f.write(render_map_config(base_config, suggestion.num_experts,
                                      suggestion.expert_map, [comment], out))
        paths['config'] = child_config
    return paths
