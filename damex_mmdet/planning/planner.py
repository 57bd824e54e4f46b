"""GEM planner: LP relaxation of the unit -> expert assignment.

Shapes: ``U`` planning units (datasets or class groups), ``E`` experts.

Linear program, with ``x`` flattened row-major (``x[u * E + e]``)::

    maximise    sum_{u,e} w[u,e] x[u,e]
    subject to  sum_e x[u,e] = 1                      for every unit u
                sum_u demand[u] x[u,e] <= capacity[e] for every expert e
                lower[u,e] <= x[u,e] <= 1

``demand`` is what a unit costs an expert: all ones counts units (then
``capacity[e]`` is "how many datasets expert e may serve"), or the number of
training images/tokens of the unit (then capacity is a load budget in the same
unit). ``lower`` comes from ``min_share``. Both constraint blocks are built
as sparse matrices and solved with HiGHS through ``scipy.optimize.linprog``.

With unit demands and integer capacities the constraint matrix is totally
unimodular, so the vertex solution returned by HiGHS is already integral; with
weighted demands it generally is not, which is what
:mod:`damex_mmdet.planning.compiler` rounds.
"""
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

__all__ = ['LPPlan', 'solve_assignment_lp', 'validate_plan_inputs']


@dataclass(frozen=True)
class LPPlan:
    """Solution of the assignment LP.

    Attributes:
        fractional (np.ndarray): Plan ``x``, shape (U, E), rows sum to 1.
        bound (float): LP optimum ``sum w * x``, an upper bound on the value
            of every integral mapping that satisfies the same constraints.
        status (int): ``linprog`` status (0 = optimal).
        message (str): Solver message.
        affinity (np.ndarray): ``w``, shape (U, E).
        capacity (np.ndarray): Shape (E,).
        demand (np.ndarray): Shape (U,).
        lower (np.ndarray): Lower bounds on ``x`` from ``min_share``, shape (U, E).
    """
    fractional: np.ndarray
    bound: float
    status: int
    message: str
    affinity: np.ndarray
    capacity: np.ndarray
    demand: np.ndarray
    lower: np.ndarray


def _finite_vector(name: str, value, length: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(length, float(arr))
    if arr.shape != (length, ):
        raise ValueError(f'{name} must be a scalar or have shape ({length},), got shape '
                         f'{arr.shape}.')
    if not np.all(np.isfinite(arr)):
        raise ValueError(f'{name} contains NaN or inf ({arr.tolist()}); give finite numbers.')
    return arr


def _lower_bounds(min_share, affinity: np.ndarray) -> np.ndarray:
    """Turn ``min_share`` into a (U, E) matrix of lower bounds on ``x``."""
    num_units, num_experts = affinity.shape
    if min_share is None:
        return np.zeros_like(affinity)
    share = np.asarray(min_share, dtype=np.float64)
    if share.ndim == 0 or share.shape == (num_units, ):
        # Anchor each unit to its highest-affinity expert (ties: lowest index).
        share = _finite_vector('min_share', share, num_units)
        lower = np.zeros_like(affinity)
        lower[np.arange(num_units), np.argmax(affinity, axis=1)] = share
    elif share.shape == (num_units, num_experts):
        lower = share
    else:
        raise ValueError(f'min_share must be a scalar, shape ({num_units},) or shape '
                         f'({num_units}, {num_experts}), got shape {share.shape}.')
    if not np.all(np.isfinite(lower)) or lower.min() < 0 or lower.max() > 1:
        raise ValueError('min_share entries must be finite and within [0, 1].')
    rows = np.flatnonzero(lower.sum(axis=1) > 1 + 1e-9)
    if rows.size:
        raise ValueError(f'min_share of unit {int(rows[0])} sums to '
                         f'{lower[rows[0]].sum():.4g} > 1 across experts; a unit cannot be '
                         'guaranteed more than its whole mass.')
    return lower


def validate_plan_inputs(affinity, capacity, demand=None, min_share=None):
    """Checked ``(w, capacity, demand, lower)`` arrays; raises ValueError naming the problem."""
    w = np.asarray(affinity, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] == 0:
        raise ValueError(f'affinity must be a non-empty (units, experts) matrix, got shape '
                         f'{w.shape}; is the dataset list empty?')
    if not np.all(np.isfinite(w)):
        r, c = np.argwhere(~np.isfinite(w))[0]
        raise ValueError(f'affinity[{r}, {c}] is {w[r, c]}; every affinity must be finite.')
    num_units, num_experts = w.shape
    cap = _finite_vector('capacity', capacity, num_experts)
    if cap.min() < 0:
        raise ValueError(f'capacity must be >= 0 for every expert, got {cap.tolist()}.')
    dem = _finite_vector('demand', 1.0 if demand is None else demand, num_units)
    if dem.min() <= 0:
        raise ValueError(f'demand must be > 0 for every unit, got {dem.tolist()}.')
    if cap.sum() < dem.sum() * (1 - 1e-9):
        raise ValueError(f'infeasible plan: total capacity {cap.sum():.6g} is below total '
                         f'demand {dem.sum():.6g}; raise the per-expert capacities or add '
                         'experts.')
    lower = _lower_bounds(min_share, w)
    used = dem @ lower
    over = np.flatnonzero(used > cap * (1 + 1e-9) + 1e-12)
    if over.size:
        e = int(over[0])
        raise ValueError(f'infeasible plan: min_share already puts demand {used[e]:.6g} on '
                         f'expert {e} whose capacity is {cap[e]:.6g}; lower min_share or raise '
                         'that capacity.')
    return w, cap, dem, lower


def solve_assignment_lp(affinity: np.ndarray,
                        capacity,
                        demand=None,
                        min_share=None) -> LPPlan:
    """Solve the GEM assignment LP (see the module docstring).

    Args:
        affinity (np.ndarray): ``w``, shape (U, E); larger = better.
        capacity (float | np.ndarray): Per-expert capacity, scalar or (E,),
            in the unit of ``demand``.
        demand (float | np.ndarray, optional): Per-unit demand, scalar or
            (U,), > 0. Default 1 (capacity counts units).
        min_share (float | np.ndarray, optional): Scalar or (U,): the least
            share of each unit on its highest-affinity expert (ties: lowest
            index); or (U, E): element-wise lower bounds on ``x``.

    Returns:
        LPPlan: The fractional plan and its objective (the LP bound).
    """
    w, cap, dem, lower = validate_plan_inputs(affinity, capacity, demand, min_share)
    num_units, num_experts = w.shape
    # Rescale loads so that the largest demand is 1 (HiGHS tolerances are absolute).
    scale = dem.max()
    cols = np.arange(num_units * num_experts)
    a_eq = sparse.csr_matrix((np.ones(cols.size), (np.repeat(np.arange(num_units), num_experts),
                                                   cols)),
                             shape=(num_units, cols.size))
    a_ub = sparse.csr_matrix((np.repeat(dem / scale, num_experts), (np.tile(
        np.arange(num_experts), num_units), cols)),
                             shape=(num_experts, cols.size))
    bounds = np.stack([lower.ravel(), np.ones(cols.size)], axis=1)
    result = linprog(-w.ravel(), A_ub=a_ub, b_ub=cap / scale, A_eq=a_eq,
                     b_eq=np.ones(num_units), bounds=bounds, method='highs')
    if result.status != 0 or result.x is None:
        raise RuntimeError(f'The GEM assignment LP failed (linprog status {result.status}): '
                           f'{result.message}')
    x = np.clip(result.x.reshape(num_units, num_experts), 0.0, 1.0)
    return LPPlan(fractional=x, bound=float(-result.fun), status=int(result.status),
                  message=str(result.message), affinity=w, capacity=cap, demand=dem,
                  lower=lower)
