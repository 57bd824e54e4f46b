"""Capture the tokens each MoE layer receives on real images (probe tokens).

Shape shorthand: ``N`` tokens, ``D`` model dim, ``M`` kept tokens.
"""
import sys
from typing import Dict, Optional

import torch
from mmengine.model import is_model_wrapper
from mmengine.utils import ProgressBar
from torch import Tensor

__all__ = ['capture_moe_inputs']


@torch.no_grad()
def capture_moe_inputs(model, dataloader, max_tokens: int = 4096, seed: int = 0,
                       progress: bool = True, max_batches: Optional[int] = None
                       ) -> Dict[str, Tensor]:
    """Inputs of every MoE layer during ``test_step`` over a dataloader.

    Args:
        model (nn.Module): an MoE detector (``moe_layers``), possibly wrapped.
        dataloader (Iterable): mmdet data batches.
        max_tokens (int): ``M``, tokens kept per layer, a seeded uniform
            sample of all tokens seen.
        seed (int): seed of the sample.
        progress (bool): show a progress bar (one tick per batch).
        max_batches (int, optional): stop after this many batches.

    Returns:
        dict[str, Tensor]: layer name -> (M, D) float32 CPU tokens (fewer
        when fewer were seen).
    """
    detector = model.module if is_model_wrapper(model) else model
    layers = getattr(detector, 'moe_layers', None)
    if not layers:
        raise TypeError(f'{type(detector).__name__} has no MoE layer whose inputs could be '
                        'captured.')
    seen: Dict[str, list] = {name: [] for name in layers}
    handles = []
    for name, layer in layers.items():

        def hook(module, args, kwargs, name=name):
            x = args[0] if args else kwargs['x']
            seen[name].append(x.detach().reshape(-1, x.shape[-1]).float().cpu())

        handles.append(layer.register_forward_pre_hook(hook, with_kwargs=True))
    total = len(dataloader) if hasattr(dataloader, '__len__') else 0
    if max_batches is not None:
        total = min(total, max_batches)
    bar = ProgressBar(total, file=sys.stdout) if progress and total else None
    was_training = model.training
    model.eval()
    try:
        for index, data in enumerate(dataloader):
            if max_batches is not None and index >= max_batches:
                break
            model.test_step(data)
            if bar is not None:
                bar.update()
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if bar is not None:
        bar.file.write('\n')
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, chunks in seen.items():
        if not chunks:
            raise ValueError(f'MoE layer {name} received no token: was the dataloader empty?')
        tokens = torch.cat(chunks)
        if tokens.shape[0] > max_tokens:
            keep = torch.randperm(tokens.shape[0], generator=generator)[:max_tokens]
            tokens = tokens[keep.sort().values]
        out[name] = tokens
    return out
