"""Routing losses of a forward pass: a pure function of the session's records.

Shape shorthand: ``B`` images, ``T`` tokens per image, ``Q`` matching queries,
``N = B * T``.

Each router says which auxiliary losses it returns and over which *role* of
tokens (``Router.loss_token_sets``: ``'ce'``, ``'balance'`` or ``'all'``);
the options ``ce_tokens`` / ``balance_tokens`` say which token set each role
covers:

- ``'all'``: every token the layer saw (for a DETR decoder: the denoising
  queries too, as the released DAMEX code does);
- ``'matching'``: the decoder's matching queries (the last ``Q`` of ``T``);
- ``'foreground'``: the matching queries assigned to a ground-truth box
  (a (B, Q) mask the detector computes after its head's matching).

The per-layer losses are averaged over the layers that routed; per-layer
values and routing statistics are returned detached under short names
(``dec2.damex``, ``dec2.router_acc``, ...), for the logs. Nothing here
knows about mmdet: any model whose MoE layers recorded into a routing
session gets its losses from :func:`routing_losses`.
"""
import re
from typing import Dict, List, Optional, Sequence, Set

import torch
from torch import Tensor

__all__ = ['TOKEN_SETS', 'LOGGED_METRICS', 'short_layer_name', 'needed_token_sets',
           'token_set_masks', 'routing_losses']

TOKEN_SETS = ('all', 'matching', 'foreground')
# routing metric -> suffix of its per-layer log key
LOGGED_METRICS = dict(drop_fraction='drop', router_accuracy='router_acc',
                      active_experts='active', sparsity='sparsity', l1_coefficient='l1_coef',
                      cheap_fraction='cheap')


def short_layer_name(path: str) -> str:
    """'decoder.layers.2.ffn' -> 'dec2' (for compact log keys); other names unchanged."""
    match = re.fullmatch(r'(\w+)\.layers\.(\d+)\.ffn', path)
    return f'{match.group(1)[:3]}{match.group(2)}' if match else path


def _role_sets(ce_tokens: str, balance_tokens: str) -> Dict[str, Optional[str]]:
    return {'ce': ce_tokens, 'balance': balance_tokens, 'all': None}


def needed_token_sets(records: Sequence, ce_tokens: str = 'all',
                      balance_tokens: str = 'foreground') -> Set[str]:
    """The token sets the records' routers need for their losses (e.g. to
    compute the foreground mask only when some loss covers it)."""
    roles = _role_sets(ce_tokens, balance_tokens)
    wanted = set()
    for record in records:
        for role in record.layer.router.loss_token_sets.values():
            if roles[role] is not None:
                wanted.add(roles[role])
    return wanted


def token_set_masks(batch_shape: tuple, num_denoising: int = 0,
                    foreground: Optional[Tensor] = None,
                    device=None) -> Dict[str, Optional[Tensor]]:
    """(N,) bool masks of every token set for one layer call (None: all tokens).

    Args:
        batch_shape (tuple): ``(B, T)`` of the layer call.
        num_denoising (int): denoising queries before the matching ones.
        foreground (Tensor, optional): (B, Q) bool, matching queries with a box.
        device: of the masks.

    Returns:
        dict: ``'all'`` -> None and, for decoder calls (``T`` = denoising +
        matching queries), ``'matching'`` and (with ``foreground``)
        ``'foreground'``; another sequence (an encoder MoE layer) has only ``'all'``.
    """
    batch, tokens = batch_shape
    masks = {'all': None}
    queries = foreground.shape[1] if foreground is not None else tokens - num_denoising
    if tokens != num_denoising + queries:
        return masks
    matching = torch.zeros(batch, tokens, dtype=torch.bool, device=device)
    matching[:, num_denoising:] = True
    masks['matching'] = matching.reshape(-1)
    if foreground is not None:
        fg = torch.zeros_like(matching)
        fg[:, num_denoising:] = foreground
        masks['foreground'] = fg.reshape(-1)
    return masks


def routing_losses(records: List, ce_tokens: str = 'all', balance_tokens: str = 'foreground',
                   num_denoising: int = 0, foreground: Optional[Tensor] = None) -> dict:
    """Auxiliary losses of the routers, averaged over layers, plus per-layer logs.

    Args:
        records (list[RoutingRecord]): the session's records (one per MoE
            layer call), see :class:`~damex_mmdet.moe.session.RoutingSession`.
        ce_tokens (str): token set of the ``'ce'`` role (:data:`TOKEN_SETS`).
        balance_tokens (str): token set of the ``'balance'`` role.
        num_denoising (int): denoising queries at the start of decoder sequences.
        foreground (Tensor, optional): (B, Q) bool; needed when a role covers
            ``'foreground'`` (see :func:`needed_token_sets`).

    Returns:
        dict: ``loss_<name>`` averaged over the layers (mmengine sums every
        ``loss*`` key), and detached ``<layer>.<name>`` values and
        ``<layer>.<metric>`` statistics (:data:`LOGGED_METRICS`).

    Raises:
        ValueError: a role covers ``'foreground'`` and no mask was given.
    """
    if not records:
        return {}
    if 'foreground' in needed_token_sets(records, ce_tokens, balance_tokens) \
            and foreground is None:
        raise ValueError("a routing loss covers the 'foreground' tokens but no foreground "
                         'mask was given; pass foreground=(B, Q) bool or choose another '
                         'token set.')
    totals, logs = {}, {}
    for record in records:
        masks = token_set_masks(record.batch_shape, num_denoising, foreground,
                                record.kept.device)
        layer_losses = record.layer.router.losses(
            record.plan, ce_mask=masks.get(ce_tokens), balance_mask=masks.get(balance_tokens))
        short = short_layer_name(record.name)
        for key, value in layer_losses.items():
            totals[key] = totals.get(key, 0.0) + value
            logs[f'{short}.{key[len("loss_"):]}'] = value.detach()
        metrics = record.metrics()
        for key, log_key in LOGGED_METRICS.items():
            if key in metrics:
                logs[f'{short}.{log_key}'] = metrics[key]
    losses = {key: value / len(records) for key, value in totals.items()}
    losses.update(logs)
    return losses
