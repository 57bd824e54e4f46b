"""What adding a dataset cost the old ones and gave the new one: the tables of its results page.

Reads the runs of the add-a-dataset arms (``damex-no-L``, ``dense-no-L``,
``add-L-...``, see :mod:`damex_mmdet.experiments.variants`) and, for the
upper reference, DAMEX trained jointly on all datasets from scratch. Every
comparison is paired by seed (mean, 95% Student-t interval):

- **old datasets**: each old dataset's AP and their mean, after an addition
  minus before it (the ``-no-L`` detector of the same seed);
- **new dataset**: its AP in each arm, minus the joint reference's, and the
  ratio of the means;
- **doors** (frozen arms): the old datasets' mean AP with the new classes shut
  minus as trained (``shut/...`` metrics), and the share of old-dataset tokens
  whose top-1 expert is the new one (``routing/top1_share.csv``);
- **compute**: iterations and training seconds per arm;
- **router accuracy** (MoE arms): the old datasets' mean before and after, the
  new dataset's after (mean over the MoE layers);
- **targets**: the plan's two targets judged per arm once enough seeds are
  paired (:func:`judge_targets`);
- **machines**: which CPU made which runs (a pair made on two CPU kinds is
  paired across machines).

AP values are COCO mAP x 100.
"""
import csv
import math
import os.path as osp
from fractions import Fraction
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from damex_mmdet.evaluation.comparison import format_difference, paired_difference

from .archive import runs_by_machine
from .runs import training_seconds

__all__ = ['TARGET_SEEDS', 'OLD_MEAN_BOUND', 'OLD_INTERVAL_BOUND', 'NEW_RATIO_TARGET',
           'COMPUTE_SHARE_TARGET', 'old_dataset_names', 'new_expert_share', 'router_accuracy_of',
           'judge_targets', 'addition_report']

Summaries = Mapping[str, Mapping[int, dict]]  # variant -> seed -> summary

TARGET_SEEDS = 3  # paired seeds a target needs before it is judged (the plan's count)
OLD_MEAN_BOUND = 0.5  # |old mean AP after - before| allowed, AP x 100
OLD_INTERVAL_BOUND = 1.0  # the 95% interval of that difference must lie inside +-this
NEW_RATIO_TARGET = 0.9  # the new dataset's AP over the joint reference's, at least
COMPUTE_SHARE_TARGET = Fraction(1, 3)  # an arm's iterations over the joint reference's, at most


def old_dataset_names(metrics: Mapping[str, float]) -> List[str]:
    """Datasets with a ``<name>/bbox_mAP`` in a before-run's metrics (``mean`` excluded)."""
    return [key.split('/')[0] for key in metrics
            if key.endswith('/bbox_mAP') and key.count('/') == 1 and
            not key.startswith('mean/')]


def _mean_ap(metrics: Mapping[str, float], names: Sequence[str], prefix: str = '') -> float:
    values = [metrics.get(f'{prefix}{name}/bbox_mAP', math.nan) for name in names]
    return 100.0 * float(np.mean(values))


def new_expert_share(routing_csv: str, old_names: Sequence[str]) -> float:
    """Share of the old datasets' tokens whose top-1 is the last (new) expert.

    Mean over the MoE layers and the old datasets of ``routing/top1_share.csv``.
    """
    with open(routing_csv, newline='') as f:
        rows = list(csv.DictReader(f))
    last = max(int(key[1:]) for key in rows[0] if key.startswith('e') and key[1:].isdigit())
    shares = [float(row[f'e{last}']) for row in rows if row['dataset'] in old_names]
    if not shares:
        raise ValueError(f'{routing_csv}: no row of the old datasets {list(old_names)}.')
    return float(np.mean(shares))


def router_accuracy_of(summary: dict, names: Sequence[str]) -> float:
    """Router accuracy (%) of ``names``: mean over the MoE layers of the mean over the names.

    NaN for a run without router accuracy (dense) or without any of ``names``.
    """
    per_layer = [[values[n] for n in names if n in values]
                 for values in (summary.get('router_accuracy') or {}).values()]
    per_layer = [float(np.mean(v)) for v in per_layer if v]
    return 100.0 * float(np.mean(per_layer)) if per_layer else math.nan


def _mean_std(values: Sequence[float]) -> str:
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return 'n/a'
    std = f' ± {np.std(values, ddof=1):.1f}' if len(values) > 1 else ''
    return f'{np.mean(values):.1f}{std}'


def _seeds_paired(diff: Optional[Mapping]) -> str:
    """``'2 (0, 1)'``: how many seeds a paired difference rests on, and which."""
    if not diff or not diff.get('n'):
        return '0'
    return f"{diff['n']} ({', '.join(map(str, diff['seeds']))})"


def judge_targets(old_difference: Optional[Mapping], new_minus_joint: Optional[Mapping],
                  new_ratio: float, iterations: Optional[int],
                  joint_iterations: Optional[int],
                  seeds_needed: int = TARGET_SEEDS) -> Dict[str, dict]:
    """The plan's two targets for one addition arm: met, missed, or not judged.

    - **old**: the old datasets' mean AP moved by at most :data:`OLD_MEAN_BOUND`
      (after - before, paired by seed) and its 95% interval lies inside
      +-:data:`OLD_INTERVAL_BOUND`;
    - **new**: the new dataset reached :data:`NEW_RATIO_TARGET` of the joint
      reference's AP with at most :data:`COMPUTE_SHARE_TARGET` of its training
      iterations.

    A target is judged only on ``seeds_needed`` paired seeds or more.

    Args:
        old_difference: :func:`paired_difference` of the old mean, after - before.
        new_minus_joint: :func:`paired_difference` of the new AP, arm - joint.
        new_ratio (float): the arm's mean new AP over the joint reference's.
        iterations (int | None): the arm's training iterations.
        joint_iterations (int | None): the joint reference's training iterations.
        seeds_needed (int): paired seeds needed to judge.

    Returns:
        dict: ``{'old': {...}, 'new': {...}}``, each with ``verdict`` (``'met'``,
        ``'missed'`` or ``'not judged'``) and ``why`` (one short phrase).
    """
    def too_few(diff):
        n = diff['n'] if diff else 0
        return dict(verdict='not judged', why=f'{n} of {seeds_needed} seeds')

    if not old_difference or old_difference['n'] < seeds_needed:
        old = too_few(old_difference)
    else:
        mean, low, high = (old_difference[k] for k in ('mean', 'ci_low', 'ci_high'))
        inside = abs(mean) <= OLD_MEAN_BOUND and -OLD_INTERVAL_BOUND <= low \
            and high <= OLD_INTERVAL_BOUND
        old = dict(verdict='met' if inside else 'missed', why=format_difference(old_difference))
    if not new_minus_joint or new_minus_joint['n'] < seeds_needed:
        new = too_few(new_minus_joint)
    elif not iterations or not joint_iterations:
        new = dict(verdict='not judged', why="the joint reference's iterations are unknown")
    else:
        share = Fraction(iterations, joint_iterations)
        reached = new_ratio >= NEW_RATIO_TARGET and share <= COMPUTE_SHARE_TARGET
        new = dict(verdict='met' if reached else 'missed',
                   why=f'{new_ratio:.2f} of joint AP at {iterations}/{joint_iterations} '
                       'iterations')
    return dict(old=old, new=new)


def _joint_iterations(joint: Optional[Mapping[int, dict]]) -> Optional[int]:
    """The joint reference's iterations, when every seed records the same."""
    found = {m.get('max_iters') for m in (joint or {}).values()}
    return found.pop() if len(found) == 1 and None not in found else None


def addition_report(summaries: Summaries, dataset: str,
                    joint: Optional[Mapping[int, dict]] = None,
                    run_dirs: Optional[Mapping[str, Mapping[int, str]]] = None,
                    joint_iterations: Optional[int] = None) -> dict:
    """The tables of adding ``dataset`` (see the module docstring).

    Args:
        summaries: ``variant -> seed -> summary`` of the arms of ``dataset``.
        dataset (str): the added dataset L.
        joint: ``seed -> summary`` of DAMEX trained on all datasets from scratch.
        run_dirs: ``variant -> seed -> run folder`` (for the routing shares).
        joint_iterations (int | None): the joint reference's training iterations
            (for the compute target); ``None`` reads them from ``joint``'s
            summaries, and leaves the target unjudged when they do not record
            them.

    Returns:
        dict: ``markdown`` (str) and ``data`` (the figures, JSON-ready).
    """
    from damex_mmdet.evaluation.results_table import format_markdown_table
    arms = sorted(v for v in summaries if v.startswith(f'add-{dataset}-'))
    before_of = {arm: f'dense-no-{dataset}' if '-finetune-dense' in arm else
                 f'damex-no-{dataset}' for arm in arms}
    reference = summaries.get(f'damex-no-{dataset}') or summaries.get(f'dense-no-{dataset}')
    if not reference:
        raise ValueError(f'no finished damex-no-{dataset} / dense-no-{dataset} run: nothing to '
                         'compare the additions to.')
    names = old_dataset_names(next(iter(reference.values()))['metrics'])
    data: Dict[str, dict] = {}
    old_rows = [['arm', 'compared to', 'seeds paired', 'old mean AP before', 'after',
                 'after - before',
                 *(f'{n}: after - before' for n in names)]]
    new_rows = [['arm', f'{dataset} AP', 'minus joint', 'seeds paired', 'ratio to joint',
                 'iterations', 'train s']]
    door_rows = [['arm', 'old mean AP, new classes shut - as trained',
                  'old tokens on the new expert']]
    router_rows = [['arm', 'old datasets before', 'old datasets after', f'{dataset} after']]
    target_rows = [['arm', 'old mean kept', 'old mean, after - before', f'{dataset} reached',
                    'AP ratio and iterations']]
    if joint_iterations is None:
        joint_iterations = _joint_iterations(joint)
    joint_ap = {s: 100.0 * m['metrics'].get(f'{dataset}/bbox_mAP', math.nan)
                for s, m in (joint or {}).items()}
    for arm in arms:
        after, before = summaries[arm], summaries.get(before_of[arm], {})
        mean_after = {s: _mean_ap(m['metrics'], names) for s, m in after.items()}
        mean_before = {s: _mean_ap(m['metrics'], names) for s, m in before.items()}
        per_dataset = {n: paired_difference(
            {s: 100 * m['metrics'][f'{n}/bbox_mAP'] for s, m in after.items()},
            {s: 100 * m['metrics'][f'{n}/bbox_mAP'] for s, m in before.items()}) for n in names}
        new_ap = {s: 100.0 * m['metrics'].get(f'{dataset}/bbox_mAP', math.nan)
                  for s, m in after.items()}
        entry = dict(before=before_of[arm], seeds=sorted(after),
                     old_mean_before=mean_before, old_mean_after=mean_after,
                     old_mean_difference=paired_difference(mean_after, mean_before),
                     old_per_dataset_difference=per_dataset, new_ap=new_ap,
                     new_minus_joint=paired_difference(new_ap, joint_ap) if joint_ap else None,
                     train_seconds={s: training_seconds(m) for s, m in after.items()})
        old_rows.append([arm, before_of[arm], _seeds_paired(entry['old_mean_difference']),
                         _mean_std(list(mean_before.values())),
                         _mean_std(list(mean_after.values())),
                         format_difference(entry['old_mean_difference']),
                         *(format_difference(per_dataset[n]) for n in names)])
        ratio = (np.mean([new_ap[s] for s in new_ap if s in joint_ap]) /
                 np.mean([joint_ap[s] for s in new_ap if s in joint_ap])
                 if joint_ap and set(new_ap) & set(joint_ap) else math.nan)
        entry['new_ratio_to_joint'] = float(ratio)
        iterations = {m.get('max_iters') for m in after.values()} - {None}
        new_rows.append([arm, _mean_std(list(new_ap.values())),
                         format_difference(entry['new_minus_joint']) if joint_ap else 'n/a',
                         _seeds_paired(entry['new_minus_joint']),
                         f'{ratio:.2f}' if math.isfinite(ratio) else 'n/a',
                         ', '.join(map(str, sorted(iterations))) or 'n/a',
                         _mean_std([v for v in entry['train_seconds'].values()
                                    if v is not None])])
        if any(f'shut/{names[0]}/bbox_mAP' in m['metrics'] for m in after.values()):
            shut = {s: _mean_ap(m['metrics'], names, 'shut/') for s, m in after.items()}
            entry['shut_minus_trained'] = paired_difference(shut, mean_after)
            shares = {}
            for seed in after:
                path = osp.join((run_dirs or {}).get(arm, {}).get(seed, ''), 'routing',
                                'top1_share.csv')
                if osp.exists(path):
                    shares[seed] = 100.0 * new_expert_share(path, names)
            entry['old_tokens_on_new_expert'] = shares
            door_rows.append([arm, format_difference(entry['shut_minus_trained']),
                              _mean_std(list(shares.values())) + ' %' if shares else 'n/a'])
        router = {when: {s: router_accuracy_of(m, names) for s, m in runs.items()}
                  for when, runs in (('old_before', before), ('old_after', after))}
        router['new_after'] = {s: router_accuracy_of(m, [dataset]) for s, m in after.items()}
        if any(math.isfinite(v) for v in router['old_after'].values()):
            entry['router_accuracy'] = router
            router_rows.append([arm, *(_mean_std(list(router[k].values())) for k in
                                       ('old_before', 'old_after', 'new_after'))])
        entry['targets'] = judge_targets(
            entry['old_mean_difference'], entry['new_minus_joint'], ratio,
            max(iterations) if iterations else None, joint_iterations)
        target_rows.append([arm, *(entry['targets'][k][f] for k in ('old', 'new')
                                   for f in ('verdict', 'why'))])
        data[arm] = entry
    machines = runs_by_machine({**summaries, **({'joint reference': joint} if joint else {})})
    lines = [f'Adding `{dataset}`: AP x 100, paired by seed, mean [95% t interval] (`*`: '
             'excludes 0).', '', '**Old datasets**, after minus before:', '',
             format_markdown_table(old_rows), '', f'**The new dataset** (`{dataset}`), against '
             'DAMEX trained jointly on all datasets from scratch:', '',
             format_markdown_table(new_rows), '']
    if len(door_rows) > 1:
        lines += ['**Where the old datasets can move** (frozen arms):', '',
                  format_markdown_table(door_rows), '']
    if len(router_rows) > 1:
        lines += ['**Router accuracy** (% of tokens on a mapped expert, mean over the MoE '
                  'layers):', '', format_markdown_table(router_rows), '']
    lines += [f'**Targets** (fixed in the plan before any run), judged on {TARGET_SEEDS} paired '
              f'seeds or more: the old mean moves by at most {OLD_MEAN_BOUND} AP with its '
              f'interval inside ±{OLD_INTERVAL_BOUND}; `{dataset}` reaches {NEW_RATIO_TARGET} '
              f'of joint training\'s AP with at most {COMPUTE_SHARE_TARGET} of its iterations '
              f'({joint_iterations or "unknown"}):', '', format_markdown_table(target_rows), '']
    lines += ['**Machines** (the runs each CPU made):', '',
              *(f'- {label}: {", ".join(runs)}' for label, runs in machines.items()), '']
    return dict(markdown='\n'.join(lines), data=dict(dataset=dataset, old_datasets=names,
                                                     joint_ap=joint_ap,
                                                     joint_iterations=joint_iterations,
                                                     arms=data,
                                                     machines=machines))
