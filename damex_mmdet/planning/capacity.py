"""How much each expert may take: the default capacity rule and explicit capacities.

Shapes: ``U`` planning units, ``E`` experts. Capacities are in the unit of
the demand (1 per unit: "how many datasets"; images: a load budget).
"""
import math
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

__all__ = ['default_capacity', 'capacity_vector', 'parse_demand_values']


def default_capacity(demand: np.ndarray, num_experts: int, factor: float = 1.25) -> np.ndarray:
    """``ceil(max(factor * total demand / E, largest demand))`` for every expert.

    The balanced share with slack ``factor``, never below the largest unit
    (an integral mapping must fit it somewhere), rounded up so that count
    demand gets integral capacities (then the plan is an assignment problem).

    Args:
        demand (np.ndarray): (U,) demand per unit.
        num_experts (int): ``E``.
        factor (float): slack over the balanced load (the capacity factor).

    Returns:
        np.ndarray: (E,) capacities.
    """
    demand = np.asarray(demand, float)
    cap = max(factor * demand.sum() / num_experts, float(demand.max()))
    return np.full(num_experts, float(math.ceil(cap)))


def capacity_vector(values: Optional[Sequence[float]], num_experts: int, demand: np.ndarray,
                    factor: float = 1.25) -> np.ndarray:
    """(E,) capacities: one value for every expert, one per expert, or the default rule.

    Raises:
        ValueError: neither 1 nor ``E`` values.
    """
    if not values:
        return default_capacity(demand, num_experts, factor)
    if len(values) not in (1, num_experts):
        raise ValueError(f'--capacity takes 1 value or one per expert ({num_experts}), got '
                         f'{len(values)}.')
    return np.broadcast_to(np.asarray(values, float), (num_experts, )).copy()


def parse_demand_values(pairs: List[str], datasets: Iterable[str]) -> Dict[str, float]:
    """``['kitti=7000', ...]`` -> ``{'kitti': 7000.0}``, names checked against ``datasets``.

    Raises:
        ValueError: an entry that is not NAME=NUMBER, or an unknown name.
    """
    datasets = list(datasets)
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition('=')
        try:
            out[name] = float(value)
        except ValueError:
            sep = ''
        if not sep or not name:
            raise ValueError(f'--demand-values entry {pair!r} is not NAME=NUMBER.')
    unknown = sorted(set(out) - set(datasets))
    if unknown:
        raise ValueError(f'--demand-values names unknown datasets {unknown}; known: '
                         f'{datasets}.')
    return out
