"""Deterministic spherical k-means on unit vectors.

Used by :mod:`damex_mmdet.planning.affinity` to turn dataset prototypes into
expert centroids. Shapes: ``N`` points, ``F`` feature dim, ``K`` clusters.

The result depends only on the input and ``seed``:

* initialisation is a farthest-point traversal that starts at the point drawn
  by ``numpy.random.default_rng(seed)`` and then repeatedly adds the point with
  the lowest cosine similarity to its closest chosen centre (ties: lowest
  index);
* Lloyd iterations assign each point to the centre of highest cosine
  similarity (ties: lowest cluster index) and re-normalise member sums;
* clusters are finally renumbered by their smallest member index, so cluster 0
  always contains point 0. An empty cluster (only possible with duplicate
  points) is re-seeded with the worst-fitting point of a larger cluster.
"""
from typing import Tuple

import numpy as np

__all__ = ['spherical_kmeans']


def _farthest_point_init(points: np.ndarray, num_clusters: int, seed: int) -> np.ndarray:
    """Pick ``num_clusters`` starting centres by farthest-point traversal.

    Args:
        points (np.ndarray): Unit vectors, shape (N, F).
        num_clusters (int): K.
        seed (int): Seed of the first pick.

    Returns:
        np.ndarray: Indices of the chosen points, shape (K,).
    """
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(points.shape[0]))]
    best_sim = points @ points[chosen[0]]
    for _ in range(1, num_clusters):
        masked = best_sim.copy()
        masked[chosen] = np.inf
        nxt = int(np.argmin(masked))
        chosen.append(nxt)
        best_sim = np.maximum(best_sim, points @ points[nxt])
    return np.asarray(chosen, dtype=np.int64)


def _reseed_empty(points: np.ndarray, labels: np.ndarray, sims: np.ndarray,
                  num_clusters: int) -> np.ndarray:
    """Give each empty cluster the worst-fitting point of a cluster with >1 member."""
    labels = labels.copy()
    for k in range(num_clusters):
        if np.any(labels == k):
            continue
        counts = np.bincount(labels, minlength=num_clusters)
        fit = sims[np.arange(points.shape[0]), labels]
        fit = np.where(counts[labels] > 1, fit, np.inf)
        worst = int(np.argmin(fit))
        if np.isinf(fit[worst]):
            break
        labels[worst] = k
    return labels


def spherical_kmeans(points: np.ndarray,
                     num_clusters: int,
                     seed: int = 0,
                     max_iter: int = 100) -> Tuple[np.ndarray, np.ndarray]:
    """Cluster unit vectors by cosine similarity, deterministically.

    Args:
        points (np.ndarray): L2-normalised points, shape (N, F).
        num_clusters (int): Number of clusters K, ``1 <= K <= N``.
        seed (int): Seed of the farthest-point initialisation. Default 0.
        max_iter (int): Maximum Lloyd iterations. Default 100.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``labels`` of shape (N,) with values in
        ``[0, K)`` and unit ``centroids`` of shape (K, F).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] == 0:
        raise ValueError(f'spherical_kmeans expects a non-empty (N, F) array, got shape '
                         f'{points.shape}.')
    num_points = points.shape[0]
    if not 1 <= num_clusters <= num_points:
        raise ValueError(f'spherical_kmeans needs 1 <= num_clusters <= {num_points} (the number '
                         f'of points), got num_clusters={num_clusters}.')
    centroids = points[_farthest_point_init(points, num_clusters, seed)].copy()
    labels = np.full(num_points, -1, dtype=np.int64)
    for _ in range(max_iter):
        sims = points @ centroids.T
        new_labels = _reseed_empty(points, np.argmax(sims, axis=1), sims, num_clusters)
        converged = np.array_equal(new_labels, labels)
        labels = new_labels
        for k in range(num_clusters):
            total = points[labels == k].sum(axis=0)
            norm = np.linalg.norm(total)
            if norm > 1e-12:
                centroids[k] = total / norm
        if converged:
            break
    # Renumber clusters by their smallest member index (empty ones last).
    first_member = [
        int(np.flatnonzero(labels == k)[0]) if np.any(labels == k) else num_points + k
        for k in range(num_clusters)
    ]
    order = np.argsort(first_member, kind='stable')
    remap = np.empty(num_clusters, dtype=np.int64)
    remap[order] = np.arange(num_clusters)
    return remap[labels], centroids[order]
