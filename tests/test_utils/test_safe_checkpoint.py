"""Checkpoint loading: our checkpoints load under weights_only=True, code-running files do not."""
import collections
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import damex_mmdet  # noqa: F401  (registers the loaders)
from damex_mmdet.utils.safe_checkpoint import (UnsafeCheckpointError, history_buffer_getattr,
                                               load_checkpoint_file,
                                               register_checkpoint_loaders,
                                               trust_local_checkpoints)


class _Payload:
    """Pickles as a call that creates a marker file (a harmless stand-in for os.system)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f'touch {self.path}', ))


@pytest.fixture
def malicious(tmp_path):
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'meta': _Payload(marker)}, path)
    return str(path), marker


def mmengine_like_checkpoint(path):
    """What mmengine's Runner saves: state dict, meta, and a message hub with history buffers."""
    hub = MessageHub.get_instance('safe_checkpoint_test')
    for i in range(5):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
    hub.update_info('iter', np.int64(5))
    torch.save(dict(meta=dict(iter=5, damex_moe=dict(expert_map={'a': [0]})),
                    state_dict=collections.OrderedDict(w=torch.arange(3.)),
                    message_hub=hub.state_dict()), path)


def test_our_checkpoints_load_safely_through_mmengine(tmp_path):
    path = str(tmp_path / 'iter_5.pth')
    mmengine_like_checkpoint(path)
    checkpoint = _load_checkpoint(path, map_location='cpu')
    buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(np.mean([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5]))
    assert checkpoint['meta']['damex_moe']['expert_map'] == {'a': [0]}
    torch.testing.assert_close(checkpoint['state_dict']['w'], torch.arange(3.))


def test_code_running_checkpoint_is_refused_and_its_payload_does_not_run(malicious):
    path, marker = malicious
    with pytest.raises(UnsafeCheckpointError) as info:
        _load_checkpoint(path)
    message = str(info.value)
    assert 'system' in message and path in message
    assert 'trusted://' in message and '--trust-checkpoint' in message
    assert not marker.exists()


def test_trusted_prefix_and_flag_are_the_explicit_opt_in(malicious):
    path, marker = malicious
    assert 'state_dict' in _load_checkpoint('trusted://' + path)
    assert marker.exists()
    marker.unlink()
    try:
        trust_local_checkpoints()  # what --trust-checkpoint does for the process
        assert 'state_dict' in _load_checkpoint(path)
        assert marker.exists()
    finally:
        register_checkpoint_loaders()
    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(path)


def test_plain_state_dict_loads(tmp_path):
    path = tmp_path / 'resnet.pth'
    torch.save(collections.OrderedDict(conv=torch.ones(2, 2)), path)
    assert torch.equal(_load_checkpoint(str(path))['conv'], torch.ones(2, 2))


def test_import_does_not_change_how_torch_loads(malicious):
    path, marker = malicious
    # nothing of ours is added to torch's global allow-list (torch keeps its own entries)
    ours = {HistoryBuffer, history_buffer_getattr, np.ndarray}
    flat = {e[0] if isinstance(e, tuple) else e for e in torch.serialization.get_safe_globals()}
    assert not ours & flat
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # torch's own default, unchanged by the plugin
    assert not marker.exists()
    assert CheckpointLoader._get_checkpoint_loader('/x.pth').__name__ == '_load_safe'


def test_restricted_getattr_resolves_only_statistics_methods():
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for obj, name in ((os, 'system'), (HistoryBuffer, '__init__'), (HistoryBuffer, '__class__')):
        with pytest.raises(pickle.UnpicklingError, match='not allowed'):
            history_buffer_getattr(obj, name)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))
