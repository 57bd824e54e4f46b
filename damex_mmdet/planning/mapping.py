"""The GEM expert mapping artifact and the plan -> compile -> map pipeline.

``ExpertMapping.expert_map`` is what model configs take:
``{dataset_name: [expert ids]}`` (a list even for one expert; several experts
when the dataset was split into class groups). The remaining fields record how
the mapping was obtained (affinity, fractional plan, LP bound, value, gap).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .affinity import AffinityMatrix
from .class_split import PlanningUnit
from .compiler import compile_plan
from .exact import compile_exact, plan_count_assignment, solves_directly
from .planner import solve_assignment_lp

__all__ = ['ExpertMapping', 'plan_expert_mapping', 'split_demand']


@dataclass(frozen=True)
class ExpertMapping:
    """Compiled dataset -> experts mapping with its provenance.

    Attributes:
        num_experts (int): E.
        expert_map (dict[str, list[int]]): ``{dataset: sorted expert ids}``.
        class_expert_map (dict[str, dict[str, int]]): ``{dataset: {class:
            expert}}`` for datasets whose unit classes are known, else empty.
        units (tuple[PlanningUnit, ...]): The U planning units (rows).
        expert_names (tuple[str, ...]): Column labels, length E.
        affinity (np.ndarray): Shape (U, E).
        plan (np.ndarray): Fractional LP plan, shape (U, E).
        assignment (np.ndarray): Expert per unit, shape (U,).
        capacity (np.ndarray): Shape (E,).
        demand (np.ndarray): Shape (U,).
        lp_bound (float): LP optimum.
        value (float): Affinity of the compiled mapping.
        gap (float): ``lp_bound - value``.
        lp_status (str): Solver message.
        compiler (str): ``'rounding'``, ``'lp'``, ``'assignment'`` or ``'milp'``.
        optimal (bool): The mapping is proven optimal for its capacities.
    """
    num_experts: int
    expert_map: Dict[str, List[int]]
    class_expert_map: Dict[str, Dict[str, int]]
    units: Tuple[PlanningUnit, ...]
    expert_names: Tuple[str, ...]
    affinity: np.ndarray
    plan: np.ndarray
    assignment: np.ndarray
    capacity: np.ndarray
    demand: np.ndarray
    lp_bound: float
    value: float
    gap: float
    lp_status: str = field(default='')
    compiler: str = field(default='rounding')
    optimal: bool = field(default=False)

    @property
    def dataset_names(self) -> Tuple[str, ...]:
        """tuple[str, ...]: Datasets in unit order."""
        return tuple(self.expert_map)

    @property
    def loads(self) -> np.ndarray:
        """np.ndarray: Demand placed on each expert, shape (E,)."""
        return np.bincount(self.assignment, weights=self.demand, minlength=self.num_experts)


def split_demand(units: Sequence[PlanningUnit], dataset_demand: Dict[str, float],
                 class_frequencies: Optional[Dict[str, Sequence[float]]] = None,
                 dataset_classes: Optional[Dict[str, Sequence[str]]] = None) -> np.ndarray:
    """Share each dataset's demand among its units by instance share.

    A unit gets ``demand[dataset] * (instances of its classes) / (instances of
    the dataset)``; equal shares when frequencies are missing or all zero.

    Args:
        units (Sequence[PlanningUnit]): Units, U of them.
        dataset_demand (dict[str, float]): ``{dataset: demand}``.
        class_frequencies (dict, optional): ``{dataset: instances per class}``.
        dataset_classes (dict, optional): ``{dataset: classes}`` matching
            ``class_frequencies``; required with it.

    Returns:
        np.ndarray: Demand per unit, shape (U,).
    """
    class_frequencies = class_frequencies or {}
    if class_frequencies and dataset_classes is None:
        raise ValueError('split_demand: class_frequencies needs dataset_classes (the class '
                         'order the frequencies follow).')
    per_dataset: Dict[str, List[int]] = {}
    for i, unit in enumerate(units):
        per_dataset.setdefault(unit.dataset, []).append(i)
    missing = sorted(set(per_dataset) - set(dataset_demand))
    if missing:
        raise ValueError(f'No demand given for datasets {missing}.')
    out = np.zeros(len(units))
    for name, idx in per_dataset.items():
        weights = np.ones(len(idx))
        if name in class_frequencies:
            freq = dict(zip(dataset_classes[name], class_frequencies[name]))
            weights = np.array([sum(freq[c] for c in units[i].classes) for i in idx], float)
            if weights.sum() <= 0:
                weights = np.ones(len(idx))
        out[idx] = float(dataset_demand[name]) * weights / weights.sum()
    # A group whose classes never occur still costs something, so it is placed.
    return np.maximum(out, 1e-6 * max(out.max(), 1.0))


def plan_expert_mapping(affinity: AffinityMatrix,
                        capacity,
                        demand=None,
                        min_share=None,
                        units: Optional[Sequence[PlanningUnit]] = None,
                        tol: float = 1e-6,
                        refine_fixed: bool = False,
                        compiler: str = 'exact',
                        time_limit: float = 10.0) -> ExpertMapping:
    """Solve the LP, compile it and package the mapping.

    Args:
        affinity (AffinityMatrix): Units x experts affinities.
        capacity (float | np.ndarray): Per-expert capacity, scalar or (E,).
        demand (float | np.ndarray, optional): Per-unit demand (U,); default 1.
        min_share (optional): See :func:`solve_assignment_lp`.
        units (Sequence[PlanningUnit], optional): Units in row order; default
            one unit per row named like the row, with unknown classes.
        tol (float): Compiler tolerance.
        refine_fixed (bool): See :func:`compile_plan` (``compiler='rounding'``).
        compiler (str): ``'exact'`` (default: the optimal mapping, see
            :func:`compile_exact`, with the rounding result as fallback) or
            ``'rounding'`` (the paper's hierarchical rounding alone).
        time_limit (float): Seconds for the exact solver.

    Returns:
        ExpertMapping: The mapping with LP bound, value and gap.
    """
    if units is None:
        units = [PlanningUnit(n, n, ()) for n in affinity.unit_names]
    names = tuple(u.name for u in units)
    if names != affinity.unit_names:
        raise ValueError(f'Planning units {list(names)} do not match the affinity rows '
                         f'{list(affinity.unit_names)}; give the units in row order.')
    if compiler == 'exact' and solves_directly(capacity, demand, min_share):
        # an assignment problem: solved directly, its optimum is the LP's
        plan, compiled = plan_count_assignment(affinity.values, capacity, demand)
    elif compiler == 'exact':
        plan = solve_assignment_lp(affinity.values, capacity, demand, min_share)
        compiled = compile_exact(plan, time_limit=time_limit, tol=tol)
    elif compiler == 'rounding':
        plan = solve_assignment_lp(affinity.values, capacity, demand, min_share)
        compiled = compile_plan(plan, tol=tol, refine_fixed=refine_fixed)
    else:
        raise ValueError(f"compiler must be 'exact' or 'rounding', got {compiler!r}.")
    expert_map: Dict[str, List[int]] = {}
    class_map: Dict[str, Dict[str, int]] = {}
    for unit, expert in zip(units, compiled.assignment.tolist()):
        experts = expert_map.setdefault(unit.dataset, [])
        if expert not in experts:
            experts.append(expert)
        for cls in unit.classes:
            class_map.setdefault(unit.dataset, {})[cls] = expert
    expert_map = {k: sorted(v) for k, v in expert_map.items()}
    return ExpertMapping(
        num_experts=affinity.num_experts, expert_map=expert_map, class_expert_map=class_map,
        units=tuple(units), expert_names=affinity.expert_names, affinity=plan.affinity,
        plan=plan.fractional, assignment=compiled.assignment, capacity=plan.capacity,
        demand=plan.demand, lp_bound=compiled.bound, value=compiled.value, gap=compiled.gap,
        lp_status=plan.message, compiler=compiled.compiler, optimal=compiled.optimal)
