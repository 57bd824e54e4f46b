"""GEM compiler, exact mode: the integral assignment solved to optimality.

Shapes: ``U`` planning units, ``E`` experts. The integral problem is the LP of
:mod:`damex_mmdet.planning.planner` with ``x`` binary::

    maximise    sum_{u,e} w[u,e] x[u,e]
    subject to  sum_e x[u,e] = 1,   sum_u demand[u] x[u,e] <= capacity[e],
                x[u,e] = 1 where min_share pins unit u to expert e

- **Count demand** (every demand 1): an assignment problem. Expert ``e`` is
  repeated ``floor(capacity[e])`` times and ``scipy.optimize.linear_sum_assignment``
  solves it exactly in polynomial time.
- **Weighted demand**: a generalised assignment problem (NP-hard), solved as a
  MILP with ``scipy.optimize.milp`` (HiGHS branch and bound) under a time
  limit. The hierarchical-rounding result (:func:`compile_plan`) is always
  computed as well: it is returned when the MILP does not prove optimality in
  time and is not beaten by the MILP's best solution, or when the MILP finds
  nothing. ``optimal`` says whether the returned mapping is proven optimal.

- **Solved directly** (:func:`plan_count_assignment`): with count demand,
  integral capacities and no ``min_share``, the LP optimum *is* an optimal
  assignment (total unimodularity), so the LP is not solved at all: the
  assignment problem goes straight to ``linear_sum_assignment`` (1000
  datasets x 64 experts: about as fast as calling it by hand, against
  seconds for the LP; ``tools/benchmarks/bench_planning.py``).
- **Integral LP optimum** (always for count demand, whose constraint matrix
  is totally unimodular): it reaches the LP bound, so it is already the best
  integral mapping and is returned unchanged (``compiler='lp'``), as the
  rounding compiler's pass-through does (e.g. the class groups of a split
  dataset keep the different experts the LP gave them).

The returned :class:`~damex_mmdet.planning.compiler.CompiledPlan` names the
method in ``compiler`` and whether it is proven optimal in ``optimal`` (the
MILP is solved with a relative gap of 1e-9, not HiGHS's default 1e-4).
"""
import dataclasses
import time

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, milp

from .compiler import CompiledPlan, compile_plan
from .local_search import RoundingError
from .planner import LPPlan, validate_plan_inputs

__all__ = ['compile_exact', 'is_count_demand', 'solves_directly', 'plan_count_assignment']


def is_count_demand(plan: LPPlan, tol: float = 1e-9) -> bool:
    """Whether every demand is 1 (capacities then count units)."""
    return bool(np.all(np.abs(plan.demand - 1.0) <= tol))


def solves_directly(capacity, demand=None, min_share=None, tol: float = 1e-9) -> bool:
    """Whether :func:`plan_count_assignment` gives the LP's optimum: count demand (every
    demand 1), integral capacities and no ``min_share``."""
    if min_share is not None:
        return False
    if demand is not None and not np.all(np.abs(np.asarray(demand, float) - 1.0) <= tol):
        return False
    cap = np.asarray(capacity, float)
    return bool(np.all(np.abs(cap - np.round(cap)) <= tol))


def plan_count_assignment(affinity, capacity, demand=None):
    """The optimal mapping of a count-demand problem without solving its LP.

    Expert ``e`` is repeated ``capacity[e]`` times and the assignment problem
    is solved by ``scipy.optimize.linear_sum_assignment``. With integral
    capacities the LP's constraint matrix is totally unimodular, so its
    optimum equals this assignment's value: the returned plan is that
    (integral) LP solution and its bound.

    Args:
        affinity (np.ndarray): ``w``, shape (U, E).
        capacity (float | np.ndarray): integral units per expert, scalar or (E,).
        demand (optional): None or all ones.

    Returns:
        tuple: the :class:`LPPlan` (one-hot ``fractional``, ``bound`` = value)
        and the :class:`CompiledPlan` (``compiler='assignment'``, optimal).

    Raises:
        ValueError: not a count-demand problem with integral capacities, or
            invalid inputs (see :func:`validate_plan_inputs`).
    """
    if not solves_directly(capacity, demand):
        raise ValueError('plan_count_assignment needs demand 1 for every unit and integral '
                         'capacities; solve the LP (solve_assignment_lp) otherwise.')
    start = time.perf_counter()
    w, cap, dem, lower = validate_plan_inputs(affinity, capacity, demand)
    slots = np.round(cap).astype(int)
    columns = np.repeat(np.arange(slots.size), slots)
    rows, cols = linear_sum_assignment(w[:, columns], maximize=True)
    assign = np.empty(w.shape[0], dtype=np.int64)
    assign[rows] = columns[cols]
    fractional = np.zeros_like(w)
    fractional[np.arange(w.shape[0]), assign] = 1.0
    bound = float(w[np.arange(w.shape[0]), assign].sum())
    plan = LPPlan(fractional=fractional, bound=bound, status=0,
                  message='solved directly as an assignment problem (count demand, integral '
                  'capacities: equals the LP optimum)', affinity=w, capacity=cap, demand=dem,
                  lower=lower)
    return plan, _result(plan, assign, 'assignment', True, time.perf_counter() - start)


def _result(plan, assign, compiler, optimal, seconds, num_fixed=0, num_moved=0):
    w = plan.affinity
    value = float(w[np.arange(assign.size), assign].sum())
    gap = plan.bound - value
    if abs(gap) <= 1e-9 * max(1.0, abs(plan.bound)):
        gap = 0.0
    loads = np.bincount(assign, weights=plan.demand, minlength=plan.capacity.size)
    return CompiledPlan(assignment=assign.astype(np.int64), value=value, bound=plan.bound,
                        gap=float(gap), loads=loads, num_fixed=num_fixed,
                        num_moved=num_moved, compiler=compiler, optimal=optimal,
                        seconds=seconds)


def _pins(plan: LPPlan, tol: float) -> np.ndarray:
    """(U,) expert each unit is pinned to by ``min_share``, -1 where none."""
    pinned = plan.lower > tol
    if np.any(pinned.sum(axis=1) > 1):
        u = int(np.flatnonzero(pinned.sum(axis=1) > 1)[0])
        raise RoundingError(f'Unit {u} has a positive min_share on several experts; an '
                            'integral mapping can honour it on one expert only.')
    return np.where(pinned.any(axis=1), np.argmax(pinned, axis=1), -1)


def _solve_count(plan: LPPlan, pins: np.ndarray, tol: float) -> np.ndarray:
    slots = np.floor(plan.capacity + tol).astype(int)
    if slots.sum() < plan.demand.size:
        raise RoundingError(f'{plan.demand.size} units but the capacities hold only '
                            f'{int(slots.sum())}; raise the capacities.')
    columns = np.repeat(np.arange(slots.size), slots)
    score = plan.affinity[:, columns].astype(np.float64)
    for u in np.flatnonzero(pins >= 0):  # pinned units may only take their expert's slots
        score[u, columns != pins[u]] = -1e9
    rows, cols = linear_sum_assignment(score, maximize=True)
    assign = np.empty(plan.demand.size, dtype=np.int64)
    assign[rows] = columns[cols]
    if np.any((pins >= 0) & (assign != pins)):
        raise RoundingError('min_share pins more units on an expert than its capacity holds.')
    return assign


def _solve_milp(plan: LPPlan, pins: np.ndarray, time_limit: float, tol: float):
    """(assignment or None, proven optimal)."""
    num_u, num_e = plan.affinity.shape
    rows = np.repeat(np.arange(num_u), num_e)
    one_each = sparse.csr_array((np.ones(num_u * num_e), (rows, np.arange(num_u * num_e))),
                                shape=(num_u, num_u * num_e))
    experts = np.tile(np.arange(num_e), num_u)
    load = sparse.csr_array((np.repeat(plan.demand, num_e), (experts, np.arange(num_u * num_e))),
                            shape=(num_e, num_u * num_e))
    lower = np.zeros(num_u * num_e)
    for u in np.flatnonzero(pins >= 0):
        lower[u * num_e + pins[u]] = 1.0
    slack = tol * np.maximum(plan.capacity, 1.0)
    result = milp(-plan.affinity.reshape(-1), integrality=np.ones(num_u * num_e),
                  bounds=Bounds(lower, np.ones(num_u * num_e)),
                  constraints=[LinearConstraint(one_each, 1, 1),
                               LinearConstraint(load, -np.inf, plan.capacity + slack)],
                  options=dict(time_limit=float(time_limit), disp=False, mip_rel_gap=1e-9))
    if result.x is None:
        return None, False
    assign = result.x.reshape(num_u, num_e).argmax(axis=1)
    return assign, result.status == 0


def compile_exact(plan: LPPlan, time_limit: float = 10.0, tol: float = 1e-6) -> CompiledPlan:
    """The best integral mapping under the plan's capacities and ``min_share``.

    Args:
        plan (LPPlan): Output of :func:`solve_assignment_lp` (its affinity,
            capacity, demand, min_share bounds and LP bound are used).
        time_limit (float): Seconds for the MILP (weighted demand). Default 10.
        tol (float): Relative capacity slack, as for :func:`compile_plan`.

    Returns:
        CompiledPlan: ``compiler`` is ``'lp'``, ``'assignment'``, ``'milp'`` or
        ``'rounding'`` (the fallback), ``optimal`` whether it is proven optimal.

    Raises:
        RoundingError: no capacity-respecting mapping was found.
    """
    start = time.perf_counter()
    pins = _pins(plan, tol)
    x = plan.fractional
    if np.all(x.max(axis=1) >= 1 - tol) and np.all((pins < 0) | (x.argmax(axis=1) == pins)):
        return _result(plan, x.argmax(axis=1), 'lp', True, time.perf_counter() - start)
    if is_count_demand(plan):
        assign = _solve_count(plan, pins, tol)
        return _result(plan, assign, 'assignment', True, time.perf_counter() - start)
    try:
        rounded = compile_plan(plan, tol=tol)
    except RoundingError:
        rounded = None
    assign, optimal = _solve_milp(plan, pins, time_limit, tol)
    seconds = time.perf_counter() - start
    if assign is not None:
        exact = _result(plan, assign, 'milp', optimal, seconds)
        if optimal or rounded is None or exact.value >= rounded.value:
            return exact
    if rounded is None:
        raise RoundingError('neither the MILP (within its time limit) nor the rounding '
                            'compiler found a capacity-respecting mapping; raise the '
                            'capacities or the time limit.')
    return dataclasses.replace(rounded, seconds=seconds)
