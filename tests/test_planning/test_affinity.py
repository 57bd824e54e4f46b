import numpy as np
import pytest

from damex_mmdet.planning import AffinityMatrix, affinity_from_features, compute_prototypes


def test_prototypes_are_means_of_normalised_features():
    names, protos = compute_prototypes({
        'a': np.array([[3.0, 4.0], [0.0, 1.0]]),
        'b': np.array([[0.0, 0.0], [2.0, 0.0]]),  # the zero row is ignored
    })
    assert names == ('a', 'b')
    np.testing.assert_allclose(protos, [[0.3, 0.9], [1.0, 0.0]])


def test_orthogonal_datasets_get_their_own_expert():
    feats = {'a': np.array([[2.0, 0.0]]), 'b': np.array([[0.0, 5.0]])}
    aff = affinity_from_features(feats, 2)
    # Centred prototypes are antipodal: cos = 1 to the own centroid, -1 to the other.
    np.testing.assert_allclose(aff.values, [[1.0, 0.0], [0.0, 1.0]], atol=1e-12)
    assert aff.unit_names == ('a', 'b') and aff.expert_names == ('0', '1')


def test_single_expert_uses_uncentred_cosine():
    feats = {'a': np.array([[1.0, 0.0]]), 'b': np.array([[0.0, 1.0]])}
    aff = affinity_from_features(feats, 1)
    # Centroid (1, 1) / sqrt(2): cos = 1 / sqrt(2) for both, rescaled by (1 + cos) / 2.
    np.testing.assert_allclose(aff.values, [[(1 + 0.5**0.5) / 2]] * 2)


def test_similar_datasets_share_an_expert():
    rng = np.random.default_rng(0)
    base_x, base_y = np.array([1.0, 0.1, 0.2]), np.array([0.1, 1.0, 0.3])
    feats = {
        name: base + 0.05 * rng.random((8, 3))
        for name, base in (('coco', base_x), ('voc', base_x), ('kitti', base_y),
                           ('lisa', base_y))
    }
    aff = affinity_from_features(feats, 2, seed=0)
    assert np.argmax(aff.values, axis=1).tolist() == [0, 0, 1, 1]
    assert aff.values.min() >= 0 and aff.values.max() <= 1
    assert np.array_equal(aff.values, affinity_from_features(feats, 2, seed=0).values)


@pytest.mark.parametrize('feats, num_experts, message', [
    ({}, 1, 'no features'),
    ({'a': np.ones((2, 3)), 'b': np.ones((2, 4))}, 1, 'feature dim 4'),
    ({'a': np.array([[np.nan, 1.0]])}, 1, 'NaN or inf'),
    ({'a': np.zeros((3, 2))}, 1, 'every feature vector is zero'),
    ({'a': np.ones((0, 2))}, 1, 'non-empty'),
    ({'a': np.eye(2), 'b': np.eye(2)[::-1]}, 3, 'build_units'),
])
def test_feature_errors(feats, num_experts, message):
    with pytest.raises(ValueError, match=message):
        affinity_from_features(feats, num_experts)


def test_affinity_matrix_validation():
    ok = AffinityMatrix(('a', 'b'), ('0', '1'), [[1, 0], [0, 1]])
    assert ok.num_units == 2 and ok.num_experts == 2
    with pytest.raises(ValueError, match=r"affinity\['b'\]\['1'\] is nan"):
        AffinityMatrix(('a', 'b'), ('0', '1'), [[1, 0], [0, np.nan]], source='prior.csv')
    with pytest.raises(ValueError, match=r"duplicate unit names \['a'\]"):
        AffinityMatrix(('a', 'a'), ('0', '1'), np.eye(2))
    with pytest.raises(ValueError, match='shape'):
        AffinityMatrix(('a', 'b', 'c'), ('0', '1'), np.eye(2))
    with pytest.raises(ValueError, match='non-empty'):
        AffinityMatrix((), (), np.zeros((0, 0)))
    with pytest.raises(ValueError, match='rectangular table of numbers'):
        AffinityMatrix(('a', 'b'), ('0', '1'), [[1, 0], [0]])
