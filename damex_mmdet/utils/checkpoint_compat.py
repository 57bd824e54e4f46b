"""Let mmengine 0.10 read its own checkpoints under torch >= 2.6.

torch 2.6 switched ``torch.load`` to ``weights_only=True``; mmengine 0.10.7
calls ``torch.load`` without the argument, and its checkpoints hold the
message hub's ``HistoryBuffer`` and NumPy arrays, so ``mim test``, ``--resume``
and ``load_from`` fail with an "Unsupported global" error. Allow-listing those
globals would also mean allow-listing ``builtins.getattr``; instead the local
file loader is re-registered to load the user's own checkpoint files as
mmengine was written to (``weights_only=False``, i.e. the pre-2.6 behaviour).
Only local paths are affected; load only checkpoints you trust.
"""
import os.path as osp

import torch

__all__ = ['patch_local_checkpoint_loader', 'load_local_checkpoint']


def load_local_checkpoint(filename, map_location=None):
    """mmengine's local loader with an explicit ``weights_only=False``."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def patch_local_checkpoint_loader() -> None:
    """Register :func:`load_local_checkpoint` for plain paths (idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_local_checkpoint)
