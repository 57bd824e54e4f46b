"""TimeEstimateHook: one early line with the measured speed and the time left."""
import time

import pytest

from damex_mmdet.engine import TimeEstimateHook


class _Logger:
    def __init__(self):
        self.lines = []

    def info(self, line):
        self.lines.append(line)


class _Runner:
    def __init__(self, start, max_iters):
        self.iter, self.max_iters, self.logger = start, max_iters, _Logger()


@pytest.mark.parametrize('start', [0, 40])  # a fresh run, a resumed one
def test_one_estimate_from_the_timed_iterations(start):
    hook, runner = TimeEstimateHook(skip=1, measure=2), _Runner(start, 100)
    for it in range(start, start + 6):
        runner.iter = it
        hook.before_train_iter(runner, it)
        time.sleep(0.05)
        hook.after_train_iter(runner, it)
    (line, ) = runner.logger.lines
    left = 100 - (start + 3)
    assert f'iterations {start + 2}-{start + 3}' in line and f'remaining {left} of 100' in line
    per_iter = float(line.split('time estimate: ')[1].split(' s')[0])
    assert 0.04 <= per_iter < 0.5
    minutes = float(line.split('about ')[1].split(' min')[0])
    assert minutes == pytest.approx(left * per_iter / 60, abs=0.06)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='measure >= 1'):
        TimeEstimateHook(measure=0)
