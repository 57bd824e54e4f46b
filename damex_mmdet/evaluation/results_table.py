"""Per-dataset AP tables laid out like Table 1 of the DAMEX paper.

Columns are the datasets in dataset-id (sorted name) order, then ``mean``; rows are the
metrics. Values are percentages (AP x 100); a dataset without ground truth is
shown as ``n/a``. Example (markdown)::

    | metric | kitti | voc  | mean |
    |--------|-------|------|------|
    | AP     | 61.8  | 56.0 | 58.9 |
    | AP50   | 80.1  | 77.3 | 78.7 |
    | AP75   | 65.0  | 60.2 | 62.6 |
"""
import os
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = ['METRIC_ROWS', 'ap_table_rows', 'format_markdown_table',
           'format_csv_table', 'write_ap_tables']

# metric key suffix -> row label
METRIC_ROWS: Tuple[Tuple[str, str], ...] = (
    ('bbox_mAP', 'AP'),
    ('bbox_mAP_50', 'AP50'),
    ('bbox_mAP_75', 'AP75'),
)


def ap_table_rows(metrics: Mapping[str, float],
                  columns: Sequence[str],
                  decimals: int = 1) -> List[List[str]]:
    """Table cells (header first) from a flat ``'<column>/<metric>'`` dict.

    Args:
        metrics (Mapping[str, float]): Values in [0, 1], keyed like
            ``'kitti/bbox_mAP'`` or ``'mean/bbox_mAP_50'``.
        columns (Sequence[str]): Column names (datasets, then ``'mean'``).
        decimals (int): Decimals of the percentages.

    Returns:
        list[list[str]]: ``1 + len(METRIC_ROWS)`` rows of
        ``1 + len(columns)`` cells; missing values are ``'n/a'``.
    """
    rows = [['metric', *columns]]
    for key, label in METRIC_ROWS:
        row = [label]
        for column in columns:
            value = metrics.get(f'{column}/{key}')
            row.append('n/a' if value is None else
                       f'{100 * value:.{decimals}f}')
        rows.append(row)
    return rows


def format_markdown_table(rows: List[List[str]]) -> str:
    """Render rows (header first) as an aligned markdown table."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(cells):
        return '| ' + ' | '.join(
            cell.ljust(width) for cell, width in zip(cells, widths)) + ' |'

    separator = '|' + '|'.join('-' * (width + 2) for width in widths) + '|'
    return '\n'.join([line(rows[0]), separator, *map(line, rows[1:])])


def format_csv_table(rows: List[List[str]]) -> str:
    """Render rows (header first) as CSV (names never contain commas)."""
    return '\n'.join(','.join(row) for row in rows) + '\n'


def write_ap_tables(metrics: Mapping[str, float],
                    columns: Sequence[str],
                    out_dir: Optional[str]) -> Dict[str, str]:
    """Write ``per_dataset_ap.md`` and ``per_dataset_ap.csv``.

    Args:
        metrics (Mapping[str, float]): See :func:`ap_table_rows`.
        columns (Sequence[str]): Column names (datasets, then ``'mean'``).
        out_dir (str, optional): Folder (created if missing); None writes
            nothing.

    Returns:
        dict[str, str]: ``{'md': path, 'csv': path}``, empty when
        ``out_dir`` is None.
    """
    if out_dir is None:
        return {}
    os.makedirs(out_dir, exist_ok=True)
    markdown_rows = ap_table_rows(metrics, columns, decimals=1)
    csv_rows = ap_table_rows(metrics, columns, decimals=2)
    paths = dict(
        md=osp.join(out_dir, 'per_dataset_ap.md'),
        csv=osp.join(out_dir, 'per_dataset_ap.csv'))
    with open(paths['md'], 'w', encoding='utf-8') as handle:
        handle.write(format_markdown_table(markdown_rows) + '\n')
    with open(paths['csv'], 'w', encoding='utf-8') as handle:
        handle.write(format_csv_table(csv_rows))
    return paths
