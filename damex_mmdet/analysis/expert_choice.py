"""Which trained expert a new dataset's expert starts from: the one serving the most alike data.

Shapes: ``D`` datasets (the trained ones and the new one), ``F`` channels
of the backbone's last stage, ``E`` trained experts.

The features are GEM's planning features
(:func:`~damex_mmdet.analysis.dataset_features.extract_unit_features`): a
seeded sample of each dataset's training images through the trained
detector's backbone, average-pooled. Each dataset's prototype is the mean of
its L2-normalised features; prototypes are centred on their mean over the D
datasets (what all of them share says nothing about which is alike) and
normalised again. The similarity of the new dataset to a trained one is the
cosine of their centred prototypes, in [-1, 1]; an expert's similarity is
the mean over the trained datasets the map sends to it, and the new expert
starts as a copy of the expert with the highest one (ties: the lowest index).
"""
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

__all__ = ['ExpertChoice', 'choose_expert_from_features', 'choose_source_expert']


@dataclass(frozen=True)
class ExpertChoice:
    """The trained expert a new expert copies, and why.

    Attributes:
        expert (int): the chosen trained expert.
        dataset_similarity (dict): trained dataset -> cosine similarity to the new one.
        expert_similarity (dict): trained expert -> mean similarity of its datasets.
        reason (str): one sentence naming the expert, its datasets and the figures.
    """
    expert: int
    dataset_similarity: Dict[str, float]
    expert_similarity: Dict[int, float]
    reason: str


def choose_expert_from_features(features: Mapping[str, np.ndarray], new: str,
                                expert_map: Mapping[str, Sequence[int]]) -> ExpertChoice:
    """Choose the expert whose datasets' features are most like ``new``'s.

    Args:
        features (Mapping[str, np.ndarray]): dataset -> (n, F) pooled
            features, the trained datasets and ``new``.
        new (str): the new dataset.
        expert_map (Mapping[str, Sequence[int]]): trained dataset -> experts.

    Returns:
        ExpertChoice: see the module docstring.

    Raises:
        ValueError: ``new`` or a mapped dataset without features.
    """
    missing = sorted(({new} | set(expert_map)) - set(features))
    if missing:
        raise ValueError(f'no features for {missing}; every trained dataset and the new one '
                         'need sampled images.')
    from damex_mmdet.planning.affinity import centred_unit_prototypes, compute_prototypes
    names, protos = compute_prototypes({k: features[k] for k in [*expert_map, new]})
    points = dict(zip(names, centred_unit_prototypes(protos)))
    dataset_similarity = {name: float(points[name] @ points[new]) for name in expert_map}
    members: Dict[int, List[str]] = {}
    for name, experts in expert_map.items():
        for expert in experts:
            members.setdefault(int(expert), []).append(name)
    expert_similarity = {e: float(np.mean([dataset_similarity[n] for n in members[e]]))
                         for e in sorted(members)}
    best = max(expert_similarity, key=lambda e: (expert_similarity[e], -e))
    closest = max(dataset_similarity, key=dataset_similarity.get)
    reason = (f'expert {best} (serving {", ".join(sorted(members[best]))}): mean feature '
              f'similarity {expert_similarity[best]:.2f} to {new!r}, the highest of '
              f'{len(expert_similarity)} experts; the most similar trained dataset is '
              f'{closest!r} ({dataset_similarity[closest]:.2f})')
    return ExpertChoice(best, dataset_similarity, expert_similarity, reason)


def choose_source_expert(cfg, checkpoint: str, new: str,
                         expert_map: Mapping[str, Sequence[int]], images_per_dataset: int = 16,
                         seed: int = 0, progress: bool = True,
                         config_name: Optional[str] = None) -> ExpertChoice:
    """Choose the expert to copy from the trained detector's backbone features.

    Args:
        cfg (Config): a config whose training ``MultiDataset`` holds the
            trained datasets and ``new``.
        checkpoint (str): the trained detector (its ``backbone.*`` tensors).
        new (str): the new dataset.
        expert_map (Mapping[str, Sequence[int]]): trained dataset -> experts.
        images_per_dataset (int): seeded sample per dataset.
        seed (int): of the sample.
        progress (bool): show a progress bar.
        config_name (str, optional): how errors name the config.

    Returns:
        ExpertChoice: see :func:`choose_expert_from_features`.
    """
    from damex_mmdet.analysis.dataset_features import extract_unit_features
    datasets = cfg.train_dataloader.dataset.datasets
    # as many experts as datasets: one planning unit per dataset, no class groups
    measured = extract_unit_features(cfg, len(datasets), checkpoint,
                                     images_per_dataset=images_per_dataset, seed=seed,
                                     progress=progress,
                                     config_name=config_name or 'the config')
    return choose_expert_from_features(measured.features, new, expert_map)
