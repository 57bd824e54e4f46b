"""The process-wide random state that training consumes, as checkpointable values.

A training process draws from four global generators: torch's CPU generator
(DINO's denoising queries, gate noise, the data loader's base seed), the
CUDA generators, NumPy's legacy global generator and Python's ``random``
(data augmentation in the main process). :func:`capture_random_state`
returns all of them as tensors and plain Python values, so a checkpoint that
holds them still loads with ``weights_only=True``;
:func:`restore_random_state` puts them back exactly.

:func:`seeded_random_state` runs a block under generators seeded from one
integer and gives the caller's state back afterwards (per-sample
augmentation seeds); :func:`preserved_random_state` runs a block whose draws
leave no trace on the caller's generators (validation inside training).
"""
import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

__all__ = [
    'capture_random_state', 'restore_random_state', 'preserved_random_state',
    'seeded_random_state', 'derive_seed'
]

_FORMAT = 1  # version of the dict layout written by capture_random_state


def capture_random_state() -> dict:
    """Snapshot every global generator of this process.

    Returns:
        dict: ``format`` (int), ``torch`` (uint8 tensor, torch's CPU
        generator), ``cuda`` (list of uint8 tensors, one per device; empty
        when CUDA is not initialised), ``numpy`` (dict of the legacy
        generator: ``keys`` int64 tensor (624, ), ``pos``, ``has_gauss``,
        ``cached_gaussian``) and ``random`` (dict: ``version``,
        ``internal`` int64 tensor (625, ), ``gauss_next``).
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    if name != 'MT19937':
        raise RuntimeError(f'NumPy global generator is {name!r}; only MT19937 is captured.')
    version, internal, gauss_next = random.getstate()
    cuda = []
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = [state.clone() for state in torch.cuda.get_rng_state_all()]
    return dict(
        format=_FORMAT,
        torch=torch.get_rng_state().clone(),
        cuda=cuda,
        numpy=dict(keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
                   has_gauss=int(has_gauss), cached_gaussian=float(cached)),
        random=dict(version=int(version), internal=torch.tensor(internal, dtype=torch.int64),
                    gauss_next=gauss_next))


def restore_random_state(state: dict) -> None:
    """Put back a snapshot of :func:`capture_random_state`.

    Args:
        state (dict): As returned by :func:`capture_random_state` (possibly
            after a checkpoint round trip).

    Raises:
        ValueError: ``state`` is not a snapshot this version can restore.
    """
    if not isinstance(state, dict) or state.get('format') != _FORMAT:
        raise ValueError('not a random-state snapshot of damex_mmdet '
                         f"(format {state.get('format') if isinstance(state, dict) else state!r},"
                         f' expected {_FORMAT}).')
    torch.set_rng_state(state['torch'])
    if state['cuda']:
        if not torch.cuda.is_available():
            raise ValueError('the snapshot holds CUDA generator states but CUDA is not '
                             'available: resume on a machine with the same devices.')
        torch.cuda.set_rng_state_all(state['cuda'])
    numpy_state = state['numpy']
    np.random.set_state(('MT19937', numpy_state['keys'].numpy().astype(np.uint32),
                         numpy_state['pos'], numpy_state['has_gauss'],
                         numpy_state['cached_gaussian']))
    py_state = state['random']
    random.setstate((py_state['version'], tuple(int(v) for v in py_state['internal'].tolist()),
                     py_state['gauss_next']))


@contextmanager
def preserved_random_state() -> Iterator[None]:
    """Run a block whose random draws leave the global generators as they were."""
    state = capture_random_state()
    try:
        yield
    finally:
        restore_random_state(state)


def derive_seed(*entropy: int) -> int:
    """A 32-bit seed that is a pure function of ``entropy`` (NumPy's SeedSequence).

    Args:
        *entropy (int): Non-negative integers, e.g. ``(seed, epoch, position)``.

    Returns:
        int: Seed in ``[0, 2**32)``.
    """
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


@contextmanager
def seeded_random_state(seed: int) -> Iterator[None]:
    """Run a block with torch, NumPy and ``random`` seeded from ``seed``.

    The caller's generator states are restored afterwards, so the block
    draws the same numbers wherever it runs (main process or any data
    worker) and the caller's own stream is left untouched.

    Args:
        seed (int): Seed in ``[0, 2**32)``.
    """
    with preserved_random_state():
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        yield
