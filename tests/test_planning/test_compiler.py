import itertools

import numpy as np
import pytest

from damex_mmdet.planning import LPPlan, RoundingError, compile_plan, solve_assignment_lp


def _brute_force(w, demand, capacity):
    """Best value over all capacity-respecting integral mappings (-inf if none)."""
    num_units, num_experts = w.shape
    best = -np.inf
    for assign in itertools.product(range(num_experts), repeat=num_units):
        assign = np.asarray(assign)
        loads = np.bincount(assign, weights=demand, minlength=num_experts)
        if np.all(loads <= capacity + 1e-9):
            best = max(best, w[np.arange(num_units), assign].sum())
    return best


def _instance(seed, weighted):
    rng = np.random.default_rng(seed)
    num_units, num_experts = int(rng.integers(4, 7)), int(rng.integers(2, 4))
    w = rng.random((num_units, num_experts))
    if weighted:
        demand = rng.integers(1, 6, num_units).astype(float)
        share = rng.random(num_experts)
        capacity = share / share.sum() * demand.sum() * rng.uniform(1.0, 1.5)
    else:
        demand = np.ones(num_units)
        capacity = rng.integers(1, num_units, num_experts).astype(float)
        capacity[0] = max(capacity[0], num_units - capacity[1:].sum())
    return w, demand, capacity


def _manual_plan(x, w, capacity, demand=None, bound=None):
    x, w = np.asarray(x, float), np.asarray(w, float)
    demand = np.ones(len(x)) if demand is None else np.asarray(demand, float)
    return LPPlan(fractional=x, bound=float((w * x).sum()) if bound is None else bound,
                  status=0, message='manual', affinity=w, capacity=np.asarray(capacity, float),
                  demand=demand, lower=np.zeros_like(x))


def test_brute_force_weighted_instances():
    """Value <= LP bound, best integral <= LP bound, capacities hold, errors only when
    nothing fits; the heuristic finds the exact optimum most of the time."""
    feasible = solved = optimal = 0
    for seed in range(150):
        w, demand, capacity = _instance(seed, weighted=True)
        best = _brute_force(w, demand, capacity)
        plan = solve_assignment_lp(w, capacity, demand)
        feasible += np.isfinite(best)
        try:
            out = compile_plan(plan)
        except RoundingError as err:
            assert 'capacity' in str(err)
            continue
        solved += 1
        assert np.isfinite(best), f'seed {seed}: a mapping was returned for an infeasible case'
        loads = np.bincount(out.assignment, weights=demand, minlength=w.shape[1])
        assert np.all(loads <= capacity * (1 + 1e-6)), f'seed {seed}: capacity exceeded'
        np.testing.assert_allclose(out.loads, loads)
        assert out.value == pytest.approx(w[np.arange(len(w)), out.assignment].sum())
        assert out.value <= plan.bound + 1e-7
        assert best <= plan.bound + 1e-7
        assert out.value >= best - out.gap - 1e-9
        assert out.gap == pytest.approx(plan.bound - out.value, abs=1e-9)
        optimal += bool(np.isclose(out.value, best))
    assert feasible >= 120  # the generator makes mostly feasible instances
    assert solved >= feasible - 2
    assert optimal >= 0.75 * solved


def test_refine_fixed_finds_optimum_more_often():
    plain = refined = 0
    for seed in range(150):
        w, demand, capacity = _instance(seed, weighted=True)
        best = _brute_force(w, demand, capacity)
        if not np.isfinite(best):
            continue
        plan = solve_assignment_lp(w, capacity, demand)
        try:
            a, b = compile_plan(plan), compile_plan(plan, refine_fixed=True)
        except RoundingError:
            continue
        assert b.value >= a.value - 1e-12
        plain += bool(np.isclose(a.value, best))
        refined += bool(np.isclose(b.value, best))
    assert refined > plain


def test_unit_demands_are_solved_exactly():
    for seed in range(60):
        w, demand, capacity = _instance(seed, weighted=False)
        out = compile_plan(solve_assignment_lp(w, capacity, demand))
        assert out.value == pytest.approx(_brute_force(w, demand, capacity))
        assert out.num_fixed == len(w) and out.num_moved == 0


def test_integral_plan_passes_through_unchanged():
    # 3 datasets, 2 experts, 2 datasets per expert; the plan is integral but
    # deliberately not the best one (d1 would rather be on e1), so a rounding step
    # that re-optimised it, or dropped entries equal to 1, would change it.
    w = np.array([[0.9, 0.1], [0.6, 0.7], [0.2, 0.8]])
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    out = compile_plan(_manual_plan(x, w, capacity=[2, 2]))
    assert out.assignment.tolist() == [0, 0, 1]
    np.testing.assert_array_equal(out.integral, x)
    assert out.value == pytest.approx(2.3) and out.gap == pytest.approx(0.0)
    assert out.num_fixed == 3


def test_solved_integral_case_round_trip():
    w = np.array([[0.9, 0.1], [0.6, 0.7], [0.2, 0.8]])
    plan = solve_assignment_lp(w, capacity=[2, 2])
    out = compile_plan(plan)
    np.testing.assert_allclose(out.integral, plan.fractional, atol=1e-9)
    assert out.gap == pytest.approx(0.0, abs=1e-12)


def test_fractional_hand_computed():
    # Both units want e0 (capacity 1.5 units): one stays, one moves; bound 1.5, value 1.
    plan = solve_assignment_lp(np.array([[1.0, 0.0], [1.0, 0.0]]), capacity=[1.5, 1.5])
    out = compile_plan(plan)
    assert sorted(out.assignment.tolist()) == [0, 1]
    assert out.value == pytest.approx(1.0) and out.gap == pytest.approx(0.5)


def test_rounding_follows_largest_share():
    # Row 2 is fractional; its largest share (e0) is full, so it lands on e1.
    w = np.array([[1.0, 0.0], [0.8, 0.2], [0.9, 0.5]])
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.6, 0.4]])
    out = compile_plan(_manual_plan(x, w, capacity=[2, 1], bound=2.5))
    assert out.assignment.tolist() == [0, 0, 1]
    assert out.value == pytest.approx(2.3) and out.gap == pytest.approx(0.2)


def test_repair_moves_a_fixed_row_as_last_resort():
    # Rows 0 and 1 are integral (loads 1 | 1); row 2 (demand 2) fits nowhere, overflows
    # e0 (share tie -> lowest index); no rounded row can move, so integral row 0 moves to
    # e1 (loss 1.0 - 0.4), the only move that fits.
    w = np.array([[1.0, 0.4], [0.0, 1.0], [0.7, 0.6]])
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    out = compile_plan(_manual_plan(x, w, capacity=[2, 2], demand=[1, 1, 2]))
    assert out.assignment.tolist() == [1, 1, 0]
    assert out.num_moved == 1
    assert out.value == pytest.approx(2.1)
    np.testing.assert_allclose(out.loads, [2, 2])


def test_improvement_exchanges_rounded_rows():
    # Level 2 puts row 0 on e0 (share tie -> higher affinity) and row 1 on e1; swapping
    # them gains 0.9 + 1.0 - 1.0 - 0.2 = 0.7.
    w = np.array([[1.0, 0.9], [1.0, 0.2]])
    x = np.array([[0.5, 0.5], [0.5, 0.5]])
    out = compile_plan(_manual_plan(x, w, capacity=[1, 1]))
    assert out.assignment.tolist() == [1, 0]
    assert out.value == pytest.approx(1.9)


def test_deterministic():
    rng = np.random.default_rng(5)
    w = rng.random((40, 6))
    demand = rng.integers(1, 50, 40).astype(float)
    plan = solve_assignment_lp(w, demand.sum() / 6 * 1.2, demand)
    first = compile_plan(plan)
    for _ in range(3):
        again = compile_plan(solve_assignment_lp(w, demand.sum() / 6 * 1.2, demand))
        assert np.array_equal(first.assignment, again.assignment)


def test_pinned_min_share_is_kept():
    w = np.array([[1.0, 0.0], [0.0, 1.0]])
    plan = solve_assignment_lp(w, capacity=2, min_share=[[0.0, 0.3], [0.0, 0.0]])
    out = compile_plan(plan)
    assert out.assignment.tolist() == [1, 1]  # unit 0 pinned to e1 by its lower bound


def test_no_integral_mapping_raises():
    # Total capacity 9 covers total demand 9, but each expert holds only one unit of 3.
    plan = solve_assignment_lp(np.ones((3, 2)), capacity=[4, 5], demand=[3, 3, 3])
    with pytest.raises(RoundingError, match='expert 0 carries load|expert 1 carries load'):
        compile_plan(plan)
    plan = solve_assignment_lp(np.ones((2, 2)), capacity=[3, 3], demand=[4, 1])
    with pytest.raises(RoundingError, match='demand 4, more than the largest expert capacity 3'):
        compile_plan(plan)
