"""``tools/analysis/claims_report.py`` on finished runs' summaries: its three files, its refusal."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, 'tools', 'analysis', 'claims_report.py')


def _write(work_dir, variant, seed, mean):
    path = work_dir / variant / f'seed{seed}'
    path.mkdir(parents=True)
    metrics = {'street/bbox_mAP': mean, 'mean/bbox_mAP': mean}
    (path / 'summary.json').write_text(json.dumps(dict(metrics=metrics)))


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True,
                          timeout=300)


def test_the_claims_of_finished_runs_are_written_and_drawn(tmp_path):
    for seed in range(3):
        _write(tmp_path / 'wd', 'dense', seed, 0.50 + seed / 100)
        _write(tmp_path / 'wd', 'damex', seed, 0.53 + seed / 100 + (0.002 if seed else 0))
    out = tmp_path / 'out'
    proc = _run('--work-dir', str(tmp_path / 'wd'), '--out-dir', str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((out / 'claims.json').read_text())
    claims = {c['claim']['key']: c for c in data['claims']}
    assert claims['1']['verdict'] == 'supported'  # damex - dense: +3.1 [+2.9, +3.4]
    assert claims['2']['verdict'] == 'not tested'  # moe did not run
    assert (out / 'claims.png').stat().st_size > 0
    assert 'supported' in (out / 'claims.md').read_text()


def test_a_work_dir_without_runs_is_refused_with_the_fix(tmp_path):
    proc = _run('--work-dir', str(tmp_path), '--out-dir', str(tmp_path / 'out'))
    assert proc.returncode != 0
    assert 'no finished run' in proc.stderr and 'run the comparison first' in proc.stderr
    assert 'Traceback' not in proc.stderr
