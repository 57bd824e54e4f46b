"""Results tables in the layout of the DAMEX paper's Table 1.

Rows are methods, columns are datasets then ``mean``; values are COCO AP
x 100. Each method's results come from one or more files:

- ``per_dataset_ap.csv`` written by ``MultiDatasetCocoMetric`` (rows
  ``AP``/``AP50``/``AP75``, columns datasets then ``mean``, percentages);
- an mmengine metrics log: the ``<timestamp>.json`` of a test run (one JSON
  object) or the ``vis_data/scalars.json`` of a training run (JSON lines; the
  last line with the metric wins), with keys like ``kitti/bbox_mAP`` (values
  in [0, 1]).

A single-dataset run evaluated with mmdet's ``CocoMetric`` reports
``coco/bbox_mAP`` whatever the data; give ``PATH#kitti`` to name its column.
The ``mean`` column is recomputed over the columns shown (``n/a`` when a
method lacks one of them), so every row averages the same datasets.
"""
import csv
import json
import os
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from damex_mmdet.evaluation.results_table import (METRIC_ROWS, format_csv_table,
                                                  format_markdown_table)

__all__ = ['METRICS', 'parse_result_spec', 'load_ap_results', 'gather_method_results',
           'results_table_rows', 'write_results_table']

# row label of per_dataset_ap.csv -> metric key suffix of the logs
METRICS: Dict[str, str] = {label: key for key, label in METRIC_ROWS}


def parse_result_spec(spec: str) -> Tuple[str, str, Optional[str]]:
    """``'NAME=PATH'`` or ``'NAME=PATH#DATASET'`` -> ``(name, path, dataset or None)``."""
    name, sep, rest = spec.partition('=')
    path, _, dataset = rest.partition('#')
    if not sep or not name or not path:
        raise ValueError(f'result {spec!r} is not NAME=PATH (optionally NAME=PATH#DATASET), '
                         'e.g. damex=work_dirs/damex/per_dataset_ap.csv.')
    return name, path, dataset or None


def _from_csv(path: str, metric: str) -> Dict[str, float]:
    with open(path, newline='', encoding='utf-8') as handle:
        rows = [row for row in csv.reader(handle) if row]
    if not rows or rows[0][0] != 'metric':
        raise ValueError(f'{path} is not a per_dataset_ap.csv (its first cell should be '
                         "'metric', then the dataset names).")
    for row in rows[1:]:
        if row[0] == metric:
            return {column: float(value) for column, value in zip(rows[0][1:], row[1:])
                    if value != 'n/a' and column != 'mean'}
    raise ValueError(f'{path} has no {metric!r} row (rows: {[r[0] for r in rows[1:]]}).')


def _metric_values(record: Mapping, key: str) -> Dict[str, float]:
    """``{'kitti/bbox_mAP': 0.61, ...}`` -> ``{'kitti': 61.0}`` (any key prefix allowed)."""
    out = {}
    for full_key, value in record.items():
        parts = full_key.split('/')
        if len(parts) >= 2 and parts[-1] == key and parts[-2] != 'mean' \
                and isinstance(value, (int, float)) and value >= 0:
            out[parts[-2]] = 100.0 * float(value)
    return out


def _from_json(path: str, metric: str) -> Dict[str, float]:
    key = METRICS[metric]
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    try:
        records = [json.loads(text)]
    except json.JSONDecodeError:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    for record in reversed(records):
        values = _metric_values(record, key) if isinstance(record, dict) else {}
        if values:
            return values
    raise ValueError(f'{path} holds no key like "<dataset>/{key}"; give a test-run '
                     '<timestamp>.json, a scalars.json or a per_dataset_ap.csv.')


def load_ap_results(path: str, metric: str = 'AP',
                    dataset: Optional[str] = None) -> Dict[str, float]:
    """Per-dataset AP (x 100) of one result file.

    Args:
        path (str): a ``per_dataset_ap.csv`` or an mmengine JSON metrics log.
        metric (str): ``'AP'``, ``'AP50'`` or ``'AP75'``.
        dataset (str, optional): name the single column of a one-dataset file.

    Returns:
        dict[str, float]: dataset -> AP in percent (``mean`` excluded).
    """
    if metric not in METRICS:
        raise ValueError(f'metric={metric!r}; use one of {list(METRICS)}.')
    if not osp.isfile(path):
        raise FileNotFoundError(f'result file {path} does not exist.')
    values = _from_csv(path, metric) if path.endswith('.csv') else _from_json(path, metric)
    if dataset is not None:
        if len(values) != 1:
            raise ValueError(f'{path}#{dataset}: renaming needs a file with one dataset, but it '
                             f'has {sorted(values)}.')
        values = {dataset: next(iter(values.values()))}
    return values


def gather_method_results(specs: Sequence[str], metric: str = 'AP'
                          ) -> Dict[str, Dict[str, float]]:
    """Read ``NAME=PATH[#DATASET]`` specs; files of the same NAME are merged into one row.

    Raises:
        ValueError: when two files of one method report the same dataset.
    """
    methods: Dict[str, Dict[str, float]] = {}
    for spec in specs:
        name, path, dataset = parse_result_spec(spec)
        values = load_ap_results(path, metric, dataset)
        row = methods.setdefault(name, {})
        twice = sorted(set(row) & set(values))
        if twice:
            raise ValueError(f'method {name!r} gets dataset(s) {twice} from more than one file '
                             f'(again in {path}); give each dataset once.')
        row.update(values)
    return methods


def results_table_rows(methods: Mapping[str, Mapping[str, float]],
                       datasets: Optional[Sequence[str]] = None,
                       decimals: int = 1) -> List[List[str]]:
    """Table cells: header ``method, <datasets>, mean``, then one row per method.

    Args:
        methods (Mapping): method -> {dataset: AP x 100}.
        datasets (Sequence[str], optional): columns in order; default: every
            dataset, in order of first appearance.
        decimals (int): decimals of the values.

    Returns:
        list[list[str]]: rows of strings; missing values are ``n/a``.
    """
    if datasets is None:
        datasets = list(dict.fromkeys(d for values in methods.values() for d in values))
    if not datasets:
        raise ValueError('the results table has no dataset column.')
    rows = [['method', *datasets, 'mean']]
    for name, values in methods.items():
        cells = [values.get(d) for d in datasets]
        mean = None if any(v is None for v in cells) else sum(cells) / len(cells)
        rows.append([name, *('n/a' if v is None else f'{v:.{decimals}f}'
                             for v in (*cells, mean))])
    return rows


def write_results_table(rows: List[List[str]], out_dir: str,
                        stem: str = 'results_table') -> Dict[str, str]:
    """Write ``<stem>.md`` and ``<stem>.csv``; returns ``{'md': path, 'csv': path}``."""
    os.makedirs(out_dir, exist_ok=True)
    paths = dict(md=osp.join(out_dir, f'{stem}.md'), csv=osp.join(out_dir, f'{stem}.csv'))
    with open(paths['md'], 'w', encoding='utf-8') as handle:
        handle.write(format_markdown_table(rows) + '\n')
    with open(paths['csv'], 'w', encoding='utf-8') as handle:
        handle.write(format_csv_table(rows))
    return paths
