"""Checkpoints load with ``weights_only=True`` and an explicit allow-list; trusting is opt-in.

torch >= 2.6 loads with ``weights_only=True``: a pickle may then only build
tensors, containers and the globals it is allowed. mmengine 0.10.7 calls
``torch.load`` without an allow-list, so its own checkpoints fail to load
(the message hub holds ``HistoryBuffer`` objects and NumPy arrays). This
module registers, for mmengine's plain local paths, a loader that allows
exactly the globals those checkpoints contain (:func:`checkpoint_safe_globals`),
for the duration of that one call: ``torch.load`` itself and every other
caller keep torch's defaults.

The one delicate entry is ``builtins.getattr``: ``HistoryBuffer`` pickles
its table of statistics methods as ``getattr(HistoryBuffer, 'mean')``. It is
mapped to :func:`history_buffer_getattr`, which resolves only those method
names on ``HistoryBuffer`` and refuses every other lookup.

A file that needs anything else is refused before any of its code runs, with
an :class:`UnsafeCheckpointError` naming the globals and the opt-in: prefix
the path with ``trusted://`` (``load_from='trusted:///path/x.pth'``, or the
checkpoint argument of ``tools/test.py``), or pass ``--trust-checkpoint`` to
``tools/train.py`` / ``tools/test.py``. Only do that for files you trust:
loading them runs whatever their pickle says.
"""
import os.path as osp
import pickle
from typing import List

import torch

__all__ = [
    'TRUSTED_PREFIX', 'UnsafeCheckpointError', 'checkpoint_safe_globals', 'history_buffer_getattr',
    'load_checkpoint_file', 'register_checkpoint_loaders', 'trust_local_checkpoints'
]

TRUSTED_PREFIX = 'trusted://'
# HistoryBuffer's built-in statistics (its registry of them fills lazily)
_DEFAULT_STATISTICS = frozenset(('min', 'max', 'current', 'mean'))


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs globals outside the allow-list (it could run code)."""


def history_buffer_getattr(obj, name: str):
    """``getattr`` restricted to ``HistoryBuffer``'s registered statistics methods.

    Raises:
        pickle.UnpicklingError: any other lookup.
    """
    from mmengine.logging import HistoryBuffer
    allowed = _DEFAULT_STATISTICS | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and isinstance(name, str) and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed while loading a checkpoint: only '
        "HistoryBuffer's statistics methods are.")


def checkpoint_safe_globals() -> List:
    """The globals our checkpoints contain, for ``torch.serialization.safe_globals``.

    Message hub: ``HistoryBuffer`` and its statistics methods; NumPy arrays,
    scalars and dtypes (under both NumPy 1 and NumPy 2 module names, so a
    checkpoint moves between them).
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    entries = [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr'), np.ndarray, np.dtype]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries += [(multiarray._reconstruct, f'{module}._reconstruct'),
                    (multiarray.scalar, f'{module}.scalar')]
    # dtype classes (numpy.dtypes.Float64DType, ...) appear in some pickles of dtypes
    entries += [type(np.dtype(kind)) for kind in ('f8', 'f4', 'i8', 'i4', 'u1', 'b1')]
    return entries


def _allowed_names(entries) -> set:
    names = set()
    for entry in entries:
        if isinstance(entry, tuple):
            names.add(entry[1])
        else:
            names.add(f'{entry.__module__}.{entry.__qualname__}')
    return names


def _refusal(filename: str, error: Exception) -> UnsafeCheckpointError:
    try:
        needed = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
        extra = sorted(set(needed) - _allowed_names(checkpoint_safe_globals()))
    except Exception:  # not a zip checkpoint: torch's own message names the global
        extra = []
    what = f'globals outside the allow-list: {extra}' if extra else f'what torch refused: {error}'
    return UnsafeCheckpointError(
        f'{filename} was not loaded: it needs {what}. Unpickling them could run code. If you '
        f'trust this file, load it as {TRUSTED_PREFIX}{osp.abspath(filename)} (load_from or '
        "tools/test.py's checkpoint argument) or pass --trust-checkpoint to tools/train.py / "
        'tools/test.py.')


def load_checkpoint_file(filename: str, map_location=None, trusted: bool = False):
    """Load a local checkpoint safely, or fully when ``trusted``.

    Args:
        filename (str): path; a ``trusted://`` prefix implies ``trusted=True``.
        map_location: as for ``torch.load``.
        trusted (bool): unpickle anything (``weights_only=False``).

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file needs globals outside the allow-list.
    """
    if filename.startswith(TRUSTED_PREFIX):
        filename, trusted = filename[len(TRUSTED_PREFIX):], True
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    if trusted:
        return torch.load(filename, map_location=map_location, weights_only=False)
    with torch.serialization.safe_globals(checkpoint_safe_globals()):
        try:
            return torch.load(filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as error:
            raise _refusal(filename, error) from None


def _load_safe(filename, map_location=None):
    return load_checkpoint_file(filename, map_location)


def _load_trusted(filename, map_location=None):
    return load_checkpoint_file(filename, map_location, trusted=True)


def register_checkpoint_loaders() -> None:
    """mmengine loads plain local paths safely and ``trusted://`` paths fully (idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', force=True)(_load_safe)
    CheckpointLoader.register_scheme(prefixes=TRUSTED_PREFIX, force=True)(_load_trusted)


def trust_local_checkpoints() -> None:
    """Load every local checkpoint of this process fully (``--trust-checkpoint``)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', force=True)(_load_trusted)
