"""Code style of the whole repository: flake8 with setup.cfg's settings."""
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_flake8_clean():
    # flake8 is a test requirement (requirements/tests.txt): a missing one fails here
    result = subprocess.run(
        [sys.executable, '-m', 'flake8', 'damex_mmdet', 'tools', 'tests', 'configs'],
        cwd=REPO, capture_output=True, text=True)
    assert 'No module named flake8' not in result.stderr, (
        'flake8 is not installed: pip install -r requirements/tests.txt')
    assert result.returncode == 0, f'flake8 found style errors:\n{result.stdout}{result.stderr}'
