"""The claims report: paired by seed, judged by the interval, with the power of the pairs."""
import json
import math

import pytest

from damex_mmdet.experiments.claims import (V2_CLAIMS, Claim, claims_report, judge,
                                            regime_check)
from damex_mmdet.experiments.variants import VARIANTS


def _summary(comic, street, drawn=None, acc=None):
    metrics = {'comic/bbox_mAP': comic, 'street/bbox_mAP': street,
               'mean/bbox_mAP': (comic + street) / 2}
    if drawn is not None:
        metrics['drawn/street/signs/bbox_mAP_50'] = drawn
    if acc is not None:
        metrics['router_acc/decoder.layers.0.ffn'] = acc
    return dict(metrics=metrics)


def _diff(mean, low, high, n=3):
    return dict(n=n, mean=mean, ci_low=low, ci_high=high, std=1.0,
                distinguishable=low > 0 or high < 0)


def test_the_verdict_follows_the_interval_and_the_side_the_claim_states():
    better = Claim('1', 'a beats b', 'a', 'b')
    assert judge(better, _diff(2.0, 0.5, 3.5), 3.0)[0] == 'supported'
    assert judge(better, _diff(-2.0, -3.5, -0.5), 3.0)[0] == 'contradicted'
    verdict, sentence = judge(better, _diff(0.5, -1.0, 2.0), 3.0)
    assert verdict == 'not resolvable here' and 'detect a true difference of 3.0 AP' in sentence
    not_worse = Claim('5', 'a is not worse than b', 'a', 'b', 'not_worse')
    verdict, sentence = judge(not_worse, _diff(0.5, -1.0, 2.0), 3.0)
    assert verdict == 'not resolvable here' and 'deficit larger than 1.0 AP is excluded' in sentence
    assert judge(not_worse, _diff(-2.0, -3.5, -0.5), 3.0)[0] == 'contradicted'
    control = Claim('c', 'nothing moves', 'a', 'b', 'equal')
    assert judge(control, _diff(0.1, -0.5, 0.7), 1.0)[0] == 'supported'
    assert judge(control, _diff(1.0, 0.5, 1.5), 1.0)[0] == 'contradicted'
    assert judge(better, _diff(2.0, math.nan, math.nan, n=1), math.nan)[0] == 'not tested'
    with pytest.raises(ValueError, match="kind must be one of"):
        Claim('x', 'bad', 'a', 'b', 'greater')


def test_claims_pair_runs_by_seed_and_say_where_the_difference_sits():
    # damex: +2 AP on street at every seed (noisy per seed), comic unchanged, and finds the
    # unannotated signs better; dense-jitter: identical to dense
    dense = {s: _summary(0.50 + s / 100, 0.60 - s / 50, drawn=0.4) for s in range(3)}
    damex = {s: _summary(0.50 + s / 100, 0.62 - s / 50 + (0.004 if s == 1 else 0.0),
                         drawn=0.5, acc=0.9) for s in range(3)}
    claims = (Claim('control', 'jitter moves nothing', 'dense-jitter', 'dense', 'equal'),
              Claim('1', 'DAMEX beats dense', 'damex', 'dense'),
              Claim('4', 'prior beats random', 'damex', 'damex-random-map'))
    out = claims_report({'dense': dense, 'dense-jitter': dense, 'damex': damex}, claims)
    control, first, missing = out['data']['claims']
    assert control['verdict'] == 'supported'
    assert control['difference']['mean'] == pytest.approx(0.0)
    assert control['detectable'] == 0.0  # identical pairs: any difference would show
    assert first['verdict'] == 'supported'
    assert first['difference']['n'] == 3
    assert first['difference']['mean'] == pytest.approx((1.0 + 1.2 + 1.0) / 3)  # half of street
    assert first['per_metric']['street/bbox_mAP']['mean'] == pytest.approx((2 + 2.4 + 2) / 3)
    assert first['per_metric']['comic/bbox_mAP']['mean'] == pytest.approx(0.0)
    assert first['per_metric']['drawn/street/signs/bbox_mAP_50']['mean'] == pytest.approx(10.0)
    assert first['router_accuracy'] == {
        'damex': {'router_acc/decoder.layers.0.ffn': pytest.approx(90.0)}}
    assert 0 < first['detectable'] < 2.0
    assert missing['verdict'] == 'not tested'  # damex-random-map never ran
    md = out['markdown']
    row = next(line for line in md.splitlines() if 'DAMEX beats dense (`damex` - `dense`)' in line)
    assert '+1.1 [' in row and '**supported**' in row
    assert 'signs drawn in street AP50' in md
    json.dumps(out['data'])  # results.json-ready


def test_every_v2_claim_names_variants_of_the_comparison_tool():
    keys = [c.key for c in V2_CLAIMS]
    assert len(set(keys)) == len(keys)
    for claim in V2_CLAIMS:
        assert claim.variant in VARIANTS and claim.reference in VARIANTS, claim


def test_a_pair_made_on_two_cpus_is_named_in_the_table():
    def on(cpu, summary):
        summary['machine'] = dict(cpu=cpu, cores=2, torch='2.13.0', python='3.11.7')
        return summary
    summaries = {
        'dense': {s: on('CPU A', _summary(0.5, 0.5)) for s in range(3)},
        'damex': {0: on('CPU A', _summary(0.6, 0.5)), 1: on('CPU B', _summary(0.6, 0.5)),
                  2: _summary(0.6, 0.5)},  # seed 2 recorded before machines were
    }
    out = claims_report(summaries, [Claim('1', 'damex beats dense', 'damex', 'dense')])
    (entry, ) = out['data']['claims']
    assert entry['seeds_across_machines'] == [1]  # seed 2: unknown, so not claimed to cross
    assert '| 3 (seed 1 across CPUs) |' in out['markdown']
    assert out['data']['machines'] == {
        'CPU A, 2 cores': ['damex s0', 'dense s0', 'dense s1', 'dense s2'],
        'CPU B, 2 cores': ['damex s1'], 'not recorded': ['damex s2']}
    assert '- CPU B, 2 cores: damex s1' in out['markdown']


def _dense_pair(jitter_moves):
    """dense / dense-jitter summaries whose mean AP differs by ``jitter_moves[seed]`` (AP x 100)."""
    dense = {s: _summary(0.50, 0.70) for s in jitter_moves}
    jitter = {s: _summary(0.50 + d / 100, 0.70 + d / 100) for s, d in jitter_moves.items()}
    return {'dense': dense, 'dense-jitter': jitter}


def test_the_regime_holds_only_on_three_seeds_within_the_bound():
    held = regime_check(_dense_pair({0: 0.5, 1: -1.0, 2: 1.0}))
    assert held['rms'] == pytest.approx(math.sqrt((0.25 + 1.0 + 1.0) / 3))
    assert held['verdict'] == 'holds'
    assert regime_check(_dense_pair({0: 1.5, 1: -1.0, 2: 1.0}))['verdict'] == 'fails'
    # one seed of 0.8: the other two could still bring the RMS anywhere up to the bound
    one = regime_check(_dense_pair({0: 0.8}))
    assert one['verdict'] == 'undecided' and one['n'] == 1
    assert one['rms_lower_bound'] == pytest.approx(0.8 / math.sqrt(3))
    # one seed of 2.0 already fails: even two seeds at 0 leave 2 / sqrt(3) > 1
    early = regime_check(_dense_pair({0: 2.0}))
    assert early['verdict'] == 'fails' and early['rms_lower_bound'] > 1.0


def test_the_claims_report_states_the_regime():
    out = claims_report(_dense_pair({0: 0.8}))
    assert out['data']['regime']['verdict'] == 'undecided'
    assert out['markdown'].startswith('**The regime**')
    assert 'seed 0: +0.80' in out['markdown'] and '2 seed(s) to go' in out['markdown']
    claims = [c for c in V2_CLAIMS if c.key != 'control']
    no_control = claims_report(_dense_pair({0: 0.8}), claims)
    assert no_control['data']['regime'] is None
    assert '**The regime**' not in no_control['markdown']
