"""Routing context: what one forward pass tells the MoE layers, and what they record.

Shape shorthand: ``B`` images, ``T`` tokens per image, ``N = B * T``.

A detector owns one :class:`RoutingContext` shared by all of its MoE layers.
Before a forward it calls :meth:`RoutingContext.begin` with the mapped expert
of each image (training) or nothing (inference) and the generator of the gate
noise; every MoE layer then reads per-token targets from it and appends a
:class:`RoutingRecord`; after the
head's loss the detector turns the records into auxiliary losses (now that the
foreground tokens are known) and calls :meth:`RoutingContext.end`.
"""
from dataclasses import dataclass, field
from typing import List, Optional

import torch
from torch import Tensor

from .plan import RoutingPlan, routing_metrics

__all__ = ['RoutingContext', 'RoutingRecord']


@dataclass
class RoutingRecord:
    """Routing of one MoE layer in one forward pass.

    Attributes:
        layer (nn.Module): the MoE layer (gives access to its router).
        name (str): the layer's name in the model, e.g. ``decoder.layers.0.ffn``.
        plan (RoutingPlan): the router's plan over N = B * T tokens.
        kept (Tensor): (N, K) bool, assignments within capacity.
        batch_shape (tuple): ``(B, T)``.
    """
    layer: object
    name: str
    plan: RoutingPlan
    kept: Tensor
    batch_shape: tuple

    def metrics(self) -> dict:
        """Detached statistics (see :func:`routing_metrics`)."""
        return routing_metrics(self.plan, self.kept)


@dataclass
class RoutingContext:
    """Routing information for the forward pass in progress.

    Attributes:
        image_targets (Tensor, optional): (B,) long mapped expert per image.
        generator (torch.Generator, optional): source of the routers' gate
            noise in this pass (torch's global generator when None).
        active (bool): layers record only while a pass is active.
        records (list[RoutingRecord]): one per MoE layer call, in call order.
    """
    image_targets: Optional[Tensor] = None
    generator: Optional[torch.Generator] = None
    active: bool = False
    records: List[RoutingRecord] = field(default_factory=list)

    def begin(self, image_targets: Optional[Tensor] = None,
              generator: Optional[torch.Generator] = None) -> None:
        """Start a forward pass; ``image_targets`` is (B,) long or None."""
        self.image_targets = image_targets
        self.generator = generator
        self.records = []
        self.active = True

    def end(self) -> List[RoutingRecord]:
        """Finish the pass; returns and forgets its records."""
        records = self.records
        self.image_targets, self.generator, self.records, self.active = None, None, [], False
        return records

    def token_targets(self, batch: int, tokens: int) -> Optional[Tensor]:
        """(B * T,) per-token targets in batch-first order, or None.

        Raises:
            ValueError: when the targets were given for another batch size.
        """
        if self.image_targets is None:
            return None
        if self.image_targets.shape[0] != batch:
            raise ValueError(
                f'routing context holds targets for {self.image_targets.shape[0]} images '
                f'but an MoE layer received a batch of {batch}; MoE layers expect '
                'batch-first tokens (set batch_first=False for sequence-first layers).')
        return self.image_targets[:, None].expand(batch, tokens).reshape(-1)

    def add(self, record: RoutingRecord) -> None:
        if self.active:
            self.records.append(record)
