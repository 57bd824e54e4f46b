"""tools/misc/archive_runs.py: a thin command line over experiments.archive."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, 'tools', 'misc', 'archive_runs.py')


def _tool(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def test_the_tool_archives_finished_runs_and_says_so_when_there_is_none(tmp_path):
    work, dest = tmp_path / 'work', tmp_path / 'archive'
    run = work / 'dense' / 'seed2'
    run.mkdir(parents=True)
    (run / 'summary.json').write_text(json.dumps({'metrics': {}}))  # unfinished
    empty = _tool(work, dest)
    assert empty.returncode != 0
    assert 'no finished run' in empty.stderr and str(work) in empty.stderr

    (run / 'summary.json').write_text(json.dumps({'metrics': {}, 'fingerprint': 'f'}))
    done = _tool(work, dest, '--seeds', 2)
    assert done.returncode == 0, done.stderr
    assert f'archived {dest}/dense/seed2' in done.stdout
    assert json.loads((dest / 'dense' / 'seed2' / 'summary.json').read_text())['fingerprint'] == 'f'

    missing = _tool(tmp_path / 'nowhere', dest)
    assert missing.returncode != 0 and 'nowhere: no such folder' in missing.stderr
