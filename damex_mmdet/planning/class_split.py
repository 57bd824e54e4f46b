"""Class-level specialisation: split datasets into class groups (planning units).

When there are more experts than datasets, one unit per dataset would leave
experts idle. Instead, datasets are split into class groups and each group is
planned as its own unit, so a dataset may be served by several experts (one
per group) and every class still has exactly one expert.

How many groups (``allocate_groups``): start with one group per dataset and
give the next group, until there are ``num_experts`` units, to the dataset
with the most classes per group (ties: dataset order); a dataset never gets
more groups than classes.

Which classes (``split_classes``): longest-processing-time balancing. Classes
are taken by decreasing frequency (ties: class order) and each goes to the
group with the smallest total frequency so far (ties: fewer classes, then group
index), so groups carry similar numbers of instances. Without frequencies every
class weighs 1, which deals classes round-robin. Groups are listed by their
first class index and each group's classes are sorted.
"""
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = ['PlanningUnit', 'allocate_groups', 'split_classes', 'build_units']


@dataclass(frozen=True)
class PlanningUnit:
    """One row of the plan.

    Attributes:
        name (str): Unit name: the dataset name, or ``'<dataset>[<g>]'`` for
            group ``g`` of a split dataset.
        dataset (str): The dataset the unit belongs to.
        classes (tuple[str, ...]): Classes of the unit (all classes of the
            dataset when it is not split).
    """
    name: str
    dataset: str
    classes: Tuple[str, ...]


def allocate_groups(num_classes: Mapping[str, int], num_units: int) -> Dict[str, int]:
    """Number of class groups per dataset so that there are ``num_units`` units.

    Args:
        num_classes (Mapping[str, int]): ``{dataset: number of classes}``.
        num_units (int): Wanted total number of groups; capped at the total
            number of classes, raised to the number of datasets.

    Returns:
        dict[str, int]: ``{dataset: groups}``, same order as ``num_classes``.
    """
    bad = {k: v for k, v in num_classes.items() if int(v) < 1}
    if bad:
        raise ValueError(f'Every dataset needs at least one class to be split, got {bad}.')
    names = list(num_classes)
    counts = np.array([int(num_classes[n]) for n in names])
    groups = np.ones(len(names), dtype=np.int64)
    target = min(int(num_units), int(counts.sum()))
    while groups.sum() < target:
        per_group = np.where(groups < counts, counts / groups, -np.inf)
        groups[int(np.argmax(per_group))] += 1
    return dict(zip(names, groups.tolist()))


def split_classes(num_classes: int,
                  num_groups: int,
                  frequencies: Optional[Sequence[float]] = None) -> List[Tuple[int, ...]]:
    """Partition class indices ``0..num_classes-1`` into balanced groups.

    Args:
        num_classes (int): Number of classes C.
        num_groups (int): Number of groups G, ``1 <= G <= C``.
        frequencies (Sequence[float], optional): Instances per class, shape
            (C,), >= 0. Default: all ones.

    Returns:
        list[tuple[int, ...]]: G non-empty groups covering every class once.
    """
    if not 1 <= num_groups <= num_classes:
        raise ValueError(f'split_classes needs 1 <= num_groups <= num_classes, got '
                         f'num_groups={num_groups}, num_classes={num_classes}.')
    freq = np.ones(num_classes) if frequencies is None else np.asarray(frequencies, float)
    if freq.shape != (num_classes, ) or not np.all(np.isfinite(freq)) or freq.min() < 0:
        raise ValueError(f'frequencies must be {num_classes} finite numbers >= 0, got '
                         f'{np.asarray(frequencies).tolist()}.')
    totals = np.zeros(num_groups)
    members: List[List[int]] = [[] for _ in range(num_groups)]
    for c in np.lexsort((np.arange(num_classes), -freq)):
        # Empty groups first, so every group gets a class even when frequencies are 0.
        sizes = np.array([len(m) for m in members])
        g = int(np.lexsort((np.arange(num_groups), sizes, totals, sizes > 0))[0])
        members[g].append(int(c))
        totals[g] += freq[c]
    groups = [tuple(sorted(m)) for m in members]
    return sorted(groups, key=lambda grp: grp[0])


def build_units(dataset_classes: Mapping[str, Sequence[str]],
                num_experts: int,
                class_frequencies: Optional[Mapping[str, Sequence[float]]] = None
                ) -> List[PlanningUnit]:
    """Planning units for ``num_experts`` experts.

    One unit per dataset when ``num_experts <= len(dataset_classes)``;
    otherwise datasets are split into class groups (see the module docstring)
    so that there are ``min(num_experts, total classes)`` units.

    Args:
        dataset_classes (Mapping[str, Sequence[str]]): ``{dataset: classes}``
            in config order.
        num_experts (int): E, >= 1.
        class_frequencies (Mapping[str, Sequence[float]], optional):
            ``{dataset: instances per class}``; missing datasets count 1 per class.

    Returns:
        list[PlanningUnit]: Units grouped by dataset, in dataset order.
    """
    if not dataset_classes:
        raise ValueError('build_units got no datasets; pass {name: classes}.')
    if num_experts < 1:
        raise ValueError(f'num_experts must be >= 1, got {num_experts}.')
    class_frequencies = class_frequencies or {}
    unknown = sorted(set(class_frequencies) - set(dataset_classes))
    if unknown:
        raise ValueError(f'class_frequencies names unknown datasets {unknown}; known: '
                         f'{list(dataset_classes)}.')
    groups = allocate_groups({k: len(v) for k, v in dataset_classes.items()}, num_experts)
    units = []
    for name, classes in dataset_classes.items():
        classes = tuple(classes)
        if groups[name] == 1:
            units.append(PlanningUnit(name, name, classes))
            continue
        parts = split_classes(len(classes), groups[name], class_frequencies.get(name))
        units.extend(
            PlanningUnit(f'{name}[{g}]', name, tuple(classes[c] for c in part))
            for g, part in enumerate(parts))
    return units
