"""The papers' claims as paired comparisons of finished runs, each with a verdict.

A claim names two variants of the comparison tool and what the papers say of
them: the first is better (``'better'``), the first is not worse
(``'not_worse'``), or, for a control, the two do not differ (``'equal'``).
Its evidence is the paired difference ``variant - reference`` of mean AP over
the seeds both ran (mean, 95% Student-t interval), and its verdict one of:

- ``supported``: the interval excludes 0 on the side the claim states (for
  ``'equal'``: the interval contains 0);
- ``contradicted``: the interval excludes 0 on the other side (for ``'equal'``:
  it excludes 0 at all);
- ``not resolvable here``: the interval contains 0; the sentence then gives
  the smallest true difference the same number of pairs detects with 80%
  power, with the spread of the paired differences seen as the noise.

Fewer than two pairs give ``not tested``. Each claim also carries the paired
differences of every dataset's AP, of the AP on objects a dataset leaves
unannotated (``drawn/...`` metrics of benchmark v2) and the router accuracy of
its MoE variants, so that one can read where a gain or a loss sits.

AP values are COCO mAP x 100.
"""
import math
from dataclasses import asdict, dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

from damex_mmdet.evaluation.comparison import format_difference, paired_difference
from damex_mmdet.evaluation.power import detectable_difference
from damex_mmdet.evaluation.results_table import format_markdown_table

from .archive import runs_by_machine, seeds_across_machines

__all__ = ['Claim', 'V2_CLAIMS', 'VERDICTS', 'REGIME_RMS_BOUND', 'REGIME_SEEDS', 'judge',
           'regime_check', 'claims_report']

#: the three verdicts a tested claim can get (and ``not tested``)
VERDICTS = ('supported', 'contradicted', 'not resolvable here', 'not tested')
_KINDS = ('better', 'not_worse', 'equal')


@dataclass(frozen=True)
class Claim:
    """One claim: ``variant`` against ``reference`` on mean AP."""

    key: str  # short id used in tables and results (e.g. '1', '3a')
    statement: str  # the claim in one sentence, as the papers make it
    variant: str  # the comparison tool's variant the claim is about (minuend)
    reference: str  # the variant it is compared with (subtrahend)
    kind: str = 'better'  # 'better' | 'not_worse' (variant >= reference) | 'equal' (a control)

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f'Claim {self.key!r}: kind must be one of {_KINDS}, '
                             f'got {self.kind!r}.')


#: The claims of ``docs/results/benchmark_v2/PLAN.md`` (fixed with the plan, before any
#: MoE run). Claim 6 (where the gains sit) is read from the per-dataset columns of 1 and 4.
V2_CLAIMS: Tuple[Claim, ...] = (
    Claim('control', 'A 1e-6 change of the learning rate moves no result (jitter control)',
          'dense-jitter', 'dense', 'equal'),
    Claim('1', 'DAMEX beats dense DINO', 'damex', 'dense'),
    Claim('2', 'Dataset-aware routing beats vanilla MoE', 'damex', 'moe'),
    Claim('3a', "Vanilla MoE's deficit is its token dropping: dropless MoE beats it",
          'moe-dropless', 'moe'),
    Claim('3b', 'Without token dropping, vanilla MoE is not worse than DAMEX',
          'moe-dropless', 'damex', 'not_worse'),
    Claim('4', 'A human-prior map beats a random one (DAMEX Table 5)',
          'damex', 'damex-random-map'),
    Claim('5', "GEM's map-forced dispatch is at least as good as DAMEX's learned routing",
          'gem', 'damex', 'not_worse'),
)


#: the plan's regime (step 1): the schedule holds if ``dense-jitter`` moves mean AP by at most
#: this root mean square (AP x 100) over :data:`REGIME_SEEDS` seeds; otherwise it doubles
REGIME_RMS_BOUND = 1.0
#: how many seeds the regime's root mean square is taken over
REGIME_SEEDS = 3


def regime_check(summaries: Mapping[str, Mapping[int, dict]], variant: str = 'dense-jitter',
                 reference: str = 'dense', bound: float = REGIME_RMS_BOUND,
                 seeds_needed: int = REGIME_SEEDS) -> dict:
    """The jitter control's root mean square over seeds, and whether the schedule holds.

    The root mean square of ``variant - reference`` (mean AP x 100, paired by seed) is
    what the plan bounds. Before all ``seeds_needed`` seeds exist the check can already
    fail: the missing seeds can only add squares, so ``sqrt(sum d^2 / seeds_needed)`` is a
    lower bound of the final value.

    Args:
        summaries (Mapping): ``variant -> seed -> summary.json`` of finished runs.
        variant (str): the control (the reference with a meaningless perturbation).
        reference (str): the variant it perturbs.
        bound (float): the largest root mean square (AP x 100) at which the schedule holds.
        seeds_needed (int): the seeds the plan takes the root mean square over.

    Returns:
        dict: ``variant``, ``reference``, ``differences`` (seed -> difference), ``n``,
        ``rms`` (over the seeds there are; NaN for none), ``rms_lower_bound`` (over
        ``seeds_needed``), ``bound``,
        ``seeds_needed`` and ``verdict``: ``'holds'`` (all seeds, RMS within the bound),
        ``'fails'`` (the bound is already exceeded) or ``'undecided'``.
    """
    after = _per_seed(summaries, variant, 'mean/bbox_mAP')
    before = _per_seed(summaries, reference, 'mean/bbox_mAP')
    differences = {s: after[s] - before[s] for s in sorted(set(after) & set(before))}
    squares = sum(d * d for d in differences.values())
    n = len(differences)
    rms = math.sqrt(squares / n) if n else math.nan
    lower = math.sqrt(squares / max(n, seeds_needed))
    if lower > bound:
        verdict = 'fails'
    elif n >= seeds_needed:
        verdict = 'holds'
    else:
        verdict = 'undecided'
    return dict(variant=variant, reference=reference, differences=differences, n=n, rms=rms,
                rms_lower_bound=lower, bound=bound, seeds_needed=seeds_needed, verdict=verdict)


def _regime_sentence(regime: Mapping) -> str:
    per_seed = ', '.join(f'seed {s}: {d:+.2f}' for s, d in regime['differences'].items())
    head = (f"`{regime['variant']}` - `{regime['reference']}`, mean AP x 100 ({per_seed}); "
            "root mean square "
            f"{regime['rms']:.2f} over {regime['n']} seed(s), against the plan's bound of "
            f"{regime['bound']:.1f} over {regime['seeds_needed']}.")
    if regime['verdict'] == 'holds':
        return f'{head} **The schedule holds.**'
    if regime['verdict'] == 'fails':
        return (f"{head} **The schedule fails**: even with the missing seeds at 0 the root "
                f"mean square is {regime['rms_lower_bound']:.2f}; the plan doubles it.")
    return f"{head} **Undecided**: {regime['seeds_needed'] - regime['n']} seed(s) to go."


def judge(claim: Claim, difference: Mapping, detectable: float) -> Tuple[str, str]:
    """The verdict of ``claim`` and one plain sentence saying why.

    Args:
        claim (Claim): the claim.
        difference (Mapping): :func:`~damex_mmdet.evaluation.comparison.paired_difference`
            of mean AP x 100 (``n``, ``mean``, ``ci_low``, ``ci_high``).
        detectable (float): smallest difference (AP x 100) the same number of pairs detects
            with 80% power (NaN when unknown).

    Returns:
        tuple[str, str]: one of :data:`VERDICTS`, and the sentence.
    """
    n = difference['n']
    if n < 2:
        return 'not tested', f'{n} pair(s): an interval needs at least 2.'
    low, high, mean = difference['ci_low'], difference['ci_high'], difference['mean']
    interval = f'{mean:+.1f} [{low:+.1f}, {high:+.1f}] AP over {n} pairs'
    power = (f'; {n} pairs detect a true difference of {detectable:.1f} AP with 80% power'
             if math.isfinite(detectable) else '')
    excludes = low > 0 or high < 0
    if claim.kind == 'equal':
        if excludes:
            return 'contradicted', f'{interval} excludes 0: the two differ.'
        return 'supported', f'{interval} contains 0{power}.'
    if low > 0:
        return 'supported', f'{interval}: {claim.variant} is better than {claim.reference}.'
    if high < 0:
        return 'contradicted', f'{interval}: {claim.variant} is worse than {claim.reference}.'
    bound = (f'; a deficit larger than {-low:.1f} AP is excluded'
             if claim.kind == 'not_worse' else '')
    return 'not resolvable here', f'{interval} contains 0{bound}{power}.'


def _per_seed(summaries: Mapping[str, Mapping[int, dict]], variant: str,
              metric: str) -> Dict[int, float]:
    return {seed: 100.0 * s['metrics'][metric]
            for seed, s in summaries.get(variant, {}).items() if metric in s['metrics']}


def _router_accuracy(runs: Mapping[int, dict]) -> Dict[str, float]:
    """``router_acc/<layer>`` -> mean over the seeds that report it, in %."""
    values: Dict[str, List[float]] = {}
    for summary in runs.values():
        for key, value in summary['metrics'].items():
            if key.startswith('router_acc/'):
                values.setdefault(key, []).append(100.0 * value)
    return {key: sum(v) / len(v) for key, v in sorted(values.items())}


def claims_report(summaries: Mapping[str, Mapping[int, dict]],
                  claims: Sequence[Claim] = V2_CLAIMS) -> dict:
    """Every claim's evidence and verdict, and its markdown.

    Args:
        summaries (Mapping): ``variant -> seed -> summary.json`` of finished runs
            (:func:`damex_mmdet.experiments.runs.load_summaries`).
        claims (Sequence[Claim]): the claims to judge.

    Returns:
        dict: ``data`` (``claims``: one entry per claim with ``difference`` of mean AP,
        ``detectable``, ``verdict``, ``sentence``, ``per_metric`` paired differences and
        ``router_accuracy``; ``regime``: :func:`regime_check` of the first control claim
        (kind ``'equal'``), None without one) and ``markdown``.
    """
    entries: List[dict] = []
    for claim in claims:
        runs = [summaries.get(v, {}) for v in (claim.variant, claim.reference)]
        keys = sorted({k for side in runs for s in side.values() for k in s['metrics']})
        per_metric = {}
        for metric in keys:
            if not (metric.endswith('/bbox_mAP') or metric.endswith('/bbox_mAP_50')):
                continue
            diff = paired_difference(_per_seed(summaries, claim.variant, metric),
                                     _per_seed(summaries, claim.reference, metric))
            if diff['n']:
                per_metric[metric] = diff
        main = per_metric.get('mean/bbox_mAP') or paired_difference({}, {})
        detectable = detectable_difference(main['std'], main['n']) if main['n'] >= 2 \
            else math.nan
        verdict, sentence = judge(claim, main, detectable)
        accuracy = {v: _router_accuracy(summaries.get(v, {}))
                    for v in (claim.variant, claim.reference)}
        entries.append(dict(claim=asdict(claim), difference=main, detectable=detectable,
                            verdict=verdict, sentence=sentence, per_metric=per_metric,
                            router_accuracy={v: a for v, a in accuracy.items() if a},
                            seeds_across_machines=seeds_across_machines(
                                summaries, claim.variant, claim.reference)))
    machines = runs_by_machine(summaries)
    control = next((c for c in claims if c.kind == 'equal'), None)
    regime = regime_check(summaries, control.variant, control.reference) if control else None
    markdown = _markdown(entries, machines)
    if regime and regime['n']:
        markdown = f'**The regime** (the jitter control): {_regime_sentence(regime)}\n\n' + \
            markdown
    return dict(data=dict(claims=entries, machines=machines, regime=regime),
                markdown=markdown)


def _drawn_label(metric: str) -> str:
    """``drawn/street/signs/bbox_mAP_50`` -> ``signs drawn in street AP50``."""
    images, classes = metric.split('/')[1:3]
    if images == classes:
        return f'every {images} object drawn AP50'
    return f'{classes} drawn in {images} AP50'


def _markdown(entries: Sequence[dict], machines: Mapping[str, Sequence[str]]) -> str:
    rows = [['claim', 'statement', 'difference (mean AP)', 'pairs', 'excludes 0',
             'detectable (80% power)', 'verdict']]
    for e in entries:
        c, d = e['claim'], e['difference']
        rows.append([c['key'], f"{c['statement']} (`{c['variant']}` - `{c['reference']}`)",
                     format_difference(d), _pairs(d['n'], e['seeds_across_machines']),
                     'yes' if d.get('distinguishable') else 'no',
                     f"{e['detectable']:.1f}" if math.isfinite(e['detectable']) else 'n/a',
                     f"**{e['verdict']}**"])
    lines = ['Paired differences per seed of mean AP x 100, mean [95% t interval]; `*`: the '
             'interval excludes 0. "detectable": the smallest true difference the same pairs '
             'detect with 80% power, the spread of the paired differences taken as the noise.',
             '', format_markdown_table(rows), '']
    lines += [f"- **{e['claim']['key']}: {e['verdict']}.** {e['sentence']}" for e in entries]
    names = sorted({m.split('/')[0] for e in entries for m in e['per_metric']
                    if m.count('/') == 1 and not m.startswith('mean/')})
    drawn = sorted({m for e in entries for m in e['per_metric'] if m.startswith('drawn/') and
                    m.endswith('/bbox_mAP_50')})
    if names:
        columns = [f'{n}/bbox_mAP' for n in names] + drawn
        labels = [f'{n} AP' for n in names] + [_drawn_label(m) for m in drawn]
        per = [['claim', *labels]]
        for e in entries:
            per.append([e['claim']['key'],
                        *(format_difference(e['per_metric'].get(m)) for m in columns)])
        lines += ['', 'Where each difference sits: per dataset AP, and AP50 on the objects a '
                  'dataset draws but does not annotate ("B drawn in A": B\'s classes scored '
                  "against every drawn object in A's test images):", '', format_markdown_table(per)]
    lines += ['', 'Machines (the runs each CPU made):', '',
              *(f'- {label}: {", ".join(runs)}' for label, runs in machines.items())]
    return '\n'.join(lines) + '\n'


def _pairs(n: int, across: Sequence[int]) -> str:
    """``'3'``, or ``'3 (seed 2 across CPUs)'`` when pairs were made on two machines."""
    if not across:
        return str(n)
    return f"{n} (seed{'s' if len(across) > 1 else ''} {', '.join(map(str, across))} across CPUs)"
