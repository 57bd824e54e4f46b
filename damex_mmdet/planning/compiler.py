"""GEM compiler: hierarchical rounding of the LP plan into an integral mapping.

Shapes: ``U`` planning units, ``E`` experts. Every unit ends on exactly one
expert and every expert's load ``sum demand[u]`` stays within its capacity.
The scheme works level by level, each level only touching what the previous
ones left open:

1. **Pass-through.** Rows with an entry ``>= 1 - tol`` keep that expert, and
   rows with a positive ``min_share`` lower bound are pinned to it (an
   integral ``x`` meeting ``x >= lower > 0`` must be 1 there). These rows are
   *fixed*. An already-integral LP optimum is therefore returned unchanged
   (rounding schemes that only look at fractional mass lose such entries).
2. **Rounding of fractional mass.** The remaining rows are placed one by one,
   largest demand first (big units are hardest to fit, as in first-fit
   decreasing), then largest maximal share, then lowest index. A row goes to
   the expert of its LP support with the largest share (ties: higher
   affinity, then lower index) that still has room; failing that to the
   highest-affinity expert with room; failing that to its largest-share
   expert, overflowing it.
3. **Repair.** While an expert is over capacity, move the unit that loses the
   least affinity per unit of removed overflow to an expert where it fits
   (ties: lowest unit, then expert index); if no single move fits, exchange a
   unit of the over-full expert with a smaller unit elsewhere, again the
   cheapest per unit of removed overflow. Each step lowers the total overflow
   and never overfills the receiving expert, so the loop ends. Rounded rows
   are moved first; LP-integral rows only when no rounded row can move;
   pinned rows never. If nothing can move, levels 2-3 are run once more with
   the LP-integral rows rounded as well (their LP expert is their only
   support, so they usually stay, but the largest-demand-first order now
   includes them); if that fails too, :class:`RoundingError` is raised. The
   weighted problem is a generalised assignment problem (NP-hard), so the
   heuristic can miss a feasible mapping when capacities are very tight.
4. **Improvement.** While some single move, or else some exchange of two
   rows on different experts, of rounded rows raises the value and keeps
   both experts within capacity, apply the best one (ties: lowest indices).
   ``refine_fixed=True`` lets this level move LP-integral rows too (on random
   weighted instances it finds the best integral mapping more often, about
   93% instead of 81% of the time), at the cost of the pass-through rule.

The output is deterministic: every choice is an arg-max/arg-min with an index
tie-break. ``gap = bound - value >= 0`` bounds the loss to the best integral
mapping, because the LP bound is at least the best integral value.
"""
import time
from dataclasses import dataclass

import numpy as np

from .local_search import RoundingError, improve_mapping, repair_overflow
from .planner import LPPlan

__all__ = ['CompiledPlan', 'compile_plan']


@dataclass(frozen=True)
class CompiledPlan:
    """Integral mapping compiled from an :class:`LPPlan`.

    Attributes:
        assignment (np.ndarray): Expert id per unit, shape (U,), int64.
        value (float): ``sum_u w[u, assignment[u]]``.
        bound (float): LP bound the value is compared with.
        gap (float): ``bound - value`` (>= 0 up to solver tolerance).
        loads (np.ndarray): Demand placed on each expert, shape (E,).
        num_fixed (int): Rows passed through at level 1.
        num_moved (int): Units moved by the repair level.
        compiler (str): What produced it: ``'rounding'`` (this module),
            ``'lp'``, ``'assignment'`` or ``'milp'`` (:mod:`damex_mmdet.planning.exact`).
        optimal (bool): Proven optimal (exact solve, or ``gap == 0``).
        seconds (float): Time the compiler took.
    """
    assignment: np.ndarray
    value: float
    bound: float
    gap: float
    loads: np.ndarray
    num_fixed: int
    num_moved: int
    compiler: str = 'rounding'
    optimal: bool = False
    seconds: float = 0.0

    @property
    def integral(self) -> np.ndarray:
        """np.ndarray: One-hot plan, shape (U, E)."""
        onehot = np.zeros((self.assignment.size, self.loads.size))
        onehot[np.arange(self.assignment.size), self.assignment] = 1.0
        return onehot


def _round_row(u, x, w, dem, room, tol):
    """Level 2 choice for row ``u`` given the remaining room (E,)."""
    fits = dem[u] <= room + tol * max(dem[u], 1.0)
    support = x[u] > tol
    cand = np.flatnonzero(support & fits)
    if cand.size:
        # lexsort: last key is primary -> share desc, affinity desc, index asc.
        return int(cand[np.lexsort((cand, -w[u, cand], -x[u, cand]))[0]])
    cand = np.flatnonzero(fits)
    if cand.size:
        return int(cand[np.argmax(w[u, cand])])
    return int(np.argmax(x[u]))


def _round_and_repair(plan: LPPlan, fixed: np.ndarray, fixed_to: np.ndarray,
                      frozen: np.ndarray, tol: float):
    """Levels 2 and 3 with the rows in ``fixed`` placed on ``fixed_to`` first."""
    x, w, dem, cap = plan.fractional, plan.affinity, plan.demand, plan.capacity
    assign = np.where(fixed, fixed_to, -1)
    loads = np.bincount(assign[fixed], weights=dem[fixed], minlength=cap.size)
    rows = np.flatnonzero(~fixed)
    order = rows[np.lexsort((rows, -x[rows].max(axis=1), -dem[rows]))]
    for u in order:
        e = _round_row(u, x, w, dem, cap - loads, tol)
        assign[u] = e
        loads[e] += dem[u]
    moved = repair_overflow(assign, ~fixed, frozen, w, dem, cap, loads, tol)
    return assign, loads, moved


def compile_plan(plan: LPPlan, tol: float = 1e-6, refine_fixed: bool = False) -> CompiledPlan:
    """Round an LP plan into a deterministic, capacity-respecting mapping.

    Args:
        plan (LPPlan): Output of :func:`solve_assignment_lp`.
        tol (float): Entries within ``tol`` of 1 count as integral, entries
            below ``tol`` as zero; also the relative capacity slack. Default 1e-6.
        refine_fixed (bool): Let level 4 also move rows that were integral in
            the LP (never pinned rows) when that raises the value. An
            LP-optimal integral plan is still returned unchanged (no move can
            improve it). Default False: integral rows always pass through.

    Returns:
        CompiledPlan: Assignment, value, LP bound and gap.
    """
    start = time.perf_counter()
    x, w = plan.fractional, plan.affinity
    # Level 1: pass-through of pinned (min_share > 0) and integral rows.
    pinned = plan.lower > tol
    multi = np.flatnonzero(pinned.sum(axis=1) > 1)
    if multi.size:
        raise RoundingError(f'Unit {int(multi[0])} has a positive min_share on several experts; '
                            'an integral mapping can honour it on one expert only.')
    too_big = np.flatnonzero(plan.demand > plan.capacity.max() * (1 + tol))
    if too_big.size:
        u = int(too_big[0])
        raise RoundingError(f'Unit {u} has demand {plan.demand[u]:.6g}, more than the largest '
                            f'expert capacity {plan.capacity.max():.6g}, so no integral mapping '
                            'exists; raise the capacities or split the unit into class groups.')
    is_pinned = pinned.any(axis=1)
    fixed = is_pinned | (x.max(axis=1) >= 1 - tol)
    fixed_to = np.where(is_pinned, np.argmax(pinned, axis=1), np.argmax(x, axis=1))
    try:
        assign, loads, moved = _round_and_repair(plan, fixed, fixed_to, is_pinned, tol)
    except RoundingError as err:
        if not np.any(fixed & ~is_pinned):
            raise
        # Fallback: round the integral rows too (they enter level 2 with their
        # LP expert as only support), which frees them for the repair level.
        try:
            fixed = is_pinned
            assign, loads, moved = _round_and_repair(plan, fixed, fixed_to, is_pinned, tol)
        except RoundingError:
            raise err from None
    movable = ~is_pinned if refine_fixed else ~fixed
    improve_mapping(assign, movable, w, plan.demand, plan.capacity, loads, tol)
    value = float(w[np.arange(x.shape[0]), assign].sum())
    gap = plan.bound - value
    if abs(gap) <= 1e-9 * max(1.0, abs(plan.bound)):
        gap = 0.0  # summation-order noise when the mapping equals the LP vertex
    return CompiledPlan(assignment=assign, value=value, bound=plan.bound, gap=float(gap),
                        loads=loads, num_fixed=int(fixed.sum()), num_moved=moved,
                        optimal=gap == 0.0, seconds=time.perf_counter() - start)
