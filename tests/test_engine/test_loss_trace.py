"""LossTraceHook: every iteration's losses at full precision, written after training."""
import json
from types import SimpleNamespace

import pytest
import torch

from damex_mmdet.engine import LossTraceHook, load_loss_trace


def _runner(tmp_path, it=0):
    return SimpleNamespace(iter=it, work_dir=str(tmp_path), logger=SimpleNamespace(
        info=lambda msg: None))


def test_records_each_iteration_exactly_and_writes_json(tmp_path):
    hook = LossTraceHook()
    runner = _runner(tmp_path)
    hook.before_train(runner)
    values = [torch.tensor(1.2345678, dtype=torch.float32), torch.tensor(0.1 + 1e-7)]
    for i, value in enumerate(values):
        runner.iter = i
        hook.after_train_iter(runner, i, outputs=dict(loss=value, loss_cls=value / 2))
    hook.after_train(runner)
    data = json.loads((tmp_path / 'loss_trace.json').read_text())
    assert data['iters'] == [1, 2]
    trace = load_loss_trace(str(tmp_path / 'loss_trace.json'))
    # float32 values round-trip bit for bit through the file
    assert [torch.tensor(v, dtype=torch.float32) for v in trace['loss']] == values
    assert sorted(trace) == ['loss', 'loss_cls']


def test_chosen_keys_and_missing_ones(tmp_path):
    hook = LossTraceHook(keys=['loss'])
    runner = _runner(tmp_path)
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(2.0), other=1.0))
    assert hook.losses == {'loss': [2.0]}
    with pytest.raises(KeyError, match="logged no \\['loss'\\]"):
        hook.after_train_iter(runner, 1, outputs=dict(other=1.0))


def test_loading_something_else_is_refused(tmp_path):
    path = tmp_path / 'x.json'
    path.write_text(json.dumps(dict(loss=[1.0])))
    with pytest.raises(ValueError, match='not a loss trace'):
        load_loss_trace(str(path))
    path.write_text(json.dumps(dict(iters=[1, 2], losses=dict(loss=[1.0]))))
    with pytest.raises(ValueError, match='1 values for 2 iterations'):
        load_loss_trace(str(path))
