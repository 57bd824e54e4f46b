"""Heatmaps of routing utilization (DAMEX paper, Figure 3), expert similarity, GEM plans,
comparisons.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no change of
the global backend), so plotting works headless and inside other programs.
"""
import os
import os.path as osp
from typing import Mapping, Optional, Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from .routing_stats import RoutingStats

__all__ = [
    'plot_utilization', 'plot_similarity', 'plot_expert_mapping', 'plot_comparison',
    'plot_loss_divergence', 'addition_figure', 'plot_addition', 'plot_claims'
]


def _heatmap(ax, values: np.ndarray, rows: Sequence[str], columns: Sequence[str],
             vmin: float, vmax: float, cmap: str, decimals: int = 2):
    """Draw an annotated heatmap; NaN cells are grey and read ``n/a``."""
    masked = np.ma.masked_invalid(values)
    colormap = matplotlib.colormaps[cmap].with_extremes(bad='0.85')
    image = ax.imshow(masked, cmap=colormap, vmin=vmin, vmax=vmax, aspect='auto')
    ax.set_xticks(range(len(columns)), labels=list(columns))
    ax.set_yticks(range(len(rows)), labels=list(rows))
    for (i, j), value in np.ndenumerate(values):
        finite = np.isfinite(value)
        red, green, blue, _ = image.cmap(image.norm(value)) if finite else (1, 1, 1, 1)
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5  # perceived luminance
        ax.text(j, i, f'{value:.{decimals}f}' if finite else 'n/a', ha='center', va='center',
                fontsize=8, color='white' if dark else 'black')
    return image


def _save(fig: Figure, out_png: str) -> str:
    os.makedirs(osp.dirname(osp.abspath(out_png)), exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out_png, dpi=150)
    return out_png


def plot_utilization(stats: RoutingStats, out_png: str, tokens: str = 'matched',
                     title: Optional[str] = None) -> str:
    """One heatmap per MoE layer, side by side: datasets x experts, avg routing weight.

    Cells of the experts a dataset is mapped to (``stats.expert_map``) are
    outlined. One colour scale, from 0 to the largest weight, for all panels.

    Args:
        stats (RoutingStats): collected statistics.
        out_png (str): output file (folders are created).
        tokens (str): ``'matched'`` (paper) or ``'all'`` tokens.
        title (str, optional): figure title.

    Returns:
        str: ``out_png``.
    """
    utilization = stats.utilization(tokens)
    finite = utilization[np.isfinite(utilization)]
    vmax = float(finite.max()) if finite.size else 1.0
    num_layers = len(stats.layers)
    experts = [f'e{e}' for e in range(stats.num_experts)]
    width = 1.2 + num_layers * (0.9 + 0.55 * stats.num_experts)
    height = 1.6 + 0.4 * len(stats.dataset_names)
    fig = Figure(figsize=(width, height), layout='constrained')
    axes = fig.subplots(1, num_layers, squeeze=False)[0]
    for layer_idx, (ax, layer) in enumerate(zip(axes, stats.layers)):
        image = _heatmap(ax, utilization[layer_idx], stats.dataset_names, experts, 0.0, vmax,
                         'viridis')
        ax.set_title(layer, fontsize=9)
        ax.set_xlabel('expert')
        if layer_idx:
            ax.tick_params(labelleft=False)
        for d, name in enumerate(stats.dataset_names):
            for e in (stats.expert_map or {}).get(name, ()):
                ax.add_patch(Rectangle((e - 0.5, d - 0.5), 1, 1, fill=False, lw=2,
                                       edgecolor='red'))
    fig.colorbar(image, ax=list(axes), shrink=0.8, label='average routing weight')
    default = f'Expert utilization ({tokens} tokens)' + (
        '; red: mapped expert h(d)' if stats.expert_map else '')
    fig.suptitle(title or default, fontsize=10)
    return _save(fig, out_png)


def plot_similarity(matrices: Mapping[str, np.ndarray], out_png: str,
                    title: str = 'Expert similarity (cosine)') -> str:
    """One E x E heatmap per entry of ``matrices`` (e.g. per layer), side by side.

    Args:
        matrices (Mapping[str, array]): panel title -> (E, E) similarity.
        out_png (str): output file.
        title (str): figure title.

    Returns:
        str: ``out_png``.
    """
    if not matrices:
        raise ValueError('plot_similarity needs at least one matrix.')
    names = list(matrices)
    size = np.asarray(matrices[names[0]]).shape[0]
    labels = [f'e{e}' for e in range(size)]
    fig = Figure(figsize=(1.2 + len(names) * (0.9 + 0.5 * size), 1.6 + 0.45 * size),
                 layout='constrained')
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        image = _heatmap(ax, np.asarray(matrices[name], dtype=float), labels, labels, -1.0, 1.0,
                         'coolwarm')
        ax.set_title(name, fontsize=9)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label='cosine similarity')
    fig.suptitle(title, fontsize=10)
    return _save(fig, out_png)


def plot_expert_mapping(mapping, out_png: str) -> str:
    """GEM's affinity, fractional LP plan and compiled mapping side by side (units x experts).

    Cells are annotated while the panels are small (at most 30 units and 16
    experts); larger plans are drawn as plain images with sparser ticks.

    Args:
        mapping (ExpertMapping): a planned mapping
            (:func:`~damex_mmdet.planning.plan_expert_mapping`).
        out_png (str): output file (folders are created).

    Returns:
        str: ``out_png``.
    """
    panels = (('affinity', mapping.affinity), ('LP plan (fractional)', mapping.plan),
              ('compiled mapping', np.eye(mapping.num_experts)[mapping.assignment]))
    num_units, num_experts = mapping.affinity.shape
    rows = [unit.name for unit in mapping.units]
    columns = list(mapping.expert_names)
    small = num_units <= 30 and num_experts <= 16
    fig = Figure(figsize=(4 + 3 * min(num_experts, 24) * 0.45, 1.5 + min(num_units, 60) * 0.3))
    axes = fig.subplots(1, 3, squeeze=False)[0]
    for ax, (title, values) in zip(axes, panels):
        values = np.asarray(values, dtype=float)
        if small:
            image = _heatmap(ax, values, rows, columns, float(np.nanmin(values)),
                             float(np.nanmax(values)), 'viridis')
        else:
            image = ax.imshow(values, aspect='auto', cmap='viridis', interpolation='nearest')
            if num_units <= 60:
                ax.set_yticks(range(num_units), labels=rows, fontsize=7)
            if num_experts <= 24:
                ax.set_xticks(range(num_experts), labels=columns, fontsize=7)
        ax.set_title(title)
        ax.set_xlabel('expert')
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(f'GEM: LP bound {mapping.lp_bound:.4g}, value {mapping.value:.4g}, '
                 f'gap {mapping.gap:.3g}')
    fig.tight_layout()
    return _save(fig, out_png)


def plot_comparison(comparison: Mapping[str, Mapping[str, dict]], metrics: Sequence[str],
                    labels: Sequence[str], out_png: str,
                    title: str = 'AP per dataset, mean ± std over seeds') -> str:
    """Grouped bars: one group per metric, one bar per variant, error bar = std over seeds.

    Seeds are drawn as dots on their bar, so a reader sees the spread itself.

    Args:
        comparison (Mapping): see
            :func:`damex_mmdet.evaluation.comparison.compare_variants`.
        metrics (Sequence[str]): metric keys to draw (values in [0, 1]).
        labels (Sequence[str]): their axis labels.
        out_png (str): output file.
        title (str): figure title.

    Returns:
        str: ``out_png``.
    """
    variants = list(comparison)
    width = 0.8 / max(len(variants), 1)
    fig = Figure(figsize=(2.0 + 0.9 * len(metrics) * max(1, len(variants) / 3), 4.0),
                 layout='constrained')
    ax = fig.subplots()
    colors = matplotlib.colormaps['tab10']
    for v, variant in enumerate(variants):
        xs = np.arange(len(metrics)) + (v - (len(variants) - 1) / 2) * width
        summaries = [comparison[variant][m]['summary'] for m in metrics]
        means = np.array([100 * s['mean'] for s in summaries])
        stds = np.array([100 * s['std'] if np.isfinite(s['std']) else 0.0 for s in summaries])
        ax.bar(xs, means, width, yerr=stds, capsize=2, color=colors(v % 10), label=variant,
               alpha=0.85)
        for x, s in zip(xs, summaries):
            ax.plot([x] * len(s['values']), [100 * value for value in s['values']], '.',
                    color='black', markersize=3)
    ax.set_xticks(range(len(metrics)), labels=list(labels), rotation=30, ha='right')
    ax.set_ylabel('AP x 100')
    ax.legend(fontsize=8, ncols=min(len(variants), 4))
    ax.set_title(title, fontsize=10)
    return _save(fig, out_png)


def plot_loss_divergence(diffs: Mapping[str, Sequence[float]], baseline: str, out_png: str,
                         title: str = '', floor: float = 1e-8) -> str:
    """|loss difference to the baseline| per iteration, log scale, one line per run.

    Bit-identical iterations (difference 0) are drawn at ``floor`` with
    hollow markers, so the identical prefix is visible on a log axis.

    Args:
        diffs (Mapping): run -> (I,) absolute differences, iteration 1 first.
        baseline (str): the run they are differences to (axis label).
        out_png (str): output file.
        title (str): figure title.
        floor (float): where zeros are drawn.

    Returns:
        str: ``out_png``.
    """
    fig = Figure(figsize=(6.4, 3.6), layout='constrained')
    ax = fig.subplots()
    colors = matplotlib.colormaps['tab10']
    for v, (name, values) in enumerate(diffs.items()):
        values = np.asarray(values, dtype=float)
        iters = np.arange(1, len(values) + 1)
        color = colors(v % 10)
        ax.plot(iters, np.maximum(values, floor), '-', color=color, label=name, linewidth=1.2)
        zero = values == 0
        ax.plot(iters[zero], np.full(int(zero.sum()), floor), 'o', mfc='none', color=color,
                markersize=4)
    ax.set_yscale('log')
    ax.set_xlabel('training iteration')
    ax.set_ylabel(f'|loss - loss of {baseline}|')
    ax.axhline(floor, color='0.7', linewidth=0.8, linestyle=':')
    ax.plot([], [], 'o', mfc='none', color='0.4', markersize=4,
            label=f'bit-identical (drawn at {floor:g})')
    ax.legend(fontsize=8)
    ax.set_title(title or f'per-iteration loss difference to {baseline}', fontsize=10)
    return _save(fig, out_png)


def _shots(arm: str) -> Optional[int]:
    """``add-L-frozen-10shot`` -> 10, an arm on all images -> None."""
    last = arm.rsplit('-', 1)[-1]
    return int(last[:-4]) if last.endswith('shot') and last[:-4].isdigit() else None


def _addition_path(arm: str, dataset: str) -> str:
    """``add-L-frozen-replay-10shot`` -> ``frozen-replay``: the arm's path, shots dropped."""
    path = arm[len(f'add-{dataset}-'):]
    return path.rsplit('-', 1)[0] if _shots(arm) is not None else path


def addition_figure(data: Mapping) -> Figure:
    """Adding a dataset: what the old datasets lost, what the new one reached.

    Left: per old dataset (and their mean), after minus before with its 95%
    interval, one marker per arm, cut to the possible range [-100, 100].
    Each path has one colour in both panels; on the left the marker's shape
    tells the shot counts apart. Right: the new dataset's AP against the
    number of training images (shots; "all" at the right) for the frozen,
    frozen-with-replay, replay and dense fine-tuning paths, the joint
    reference as a line.

    Args:
        data (Mapping): ``data`` of
            :func:`damex_mmdet.experiments.addition_report.addition_report`.

    Returns:
        Figure: the two panels, not yet saved.
    """
    arms, names = data['arms'], list(data['old_datasets'])
    fig = Figure(figsize=(11.0, 4.0), layout='constrained')
    left, right = fig.subplots(1, 2, width_ratios=[1.4, 1.0])
    colors = matplotlib.colormaps['tab10']
    # one colour per path in both panels; the marker tells the shots apart on the left
    paths = {'frozen': [], 'frozen-replay': [], 'finetune-dense': [], 'replay': []}
    for arm in arms:
        paths.setdefault(_addition_path(arm, data['dataset']), [])
    color_of = {path: colors(i % 10) for i, path in enumerate(paths)}
    counts = sorted({_shots(a) for a in arms} - {None})
    marker_of = {None: 'o', **{s: 's^vDP*X'[i % 7] for i, s in enumerate(counts)}}
    width = 0.8 / max(len(arms), 1)
    lowest, highest = 0.0, 0.0
    for a, (arm, entry) in enumerate(arms.items()):
        diffs = [entry['old_per_dataset_difference'][n] for n in names]
        diffs.append(entry['old_mean_difference'])
        xs = np.arange(len(diffs)) + (a - (len(arms) - 1) / 2) * width
        means = np.array([d['mean'] for d in diffs])
        low = np.array([d['mean'] - d['ci_low'] if np.isfinite(d['ci_low']) else 0.0
                        for d in diffs])
        high = np.array([d['ci_high'] - d['mean'] if np.isfinite(d['ci_high']) else 0.0
                         for d in diffs])
        lowest = np.nanmin([lowest, *(means - low)])
        highest = np.nanmax([highest, *(means + high)])
        left.errorbar(xs, means, yerr=[low, high], fmt=marker_of[_shots(arm)], capsize=2,
                      color=color_of[_addition_path(arm, data['dataset'])], label=arm,
                      markersize=4)
    # a difference of AP x 100 lies in [-100, 100]; a wider interval (few seeds) is cut there
    left.set_ylim(max(lowest, -100.0) - 5.0, min(highest, 100.0) + 5.0)
    left.axhline(0.0, color='black', linewidth=0.8)
    left.set_xticks(range(len(names) + 1), labels=[*names, 'mean'], rotation=30, ha='right')
    left.set_ylabel('AP x 100, after - before (95% interval)')
    left.set_title(f"old datasets when {data['dataset']} is added", fontsize=10)
    # below the axes: differences of tens of AP fill the whole panel
    left.legend(fontsize=7, ncols=2, loc='upper center', bbox_to_anchor=(0.5, -0.22))
    for arm, entry in arms.items():
        path = _addition_path(arm, data['dataset'])
        if path in paths:
            values = [v for v in entry['new_ap'].values() if np.isfinite(v)]
            paths[path].append((_shots(arm), np.mean(values) if values else np.nan,
                                np.std(values, ddof=1) if len(values) > 1 else 0.0))
    position = {s: i for i, s in enumerate(counts)}
    position[None] = len(counts)
    for path, points in paths.items():
        points = sorted(points, key=lambda t: position[t[0]])
        if points:
            right.errorbar([position[s] for s, _, _ in points], [m for _, m, _ in points],
                           yerr=[e for _, _, e in points], fmt='o-', capsize=2,
                           color=color_of[path], label=path)
    joint = [v for v in data.get('joint_ap', {}).values() if np.isfinite(v)]
    if joint:
        right.axhline(np.mean(joint), color='black', linestyle='--', linewidth=1,
                      label='joint training (reference)')
    right.set_xticks(range(len(counts) + 1), labels=[*map(str, counts), 'all'])
    right.set_xlabel('training images of the new dataset')
    right.set_ylabel(f"{data['dataset']} AP x 100 (mean ± std over seeds)")
    right.set_title('the new dataset', fontsize=10)
    right.legend(fontsize=7)
    return fig


def plot_addition(data: Mapping, out_png: str) -> str:
    """Write :func:`addition_figure` of ``data`` to ``out_png`` and return the path."""
    return _save(addition_figure(data), out_png)


def plot_claims(data: Mapping, out_png: str) -> str:
    """The claims on one axis: each paired difference of mean AP with its 95% interval.

    One row per claim (top first), the marker coloured by its verdict; a
    claim with fewer than two pairs has a marker and no interval.

    Args:
        data (Mapping): ``data`` of :func:`damex_mmdet.experiments.claims.claims_report`.
        out_png (str): output file.

    Returns:
        str: ``out_png``.
    """
    entries = list(data['claims'])
    colors = {'supported': 'tab:green', 'contradicted': 'tab:red',
              'not resolvable here': 'tab:gray', 'not tested': 'lightgray'}
    fig = Figure(figsize=(8.0, 0.5 * len(entries) + 1.4), layout='constrained')
    ax = fig.subplots()
    for row, entry in enumerate(entries):
        d, y = entry['difference'], len(entries) - 1 - row
        if d['n'] == 0:
            continue
        if np.isfinite(d.get('ci_low', np.nan)):
            ax.plot([d['ci_low'], d['ci_high']], [y, y], color=colors[entry['verdict']])
        ax.plot([d['mean']], [y], 'o', color=colors[entry['verdict']])
    ax.axvline(0.0, color='black', linewidth=0.8)
    ax.set_yticks(range(len(entries)), labels=[
        f"{e['claim']['key']}: {e['claim']['variant']} - {e['claim']['reference']}"
        for e in reversed(entries)], fontsize=8)
    ax.set_xlabel('mean AP x 100, paired difference per seed (95% interval)')
    handles = [Line2D([], [], color=c, marker='o', label=v)
               for v, c in colors.items() if any(e['verdict'] == v for e in entries)]
    ax.legend(handles=handles, fontsize=7, loc='best')
    return _save(fig, out_png)
