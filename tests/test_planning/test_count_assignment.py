"""Count demand is an assignment problem: solved directly, with the LP's optimum."""
import numpy as np
import pytest

from damex_mmdet.planning import (AffinityMatrix, compile_exact, plan_count_assignment,
                                  plan_expert_mapping, solve_assignment_lp, solves_directly)


@pytest.mark.parametrize('units,experts,capacity', [(6, 4, 2), (50, 8, 7), (200, 16, 13)])
def test_direct_assignment_reaches_the_lp_optimum(units, experts, capacity):
    rng = np.random.default_rng(units)
    affinity = rng.random((units, experts))
    plan, compiled = plan_count_assignment(affinity, capacity)
    lp = solve_assignment_lp(affinity, capacity)
    assert compiled.value == pytest.approx(lp.bound, rel=1e-9)  # the same optimum
    assert compiled.optimal and compiled.compiler == 'assignment' and compiled.gap == 0.0
    assert np.bincount(compiled.assignment, minlength=experts).max() <= capacity
    # what the LP path with the exact compiler would return has the same value
    assert compiled.value == pytest.approx(compile_exact(lp).value, rel=1e-9)
    np.testing.assert_array_equal(plan.fractional.sum(1), 1.0)


def test_the_planner_takes_the_direct_path_only_when_it_is_exact():
    assert solves_directly(2) and solves_directly(np.array([1.0, 3.0]), np.ones(5))
    assert not solves_directly(2.5)  # a fractional capacity: the LP may split a unit
    assert not solves_directly(2, np.array([1.0, 2.0]))  # weighted demand
    assert not solves_directly(2, None, min_share=0.5)
    affinity = AffinityMatrix(tuple('abcde'), ('e0', 'e1', 'e2'),
                              np.random.default_rng(0).random((5, 3)))
    mapping = plan_expert_mapping(affinity, 2)
    assert mapping.compiler == 'assignment' and mapping.optimal and mapping.gap == 0.0
    with pytest.raises(ValueError, match='needs demand 1 for every unit and integral'):
        plan_count_assignment(affinity.values, 1.5)
