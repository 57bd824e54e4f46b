"""Per-iteration loss divergence between runs, by hand."""
import json
import math

import pytest

from damex_mmdet.analysis import divergence_rows, divergence_summary, write_divergence_report


def test_identical_prefix_and_threshold_crossings():
    base = [3.0, 2.0, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0]
    other = [3.0, 2.0, 1.5, 1.4 + 5e-5, 1.3 + 3e-3, 1.2 - 0.05, 1.1 + 0.5, 1.0 - 0.2]
    row = divergence_summary(base, other)
    assert row['iterations'] == 8 and row['identical_prefix'] == 3
    assert row['first_above'] == {0.0: 4, 1e-4: 5, 1e-2: 6, 1e-1: 7}
    # last quarter: iterations 7 and 8, |diff| 0.5 and 0.2
    assert math.isclose(row['median_late'], 0.35)


def test_identical_runs_and_unequal_lengths():
    row = divergence_summary([1.0, 0.5, 0.25], [1.0, 0.5, 0.25, 9.0])
    assert row['iterations'] == 3 and row['identical_prefix'] == 3
    assert all(v is None for v in row['first_above'].values())
    assert row['median_late'] == 0.0


def test_bad_traces_are_refused():
    with pytest.raises(ValueError, match='not finite'):
        divergence_summary([1.0, 2.0], [1.0, float('nan')])
    with pytest.raises(ValueError, match='no common iteration'):
        divergence_summary([], [1.0])
    with pytest.raises(KeyError, match="baseline 'dense'"):
        divergence_rows({'a': [1.0]}, 'dense')


def test_report_files(tmp_path):
    traces = {'dense': [2.0, 1.0, 0.5], 'same': [2.0, 1.0, 0.5], 'other': [2.5, 1.0, 0.5]}
    paths = write_divergence_report(traces, 'dense', str(tmp_path), title='t')
    md = open(paths['md']).read()
    assert '| same | 3 | 3 | > 3 | > 3 | > 3 | > 3 | 0 |' in md
    assert '| other | 3 | 0 | 1 | 1 | 1 | 1 | 0 |' in md
    rows = json.load(open(paths['json']))['rows']
    assert [r['variant'] for r in rows] == ['same', 'other']
    assert rows[1]['first_above']['0.1'] == 1
    lines = open(paths['csv']).read().splitlines()
    assert lines[0] == 'iteration,dense,same,other' and lines[1] == '1,2.0,2.0,2.5'
    assert open(paths['png'], 'rb').read(4) == b'\x89PNG'
