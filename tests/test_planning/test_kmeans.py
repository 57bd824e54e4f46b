import numpy as np
import pytest

from damex_mmdet.planning import spherical_kmeans


def _unit(rows):
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_two_groups_hand_computed():
    points = _unit([[1, 0], [0.8, 0.6], [0, 1], [-0.6, 0.8]])
    labels, centroids = spherical_kmeans(points, 2, seed=3)
    # Cluster 0 always holds point 0; centroid = normalised member sum.
    assert labels.tolist() == [0, 0, 1, 1]
    np.testing.assert_allclose(centroids[0], np.array([1.8, 0.6]) / np.hypot(1.8, 0.6))
    np.testing.assert_allclose(centroids[1], np.array([-0.6, 1.8]) / np.hypot(0.6, 1.8))


def test_one_cluster_per_point_and_determinism():
    rng = np.random.default_rng(0)
    points = _unit(rng.normal(size=(6, 5)))
    labels, centroids = spherical_kmeans(points, 6, seed=1)
    assert labels.tolist() == list(range(6))
    np.testing.assert_allclose(centroids, points)
    again = spherical_kmeans(points, 3, seed=7)
    twice = spherical_kmeans(points, 3, seed=7)
    assert np.array_equal(again[0], twice[0])
    assert np.array_equal(again[1], twice[1])


def test_duplicate_points_keep_all_clusters_labelled():
    points = _unit([[1, 0], [1, 0], [1, 0], [0, 1]])
    labels, _ = spherical_kmeans(points, 3, seed=0)
    assert sorted(set(labels.tolist())) == [0, 1, 2]
    assert labels[3] != labels[0]


@pytest.mark.parametrize('k', [0, 4])
def test_bad_cluster_count(k):
    with pytest.raises(ValueError, match='num_clusters'):
        spherical_kmeans(np.eye(3), k)
