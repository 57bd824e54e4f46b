"""Combined label space of several datasets: partitioned (default) or unified.

Dataset ``d`` with ``n_d`` classes: ``'partitioned'`` gives it the labels
``[offset_d, offset_d + n_d)`` (``offset_d = n_0 + ... + n_{d-1}``) with
classes named ``'<dataset>/<class>'``; ``'unified'`` merges equal class names
into one label, in order of first appearance.
"""
from collections.abc import Mapping
from typing import Dict, List, Tuple

import numpy as np

__all__ = ['LABEL_SPACES', 'build_label_space', 'class_palette']

LABEL_SPACES = ('partitioned', 'unified')


def class_palette(num_classes: int, seed: int = 0) -> List[Tuple[int, int, int]]:
    """Reproducible random RGB colours, one per class."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, size=(num_classes, 3))
    return [tuple(int(c) for c in colour) for colour in colours]


def build_label_space(dataset_classes: Mapping,
                      label_space: str = 'partitioned') -> dict:
    """Combined label space of several datasets.

    Args:
        dataset_classes (Mapping[str, Sequence[str]]): Ordered mapping from
            dataset name to its class names (local label order).
        label_space (str): ``'partitioned'`` or ``'unified'``.

    Returns:
        dict: ``classes`` (tuple of combined names) and ``label_maps``
        (``{name: tuple}`` giving the combined label of each local label);
        ``class_ranges`` (``{name: (start, end)}``, half-open) is added for
        ``'partitioned'``.
    """
    if label_space not in LABEL_SPACES:
        raise ValueError(f'MultiDataset got label_space={label_space!r}; use '
                         f'one of {LABEL_SPACES}.')
    classes: List[str] = []
    label_maps: Dict[str, Tuple[int, ...]] = {}
    ranges: Dict[str, Tuple[int, int]] = {}
    for name, names in dataset_classes.items():
        if label_space == 'partitioned':
            start = len(classes)
            classes.extend(f'{name}/{cls}' for cls in names)
            ranges[name] = (start, len(classes))
            label_maps[name] = tuple(range(start, len(classes)))
        else:
            for cls in names:
                if cls not in classes:
                    classes.append(cls)
            label_maps[name] = tuple(classes.index(cls) for cls in names)
    space = dict(classes=tuple(classes), label_maps=label_maps)
    if label_space == 'partitioned':
        space['class_ranges'] = ranges
    return space
