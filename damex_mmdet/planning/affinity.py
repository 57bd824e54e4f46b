"""Affinity between planning units (datasets or class groups) and experts.

Shapes: ``U`` planning units (one per dataset, or one per class group with
class-level specialisation), ``E`` experts, ``F`` feature dim, ``n_u`` images
sampled for unit ``u``.

Formula (``affinity_from_features``)::

    f_hat  = f / ||f||                         per image feature, f in R^F
    p_u    = mean_i f_hat_i(u)                  unit prototype
    q_u    = normalise(p_u - mean_v p_v)        centred prototype (U >= 2)
    c_e    = spherical k-means centroids of {q_u}, K = E, seeded
    w[u,e] = (1 + cos(q_u, c_e)) / 2            in [0, 1]

Why:

* L2-normalising each image first makes every image count equally regardless
  of its activation scale (contrast, resolution), so ``p_u`` describes the
  *direction* of a dataset's appearance, not its brightness.
* Globally pooled features of a ReLU backbone all live in the positive orthant,
  so raw cosine similarities between datasets are all close to 1 and barely
  discriminative. Removing the mean prototype keeps only what distinguishes
  the datasets from each other (a cheap form of whitening). It is skipped when
  it is undefined (a single unit, or prototypes that are all equal) and for a
  single expert (the centred prototypes would sum to zero).
* Centroids come from clustering the prototypes into ``E`` groups, so similar
  datasets (e.g. COCO/VOC/Clipart) share a centroid and hence prefer the same
  expert; ``E == U`` gives every unit its own expert.
* ``(1 + cos) / 2`` is an affine map of the cosine, so it leaves the optimal
  plan of the LP (whose rows sum to one) unchanged while giving values in
  ``[0, 1]`` that read as a preference strength, like a hand-written prior.
"""
from dataclasses import dataclass
from typing import Mapping, Sequence, Tuple

import numpy as np

from .kmeans import spherical_kmeans

__all__ = ['AffinityMatrix', 'compute_prototypes', 'centred_unit_prototypes',
           'affinity_from_features']

_EPS = 1e-12


@dataclass(frozen=True)
class AffinityMatrix:
    """A validated ``U x E`` affinity table.

    Args:
        unit_names (Sequence[str]): Row names (datasets or class groups), unique.
        expert_names (Sequence[str]): Column labels; the expert id is the
            column index, the label is for display only.
        values (np.ndarray): Finite affinities, shape (U, E); larger = better.
        source (str): Where the table came from, used in error messages.
    """
    unit_names: Tuple[str, ...]
    expert_names: Tuple[str, ...]
    values: np.ndarray
    source: str = 'affinity'

    def __post_init__(self):
        try:
            values = np.array(self.values, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f'{self.source}: the affinity must be a rectangular table of '
                             f'numbers ({err}).') from None
        units, experts = tuple(self.unit_names), tuple(self.expert_names)
        if values.ndim != 2 or values.size == 0:
            raise ValueError(f'{self.source}: the affinity must be a non-empty 2-D table '
                             f'(units x experts), got shape {values.shape}.')
        if values.shape != (len(units), len(experts)):
            raise ValueError(f'{self.source}: the affinity has shape {values.shape} but '
                             f'{len(units)} unit names and {len(experts)} expert names were '
                             'given; give one name per row and per column.')
        for kind, names in (('unit', units), ('expert', experts)):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f'{self.source}: duplicate {kind} names {dup}; names must be '
                                 'unique.')
            if any(not isinstance(n, str) or not n for n in names):
                raise ValueError(f'{self.source}: {kind} names must be non-empty strings, got '
                                 f'{list(names)}.')
        bad = np.argwhere(~np.isfinite(values))
        if bad.size:
            r, c = bad[0]
            raise ValueError(f'{self.source}: affinity[{units[r]!r}][{experts[c]!r}] is '
                             f'{values[r, c]}; every entry must be a finite number.')
        values.setflags(write=False)
        object.__setattr__(self, 'values', values)
        object.__setattr__(self, 'unit_names', units)
        object.__setattr__(self, 'expert_names', experts)

    @property
    def num_units(self) -> int:
        """int: Number of rows U."""
        return len(self.unit_names)

    @property
    def num_experts(self) -> int:
        """int: Number of columns E."""
        return len(self.expert_names)


def compute_prototypes(features: Mapping[str, np.ndarray]) -> Tuple[Tuple[str, ...], np.ndarray]:
    """Mean of L2-normalised features per unit.

    Args:
        features (Mapping[str, np.ndarray]): ``{unit_name: (n_u, F)}`` pooled
            image features. All-zero rows are ignored (they have no direction).

    Returns:
        tuple[tuple[str, ...], np.ndarray]: Unit names (mapping order) and
        prototypes of shape (U, F) (not re-normalised).
    """
    if not features:
        raise ValueError('compute_prototypes got no features; pass {name: (n, F) array} with '
                         'at least one dataset.')
    names, protos, dim = [], [], None
    for name, feats in features.items():
        feats = np.asarray(feats, dtype=np.float64)
        if feats.ndim != 2 or feats.shape[0] == 0:
            raise ValueError(f'features[{name!r}] must be a non-empty (n, F) array, got shape '
                             f'{feats.shape}.')
        if dim is not None and feats.shape[1] != dim:
            raise ValueError(f'features[{name!r}] has feature dim {feats.shape[1]} but earlier '
                             f'units have {dim}; all features must come from the same backbone '
                             'stage.')
        dim = feats.shape[1]
        if not np.all(np.isfinite(feats)):
            raise ValueError(f'features[{name!r}] contains NaN or inf; check the backbone '
                             'weights and the input normalisation.')
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        keep = norms[:, 0] > _EPS
        if not np.any(keep):
            raise ValueError(f'features[{name!r}]: every feature vector is zero, so the '
                             'dataset has no prototype direction.')
        names.append(str(name))
        protos.append((feats[keep] / norms[keep]).mean(axis=0))
    return tuple(names), np.stack(protos)


def centred_unit_prototypes(protos: np.ndarray) -> np.ndarray:
    """(U, F) prototypes centred on their mean when that is defined, then L2-normalised.

    What all units share says nothing about which are alike; with fewer than two
    units, or a unit at the mean, the prototypes are only normalised.
    """
    unit = protos / np.maximum(np.linalg.norm(protos, axis=1, keepdims=True), _EPS)
    if unit.shape[0] < 2:
        return unit
    centred = unit - unit.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    if np.any(norms[:, 0] < 1e-8):
        return unit
    return centred / norms


def affinity_from_features(features: Mapping[str, np.ndarray],
                           num_experts: int,
                           seed: int = 0,
                           expert_names: Sequence[str] = None) -> AffinityMatrix:
    """Affinity of each unit's prototype to ``num_experts`` centroids.

    See the module docstring for the formula.

    Args:
        features (Mapping[str, np.ndarray]): ``{unit_name: (n_u, F)}``.
        num_experts (int): E, at most the number of units U (use class-level
            splitting, :func:`~damex_mmdet.planning.build_units`, to get more
            units than datasets).
        seed (int): Seed of the centroid initialisation. Default 0.
        expert_names (Sequence[str], optional): Column labels. Default
            ``'0'..'E-1'``.

    Returns:
        AffinityMatrix: Values in [0, 1], shape (U, E).
    """
    names, protos = compute_prototypes(features)
    if not 1 <= num_experts <= len(names):
        raise ValueError(f'affinity_from_features: num_experts={num_experts} must be between 1 '
                         f'and the number of planning units ({len(names)}); with more experts '
                         'than datasets, split datasets into class groups first (build_units).')
    if num_experts >= 2:
        points = centred_unit_prototypes(protos)
    else:
        # One centroid: the mean of centred prototypes is zero, so skip centring.
        points = protos / np.maximum(np.linalg.norm(protos, axis=1, keepdims=True), _EPS)
    _, centroids = spherical_kmeans(points, num_experts, seed=seed)
    values = np.clip((1.0 + points @ centroids.T) / 2.0, 0.0, 1.0)
    if expert_names is None:
        expert_names = [str(e) for e in range(num_experts)]
    return AffinityMatrix(names, tuple(expert_names), values, source='features')
