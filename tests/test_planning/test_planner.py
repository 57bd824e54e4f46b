from types import SimpleNamespace

import numpy as np
import pytest

from damex_mmdet.planning import planner, solve_assignment_lp


def test_hand_computed_optimum():
    # d0 likes e0 only; d1 likes e0 (1.0) and e1 (0.5); one dataset per expert.
    plan = solve_assignment_lp(np.array([[1.0, 0.0], [1.0, 0.5]]), capacity=1)
    np.testing.assert_allclose(plan.fractional, [[1, 0], [0, 1]], atol=1e-9)
    assert plan.bound == pytest.approx(1.5)
    assert plan.status == 0


def test_weighted_capacity_gives_fractional_plan():
    # Both prefer e0 but it only holds 1.5 units of demand: LP splits the mass.
    plan = solve_assignment_lp(np.array([[1.0, 0.0], [1.0, 0.0]]), capacity=[1.5, 1.5])
    assert plan.bound == pytest.approx(1.5)
    assert plan.fractional[:, 0].sum() == pytest.approx(1.5)
    np.testing.assert_allclose(plan.fractional.sum(axis=1), 1.0)


def test_demand_scales_capacity_use():
    w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.9]])
    plan = solve_assignment_lp(w, capacity=[10, 10], demand=[5, 5, 6])
    # d2 (demand 6) prefers e0, where d0 leaves room for 5: 5/6 of d2 goes to e0, the
    # rest to e1 (affinity 0.9).
    np.testing.assert_allclose(plan.fractional[2], [5 / 6, 1 / 6], atol=1e-9)
    assert plan.bound == pytest.approx(2 + 5 / 6 + 0.9 / 6)


def test_unit_demands_give_integral_vertex():
    rng = np.random.default_rng(0)
    plan = solve_assignment_lp(rng.random((20, 5)), capacity=4)
    assert np.all(np.isclose(plan.fractional, 0) | np.isclose(plan.fractional, 1))
    assert plan.fractional.sum(axis=0).max() <= 4 + 1e-9


def test_min_share_anchors_and_matrix_bounds():
    w = np.array([[1.0, 0.0], [0.0, 1.0]])
    lower = np.array([[0.0, 0.3], [0.0, 0.0]])
    plan = solve_assignment_lp(w, capacity=2, min_share=lower)
    assert plan.fractional[0, 1] == pytest.approx(0.3)
    assert plan.bound == pytest.approx(1.7)
    # Scalar min_share: at least 0.5 of each unit on its best expert (ties: lowest index).
    plan = solve_assignment_lp(np.array([[0.5, 0.5], [0.2, 0.9]]), capacity=2, min_share=0.5)
    np.testing.assert_array_equal(plan.lower, [[0.5, 0.0], [0.0, 0.5]])


@pytest.mark.parametrize('kwargs, message', [
    (dict(affinity=np.zeros((0, 2)), capacity=1), 'non-empty'),
    (dict(affinity=[[1.0, np.nan]], capacity=1), r'affinity\[0, 1\] is nan'),
    (dict(affinity=[[1.0, np.inf]], capacity=1), 'finite'),
    (dict(affinity=np.eye(2), capacity=[1, 1, 1]), r'capacity must be a scalar or have shape '
     r'\(2,\), got shape \(3,\)'),
    (dict(affinity=np.eye(2), capacity=[2, -1]), r'capacity must be >= 0'),
    (dict(affinity=np.eye(2), capacity=[1, np.nan]), 'capacity contains NaN'),
    (dict(affinity=np.eye(3), capacity=[1, 0.5, 1]), 'total capacity 2.5 is below total '
     'demand 3'),
    (dict(affinity=np.eye(2), capacity=1, demand=[1, 0]), 'demand must be > 0'),
    (dict(affinity=np.eye(2), capacity=1, demand=[1, 1, 1]), r'demand must be .*shape \(2,\)'),
    (dict(affinity=np.eye(2), capacity=1, min_share=[[1.0, 0.0], [1.0, 0.0]]),
     'min_share already puts demand 2 on expert 0'),
    (dict(affinity=np.eye(2), capacity=2, min_share=[[0.6, 0.6], [0, 0]]), 'sums to 1.2'),
    (dict(affinity=np.eye(2), capacity=2, min_share=1.5), r'within \[0, 1\]'),
    (dict(affinity=np.eye(2), capacity=2, min_share=[0.1, 0.1, 0.1]), 'min_share must be'),
])
def test_invalid_inputs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        solve_assignment_lp(**kwargs)


def test_solver_failure_is_a_runtime_error(monkeypatch):
    failed = SimpleNamespace(status=4, x=None, fun=None, message='Numerical difficulties.')
    monkeypatch.setattr(planner, 'linprog', lambda *args, **kwargs: failed)
    with pytest.raises(RuntimeError, match='status 4.*Numerical difficulties'):
        solve_assignment_lp(np.eye(2), capacity=1)
