"""Random numbers for routing that leave torch's global stream untouched.

Variants of one comparison (dense DINO, vanilla MoE, DAMEX, GEM) must see the
same denoising queries and augmentations at a given seed. Those come from
torch's global generator, so the MoE layers' gate noise must not advance it:
otherwise every MoE variant would draw other denoising noise from the second
iteration on than the dense detector it is compared with.

:func:`stream_preserving_generator` builds, for one forward pass, a generator
seeded from a hash of the global generator's *current state*. Reading the
state does not advance it; the seed is still a deterministic function of the
run's seed and step (resumed runs and reseeded runs reproduce it), and the
noise is a different stream from the one the rest of the model draws.
"""
import hashlib
from typing import Optional

import torch

__all__ = ['stream_preserving_generator']


def _global_state(device: torch.device) -> Optional[torch.Tensor]:
    if device.type == 'cpu':
        return torch.get_rng_state()
    if device.type == 'cuda':
        return torch.cuda.get_rng_state(device)
    return None


def stream_preserving_generator(device) -> Optional[torch.Generator]:
    """A fresh generator on ``device`` seeded from the global generator's state.

    Args:
        device (torch.device | str): where the noise is drawn.

    Returns:
        torch.Generator | None: None on device types other than CPU and CUDA
        (the callers then draw from the global generator, as before).
    """
    device = torch.device(device)
    state = _global_state(device)
    if state is None:
        return None
    digest = hashlib.blake2b(state.numpy().tobytes(), digest_size=8).digest()
    seed = int.from_bytes(digest, 'little') & ((1 << 63) - 1)
    return torch.Generator(device=device).manual_seed(seed)
