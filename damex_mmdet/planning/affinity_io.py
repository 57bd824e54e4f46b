"""Read and write user-supplied affinity tables (e.g. a human prior).

CSV layout (first column = unit names, header = expert labels)::

    dataset,0,1,2
    kitti,1.0,0.0,0.2
    lisa,0.9,0.1,0.0

JSON layouts (any of)::

    {"units": ["kitti", "lisa"], "experts": ["0", "1"], "affinity": [[1, 0], [0.9, 0.1]]}
    {"kitti": [1, 0], "lisa": [0.9, 0.1]}
    {"kitti": {"0": 1, "1": 0}, "lisa": {"0": 0.9, "1": 0.1}}

``"datasets"`` is accepted as an alias of ``"units"``; experts default to
``"0".."E-1"``. Rows are planning units (usually datasets), columns experts;
the expert id is the column index.
"""
import csv
import json
import os.path as osp
from typing import List

import numpy as np

from .affinity import AffinityMatrix

__all__ = ['load_affinity', 'save_affinity']


def _to_float(value, where: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f'{where}: expected a number, got {value!r}.')
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f'{where}: expected a number, got {value!r}.') from None


def _load_csv(path: str) -> AffinityMatrix:
    with open(path, newline='', encoding='utf-8') as f:
        rows = [[cell.strip() for cell in row] for row in csv.reader(f) if any(row)]
    if len(rows) < 2 or len(rows[0]) < 2:
        raise ValueError(f'{path}: an affinity CSV needs a header row (name column, then one '
                         'column per expert) and at least one data row.')
    experts = rows[0][1:]
    units: List[str] = []
    values = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise ValueError(f'{path}, data row {line}: {len(row)} cells but the header has '
                             f'{len(rows[0])}; every row needs a name and one value per expert.')
        units.append(row[0])
        values.append([
            _to_float(cell, f'{path}, row {row[0]!r}, column {experts[i]!r}')
            for i, cell in enumerate(row[1:])
        ])
    return AffinityMatrix(tuple(units), tuple(experts), np.asarray(values), source=path)


def _load_json(path: str) -> AffinityMatrix:
    with open(path, encoding='utf-8') as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path}: not valid JSON ({err}).') from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f'{path}: expected a non-empty JSON object (see the layouts in '
                         'damex_mmdet.planning.affinity_io).')
    if 'affinity' in data:
        units = data.get('units', data.get('datasets'))
        if units is None:
            raise ValueError(f'{path}: key "affinity" needs a "units" (or "datasets") list '
                             'naming the rows.')
        rows = data['affinity']
        if not isinstance(rows, list) or any(not isinstance(r, list) for r in rows):
            raise ValueError(f'{path}: "affinity" must be a list of rows (lists of numbers).')
        width = len(rows[0]) if rows else 0
        experts = data.get('experts', [str(e) for e in range(width)])
    else:
        units = list(data)
        first = data[units[0]]
        if isinstance(first, dict):
            experts = list(first)
            rows = []
            for name in units:
                row = data[name]
                if not isinstance(row, dict) or list(row) != experts:
                    raise ValueError(f'{path}: row {name!r} must map the same experts, in the '
                                     f'same order, as the first row ({experts}).')
                rows.append(list(row.values()))
        elif isinstance(first, list):
            rows = [data[name] for name in units]
            experts = [str(e) for e in range(len(first))]
        else:
            raise ValueError(f'{path}: row {units[0]!r} must be a list of numbers or an object '
                             f'{{expert: number}}, got {first!r}.')
    if any(not isinstance(r, list) or len(r) != len(experts) for r in rows):
        raise ValueError(f'{path}: every row must be a list of {len(experts)} numbers (one per '
                         'expert).')
    values = [[
        _to_float(v, f'{path}, row {units[i]!r}, column {experts[j]!r}') for j, v in enumerate(r)
    ] for i, r in enumerate(rows)]
    return AffinityMatrix(tuple(str(u) for u in units), tuple(str(e) for e in experts),
                          np.asarray(values, dtype=np.float64).reshape(len(units), len(experts)),
                          source=path)


def load_affinity(path: str) -> AffinityMatrix:
    """Load a units x experts affinity table from a ``.csv`` or ``.json`` file.

    Args:
        path (str): File path; the extension selects the format.

    Returns:
        AffinityMatrix: The validated table (finite values, unique names).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Affinity file {path!r} does not exist.')
    ext = osp.splitext(path)[1].lower()
    if ext == '.csv':
        return _load_csv(path)
    if ext == '.json':
        return _load_json(path)
    raise ValueError(f'{path}: unknown affinity file type {ext!r}; use .csv or .json.')


def save_affinity(affinity: AffinityMatrix, path: str) -> None:
    """Write an affinity table as ``.csv`` or ``.json`` (readable by :func:`load_affinity`).

    Args:
        affinity (AffinityMatrix): The table.
        path (str): Output path ending in ``.csv`` or ``.json``.
    """
    ext = osp.splitext(path)[1].lower()
    if ext == '.csv':
        with open(path, 'w', newline='', encoding='utf-8') as f:
            writer = csv.writer(f)
            writer.writerow(['unit', *affinity.expert_names])
            for name, row in zip(affinity.unit_names, affinity.values):
                writer.writerow([name, *[repr(float(v)) for v in row]])
    elif ext == '.json':
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(
                dict(units=list(affinity.unit_names), experts=list(affinity.expert_names),
                     affinity=affinity.values.tolist()), f, indent=2)
    else:
        raise ValueError(f'{path}: unknown affinity file type {ext!r}; use .csv or .json.')
