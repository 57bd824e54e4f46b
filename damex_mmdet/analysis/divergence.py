"""When two training runs stop computing the same thing: per-iteration loss differences.

Two runs from matched starts on the same batches either compute the same
detector (their losses agree bit for bit, until floating-point rounding makes
a last-bit difference that training then amplifies) or they do not (their
losses differ from the first iteration on). Comparing a variant's trace with
the baseline's, next to a control that is the baseline perturbed by a
meaningless amount (e.g. the learning rate times ``1 + 1e-6``), tells which:
a variant that is "the same detector" departs as late, and grows as fast, as
the control.
"""
import csv
import json
import math
import os
import os.path as osp
import statistics
from typing import Dict, List, Mapping, Optional, Sequence

__all__ = ['THRESHOLDS', 'divergence_summary', 'divergence_rows', 'write_divergence_report']

# |loss difference| levels whose first crossing is reported (0: any difference)
THRESHOLDS = (0.0, 1e-4, 1e-2, 1e-1)


def _first_above(diffs: Sequence[float], level: float) -> Optional[int]:
    """1-based iteration of the first difference strictly above ``level``, or None."""
    return next((i + 1 for i, d in enumerate(diffs) if d > level), None)


def divergence_summary(baseline: Sequence[float], other: Sequence[float],
                       thresholds: Sequence[float] = THRESHOLDS) -> dict:
    """Where ``other``'s per-iteration losses leave ``baseline``'s.

    Args:
        baseline (Sequence[float]): (I,) losses of the baseline, iteration 1 first.
        other (Sequence[float]): (I',) losses of the other run; the first
            ``min(I, I')`` iterations are compared.
        thresholds (Sequence[float]): |difference| levels.

    Returns:
        dict: ``iterations`` compared, ``first_above`` {level: iteration or
        None}, ``identical_prefix`` (iterations before the first difference),
        ``median_late`` (median |difference| over the last quarter), ``diffs``
        (the per-iteration |difference|, iteration 1 first).

    Raises:
        ValueError: no common iteration, or a loss is not finite.
    """
    n = min(len(baseline), len(other))
    if n == 0:
        raise ValueError('no common iteration to compare (an empty loss trace).')
    diffs = []
    for i in range(n):
        a, b = float(baseline[i]), float(other[i])
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f'iteration {i + 1}: loss {a if not math.isfinite(a) else b} is '
                             'not finite; a diverged run has no trace to compare.')
        diffs.append(abs(a - b))
    first = {level: _first_above(diffs, level) for level in thresholds}
    median_late = statistics.median(diffs[n - max(1, n // 4):])
    first_any = _first_above(diffs, 0.0)
    return dict(iterations=n, first_above=first, median_late=median_late,
                identical_prefix=n if first_any is None else first_any - 1, diffs=diffs)


def divergence_rows(traces: Mapping[str, Sequence[float]], baseline: str,
                    thresholds: Sequence[float] = THRESHOLDS) -> List[dict]:
    """One summary row per non-baseline run of ``traces`` ({name: losses})."""
    if baseline not in traces:
        raise KeyError(f'baseline {baseline!r} has no loss trace (have {sorted(traces)}).')
    rows = []
    for name, losses in traces.items():
        if name == baseline:
            continue
        row = divergence_summary(traces[baseline], losses, thresholds)
        row['variant'] = name
        rows.append(row)
    return rows


def _fmt(iteration: Optional[int], total: int) -> str:
    return f'> {total}' if iteration is None else str(iteration)


def write_divergence_report(traces: Mapping[str, Sequence[float]], baseline: str,
                            out_dir: str, title: str = '',
                            thresholds: Sequence[float] = THRESHOLDS) -> Dict[str, str]:
    """Write ``divergence.{md,csv,json,png}`` under ``out_dir``.

    Returns:
        dict: file kind -> path.
    """
    from .plots import plot_loss_divergence
    rows = divergence_rows(traces, baseline, thresholds)
    os.makedirs(out_dir, exist_ok=True)
    paths = {k: osp.join(out_dir, f'divergence.{k}') for k in ('md', 'csv', 'json', 'png')}
    levels = [f'{t:g}' for t in thresholds]
    header = (['variant', 'iterations', 'identical iterations'] +
              [f'first |diff| > {level}' for level in levels] + ['median |diff|, last quarter'])
    table = []
    for row in rows:
        n = row['iterations']
        table.append([row['variant'], str(n), str(row['identical_prefix'])] +
                     [_fmt(row['first_above'][t], n) for t in thresholds] +
                     [f"{row['median_late']:.3g}"])
    with open(paths['md'], 'w') as f:
        if title:
            f.write(f'{title}\n\n')
        f.write(f'Per-iteration total training loss of each run minus `{baseline}`\'s '
                '(same start, same batches).\n\n')
        f.write('| ' + ' | '.join(header) + ' |\n|' + '---|' * len(header) + '\n')
        for cells in table:
            f.write('| ' + ' | '.join(cells) + ' |\n')
    with open(paths['csv'], 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['iteration'] + list(traces))
        longest = max(len(v) for v in traces.values())
        for i in range(longest):
            writer.writerow([i + 1] + [repr(float(v[i])) if i < len(v) else ''
                                       for v in traces.values()])
    json_rows = [dict(row, first_above={f'{t:g}': i for t, i in row['first_above'].items()})
                 for row in rows]  # JSON keys are strings: the levels as printed
    with open(paths['json'], 'w') as f:
        json.dump(dict(baseline=baseline, thresholds=list(thresholds), rows=json_rows), f,
                  indent=1)
    plot_loss_divergence({row['variant']: row['diffs'] for row in rows}, baseline,
                         paths['png'], title=title)
    return paths
