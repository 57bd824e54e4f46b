"""Every method in every measured regime, one table read from the committed results.json files.

Each experiment of ``docs/results/<experiment>/`` holds the comparison
tool's ``results.json`` (per-seed metrics, mean ± std, paired differences
to its baseline with a 95% t interval). :func:`summary_table` puts the mean
AP of dense, vanilla MoE, DAMEX, GEM and the GEM paper's baselines side by
side for the three regimes, so the README's table is generated from the data
and cannot drift from it (a test compares them).
"""
import json
import os.path as osp
from typing import Dict, List, Sequence, Tuple

__all__ = ['REGIMES', 'METHODS', 'summary_cells', 'summary_table']

# (column title, experiments read for it, variant name -> method row)
REGIMES: Tuple[Tuple[str, Tuple[str, ...], Dict[str, str]], ...] = (
    ('600 it from scratch', ('default_benchmark', 'baselines'), {}),
    ('1800 it from scratch', ('long_schedule', ), {}),
    ('continued +600 it from trained dense', ('continuation', ),
     {'cont-dense': 'dense', 'cont-moe': 'moe', 'cont-damex': 'damex'}),
)
# (row name, what it is)
METHODS: Tuple[Tuple[str, str], ...] = (
    ('dense', 'DINO, dense FFNs (baseline)'),
    ('moe', 'vanilla MoE (top-1, balancing loss, cf 1.25)'),
    ('damex', 'DAMEX'),
    ('gem', 'GEM'),
    ('remoe', 'ReMoE'),
    ('softmoe', 'Soft MoE'),
    ('moepp', 'MoE++'),
)
METRIC = 'mean/bbox_mAP'


def _cell(entry: dict, baseline: bool) -> str:
    summary = entry['summary']
    text = f"{100 * summary['mean']:.1f} ± {100 * summary['std']:.1f}"
    diff = entry.get('difference')
    if baseline or not diff:
        return text
    star = '*' if diff['distinguishable'] else ''
    return (f"{text}; {100 * diff['mean']:+.1f} [{100 * diff['ci_low']:+.1f}, "
            f"{100 * diff['ci_high']:+.1f}]{star}")


def summary_cells(results_dir: str) -> Tuple[Dict[str, Dict[str, str]], Dict[str, List[int]]]:
    """Mean AP cells of every (method, regime) found in ``results_dir``.

    Args:
        results_dir (str): Folder holding ``<experiment>/results.json``.

    Returns:
        tuple: ``cells[method][regime]`` (mean ± std x 100 over seeds, then
        the paired difference to the regime's baseline with its 95% interval,
        ``*`` where it excludes 0) and ``seeds[regime]``.
    """
    cells, seeds = {}, {}
    for title, experiments, rename in REGIMES:
        for experiment in experiments:
            with open(osp.join(results_dir, experiment, 'results.json')) as f:
                results = json.load(f)
            seeds.setdefault(title, results['seeds'])
            if results['seeds'] != seeds[title]:
                raise ValueError(f'{experiment}: seeds {results["seeds"]} differ from the other '
                                 f'experiments of "{title}" ({seeds[title]}).')
            for variant, metrics in results['comparison'].items():
                method = rename.get(variant, variant if not rename else None)
                if method not in dict(METHODS):
                    continue
                baseline = variant == results['baseline']
                cells.setdefault(method, {})[title] = _cell(metrics[METRIC], baseline)
    return cells, seeds


def summary_table(results_dir: str, methods: Sequence[str] = tuple(m for m, _ in METHODS)) -> str:
    """The markdown table of :func:`summary_cells` (methods as rows, regimes as columns).

    Returns:
        str: Markdown, ending with a newline.
    """
    cells, seeds = summary_cells(results_dir)
    names = dict(METHODS)
    titles = [title for title, _, _ in REGIMES]
    header = ['method'] + [f'{t} (seeds {", ".join(map(str, seeds[t]))})' for t in titles]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for method in methods:
        if method not in cells:
            continue
        row = [names[method]] + [cells[method].get(t, '-') for t in titles]
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines) + '\n'
