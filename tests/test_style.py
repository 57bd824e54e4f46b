"""Code style of the whole repository: flake8 with setup.cfg's settings, thin tools."""
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_flake8_clean():
    # flake8 is a test requirement (requirements/tests.txt): a missing one fails here
    result = subprocess.run(
        [sys.executable, '-m', 'flake8', 'damex_mmdet', 'tools', 'tests', 'configs'],
        cwd=REPO, capture_output=True, text=True)
    assert 'No module named flake8' not in result.stderr, (
        'flake8 is not installed: pip install -r requirements/tests.txt')
    assert result.returncode == 0, f'flake8 found style errors:\n{result.stdout}{result.stderr}'


@pytest.mark.parametrize('tool', ['run_default_benchmark.py', 'plan_experts.py'])
def test_the_main_tools_are_thin_command_lines(tool):
    """Their logic lives in the library (damex_mmdet/experiments, planning, analysis)."""
    with open(osp.join(REPO, 'tools', tool)) as f:
        lines = f.read().splitlines()
    assert len(lines) <= 100, f'tools/{tool} has {len(lines)} lines; move logic to the library'


def test_the_detector_mixin_is_wiring_only():
    """Routing losses live in damex_mmdet/moe/routing_losses.py (no mmdet there)."""
    with open(osp.join(REPO, 'damex_mmdet', 'models', 'moe_detector.py')) as f:
        assert len(f.read().splitlines()) <= 200
