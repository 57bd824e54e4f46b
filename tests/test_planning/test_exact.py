"""Exact GEM compilation against brute force: optimal on every instance, never over capacity."""
import numpy as np
import pytest

from damex_mmdet.planning import (AffinityMatrix, RoundingError, compile_exact, compile_plan,
                                  plan_expert_mapping, solve_assignment_lp)
from test_compiler import _brute_force, _instance  # noqa: E402 (same folder)


@pytest.mark.parametrize('weighted', [True, False])
def test_exact_is_optimal_on_random_instances(weighted):
    solved = beaten = 0
    for seed in range(120):
        w, demand, capacity = _instance(seed, weighted=weighted)
        best = _brute_force(w, demand, capacity)
        plan = solve_assignment_lp(w, capacity, demand)
        if not np.isfinite(best):
            with pytest.raises(RoundingError):
                compile_exact(plan)
            continue
        out = compile_exact(plan)
        solved += 1
        loads = np.bincount(out.assignment, weights=demand, minlength=w.shape[1])
        assert np.all(loads <= capacity * (1 + 1e-6) + 1e-9), seed
        assert out.value == pytest.approx(best, abs=1e-9), seed
        assert out.optimal and out.compiler in (('milp', 'lp') if weighted else ('lp', ))
        assert out.gap >= -1e-9 and out.bound >= best - 1e-9
        try:
            beaten += compile_plan(plan).value < best - 1e-9
        except RoundingError:
            beaten += 1
    assert solved > 60
    if weighted:
        assert beaten > 0  # the weighted instances do exercise cases rounding misses


def test_exact_honours_min_share_pins():
    w = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
    lower = np.array([[0.0, 0.5], [0.0, 0.0], [0.0, 0.0]])  # unit 0 pinned to expert 1
    plan = solve_assignment_lp(w, capacity=[2, 2], min_share=lower)
    out = compile_exact(plan)
    assert out.assignment[0] == 1 and out.value == pytest.approx(0.1 + 0.8 + 0.7)


def test_count_demand_with_too_little_capacity_is_a_clear_error():
    plan = solve_assignment_lp(np.ones((3, 2)), capacity=[2, 2])
    plan = plan.__class__(**{**plan.__dict__, 'capacity': np.array([1.0, 1.0])})
    plan = plan.__class__(**{**plan.__dict__, 'fractional': np.full((3, 2), 0.5)})
    with pytest.raises(RoundingError, match='3 units but the capacities hold only 2'):
        compile_exact(plan)


def test_plan_expert_mapping_defaults_to_exact_and_records_it():
    rng = np.random.default_rng(0)
    aff = AffinityMatrix(tuple('abcdef'), ('e0', 'e1', 'e2'), rng.random((6, 3)))
    demand = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 2.0])
    exact = plan_expert_mapping(aff, capacity=6.5, demand=demand)
    rounding = plan_expert_mapping(aff, capacity=6.5, demand=demand, compiler='rounding')
    assert exact.compiler in ('milp', 'lp') and exact.optimal
    assert exact.value >= rounding.value - 1e-12 and exact.gap <= rounding.gap + 1e-12
    with pytest.raises(ValueError, match="compiler must be 'exact' or 'rounding'"):
        plan_expert_mapping(aff, capacity=6.5, compiler='greedy')


def test_count_demand_with_a_fractional_plan_is_solved_as_an_assignment():
    w = np.array([[0.9, 0.8], [0.85, 0.1], [0.2, 0.3]])
    plan = solve_assignment_lp(w, capacity=[2, 1])
    half = plan.__class__(**{**plan.__dict__, 'fractional': np.full((3, 2), 0.5)})
    out = compile_exact(half)
    assert out.compiler == 'assignment' and out.optimal
    assert out.value == pytest.approx(_brute_force(w, np.ones(3), np.array([2.0, 1.0])))
