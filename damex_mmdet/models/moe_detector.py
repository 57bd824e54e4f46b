"""Mixin that makes any mmdet DETR-family detector a (dataset-aware) MoE detector.

The mixin converts the configured FFNs into ``MoEFFN`` after the detector is
built, feeds each forward pass the mapped expert of every image (from
``data_sample.metainfo['dataset_name']`` and the expert map, training only),
and adds the routers' auxiliary losses to the losses dict once the head has
matched queries to ground truth. Inference never reads dataset information.

``moe_cfg`` keys (defaults in brackets):

- ``layers`` [``dict(decoder=[0, 2, 4])``]: FFNs to convert, see
  :mod:`damex_mmdet.models.moe_conversion`.
- ``num_experts`` [8], ``router`` [``dict(type='DatasetAwareRouter')``],
  ``capacity_factor`` [0.0 = no dropping], ``eval_capacity_factor`` [0.0: no
  dropping at inference, so a prediction never depends on the other images of
  its batch], ``batch_prioritized`` [False]: ``MoEFFN`` options.
- ``backend`` ['native']: 'native' (plain PyTorch) or 'tutel' (tutel's
  dispatch and combine, when tutel is installed; not with FixedMapRouter), see
  :mod:`damex_mmdet.moe.tutel_backend`. Checkpoints are the same for both.
- ``expert_init`` ['fresh']: 'fresh' or 'upcycle' (experts copy the dense FFN;
  a dense checkpoint loaded with ``load_from`` is upcycled as well).
- ``expert_map`` [None]: ``{dataset_name: [expert ids]}``, required by
  ``DatasetAwareRouter`` / ``FixedMapRouter``; optional for ``TopKRouter``
  (then used only to report router accuracy).
- ``map_seed`` [0]: seed of one-to-many target draws.
- ``ce_tokens`` ['all']: tokens covered by ``loss_damex``: 'all' decoder
  tokens incl. denoising queries (the released DAMEX code), 'matching'
  queries, or 'foreground' (matching queries assigned to a box).
- ``balance_tokens`` ['foreground']: tokens covered by ``loss_balance``.
"""
import re

import torch

from damex_mmdet.moe import (DatasetAwareRouter, ExpertMap, FixedMapRouter, RoutingContext,
                             stream_preserving_generator)
from .foreground import matching_foreground_mask, num_denoising_queries
from .moe_conversion import MOE_LAYER_KEYS, convert_ffns_to_moe, swap_submodules

__all__ = ['MoEDetectorMixin', 'TOKEN_SETS']

TOKEN_SETS = ('all', 'matching', 'foreground')
_DEFAULTS = dict(
    layers=dict(decoder=[0, 2, 4]),
    num_experts=8,
    router=dict(type='DatasetAwareRouter'),
    capacity_factor=0.0,
    eval_capacity_factor=0.0,
    batch_prioritized=False,
    expert_init='fresh',
    backend='native',
    expert_map=None,
    map_seed=0,
    ce_tokens='all',
    balance_tokens='foreground')


def _short_name(path: str) -> str:
    """'decoder.layers.2.ffn' -> 'dec2' (for compact log keys)."""
    match = re.fullmatch(r'(\w+)\.layers\.(\d+)\.ffn', path)
    return f'{match.group(1)[:3]}{match.group(2)}' if match else path


class MoEDetectorMixin:
    """Put before an mmdet ``DetectionTransformer`` subclass in the bases.

    Args:
        moe_cfg (dict): see the module docstring.
        *args, **kwargs: the detector's own arguments.
    """

    def __init__(self, *args, moe_cfg: dict = None, **kwargs):
        super().__init__(*args, **kwargs)
        cfg = dict(_DEFAULTS)
        unknown = sorted(set(moe_cfg or {}) - set(cfg))
        if unknown:
            raise ValueError(f'moe_cfg has unknown key(s) {unknown}; valid keys: {sorted(cfg)}.')
        cfg.update(moe_cfg or {})
        for key in ('ce_tokens', 'balance_tokens'):
            if cfg[key] not in TOKEN_SETS:
                raise ValueError(f'moe_cfg.{key}={cfg[key]!r}; use one of {TOKEN_SETS}.')
        self.moe_cfg = cfg
        self.routing_context = RoutingContext()
        # building the MoE layers draws random numbers (router and expert
        # init): fork the global generator so the rest of the run draws what
        # the dense detector draws at the same seed (matched starts)
        with torch.random.fork_rng(devices=[]):
            self.moe_layers, self._dense_ffns = convert_ffns_to_moe(
                self, cfg['layers'], self.routing_context, expert_init=cfg['expert_init'],
                backend=cfg['backend'], **{k: cfg[k] for k in MOE_LAYER_KEYS})
        self.expert_map = None
        if cfg['expert_map'] is not None:
            self.expert_map = ExpertMap(cfg['expert_map'], cfg['num_experts'], cfg['map_seed'])
        self.needs_targets = any(
            isinstance(m.router, FixedMapRouter) or (
                isinstance(m.router, DatasetAwareRouter) and m.router.ce_weight > 0)
            for m in self.moe_layers.values())
        if self.needs_targets and self.expert_map is None:
            raise ValueError(
                f"moe_cfg.router type {cfg['router'].get('type')!r} learns a dataset->expert "
                'map but moe_cfg.expert_map is not set; give e.g. '
                'expert_map=dict(coco=[0], kitti=[1]) (tools/plan_experts.py writes one).')
        # analysis tools set record_routing=True to keep, after each predict,
        # the routing records and the head inputs (for test-time matching)
        self.record_routing = False
        self.last_routing_records = []
        self.last_head_inputs = None
        self.last_routing_metrics = {}
        self._head_inputs = None

    # ----------------------------------------------------------- weights
    def init_weights(self) -> None:
        """Initialise exactly like the dense detector, then the MoE layers from it.

        The detector's own ``init_weights`` runs with every MoE layer swapped
        back for the dense FFN it replaced, so every shared parameter
        (backbone, neck, encoder, the rest of the decoder, head, queries) gets
        the values the dense detector gets at this seed, and the global
        generator ends where the dense detector's ends. Then, in a forked
        generator, each MoE layer initialises its router and its experts:
        copies of the freshly initialised dense FFN (``expert_init='upcycle'``),
        or drawn on their own (``'fresh'``).
        """
        moe_layers = swap_submodules(self, self._dense_ffns)
        try:
            super().init_weights()
        finally:
            swap_submodules(self, moe_layers)
        devices = sorted({p.device.index or 0 for p in self.parameters() if p.is_cuda})
        with torch.random.fork_rng(devices=devices):
            for path, layer in self.moe_layers.items():
                layer.init_weights(self._dense_ffns[path])

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """Refuse a checkpoint whose MoE layers are dense FFNs here (no silent partial load).

        (Expert-count mismatches are refused by each MoE layer; dense FFNs in
        the checkpoint where this model has MoE layers are upcycled.)

        Raises:
            ValueError: naming the layers and ``model.moe_cfg.layers``.
        """
        suffix = '.experts.w1'
        in_checkpoint = {key[len(prefix):-len(suffix)] for key in state_dict
                         if key.startswith(prefix) and key.endswith(suffix)}
        dense_here = sorted(in_checkpoint - set(self.moe_layers))
        if dense_here:
            raise ValueError(
                f'the checkpoint has MoE layers {dense_here} that are dense FFNs in this model '
                f'(its MoE layers: {list(self.moe_layers)}); set model.moe_cfg.layers to the '
                f"checkpoint's layers (its meta['damex_moe']['layers'] lists them).")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    # ----------------------------------------------------------- routing
    def image_targets(self, batch_data_samples, required: bool, device=None):
        """(B,) mapped expert per image from ``metainfo['dataset_name']``, or None.

        Raises:
            ValueError: ``required`` and a sample lacks ``dataset_name``.
        """
        names = [ds.metainfo.get('dataset_name') for ds in batch_data_samples]
        if any(name is None for name in names):
            if required:
                raise ValueError(
                    f'{type(self).__name__} trains a dataset-aware router but a training '
                    "sample has no 'dataset_name' in its metainfo: use the MultiDataset "
                    "wrapper and add 'dataset_id' and 'dataset_name' to meta_keys of "
                    'PackDetInputs in the train pipeline.')
            return None
        if self.expert_map is None:
            return None
        return self.expert_map.sample_targets(names, device=device)

    def forward_transformer(self, img_feats, batch_data_samples=None):
        head_inputs = super().forward_transformer(img_feats, batch_data_samples)
        self._head_inputs = head_inputs
        return head_inputs

    def loss(self, batch_inputs, batch_data_samples):
        """Detector losses plus ``loss_damex`` / ``loss_balance`` and routing logs."""
        targets = self.image_targets(
            batch_data_samples, required=self.needs_targets, device=batch_inputs.device)
        # gate noise from a generator of its own: the global stream (denoising
        # queries, dropout) stays the dense detector's
        self.routing_context.begin(targets, stream_preserving_generator(batch_inputs.device))
        try:
            losses = super().loss(batch_inputs, batch_data_samples)
            losses.update(self.moe_losses(self.routing_context.records, self._head_inputs,
                                          batch_data_samples))
        finally:
            self.routing_context.end()
            self._head_inputs = None
        return losses

    def predict(self, batch_inputs, batch_data_samples, rescale: bool = True):
        """Stock prediction; dataset information is never read."""
        self.routing_context.begin(None)
        try:
            return super().predict(batch_inputs, batch_data_samples, rescale=rescale)
        finally:
            records = self.routing_context.end()
            self.last_routing_records = records if self.record_routing else []
            self.last_head_inputs = self._head_inputs if self.record_routing else None
            self._head_inputs = None

    # ----------------------------------------------------------- losses
    def _token_masks(self, records, head_inputs, batch_data_samples):
        """Masks over each record's (B * T) tokens for every token set in use."""
        routers = [record.layer.router for record in records]
        wanted = set()
        if any(getattr(r, 'ce_weight', 0) > 0 for r in routers):
            wanted.add(self.moe_cfg['ce_tokens'])
        if any(r.balance_weight > 0 for r in routers):
            wanted.add(self.moe_cfg['balance_tokens'])
        num_dn = num_denoising_queries(head_inputs)
        foreground = None
        if 'foreground' in wanted:
            foreground = matching_foreground_mask(self.bbox_head, head_inputs, batch_data_samples)
        masks = []
        for record in records:
            batch, tokens = record.batch_shape
            per_set = {'all': None}
            queries = foreground.shape[1] if foreground is not None else tokens - num_dn
            if tokens == num_dn + queries:  # decoder tokens; encoder MoE layers use all tokens
                matching = torch.zeros(batch, tokens, dtype=torch.bool, device=record.kept.device)
                matching[:, num_dn:] = True
                per_set['matching'] = matching.reshape(-1)
                if foreground is not None:
                    fg = torch.zeros_like(matching)
                    fg[:, num_dn:] = foreground
                    per_set['foreground'] = fg.reshape(-1)
            masks.append(per_set)
        return masks

    def moe_losses(self, records, head_inputs, batch_data_samples) -> dict:
        """Average the routers' weighted losses over MoE layers; add routing logs.

        Returns:
            dict: ``loss_damex`` / ``loss_balance`` (summed by mmengine) and
            detached per-layer values ``<layer>.damex``, ``<layer>.balance``,
            ``<layer>.router_acc``, ``<layer>.drop`` (logged only).
        """
        if not records:
            return {}
        masks = self._token_masks(records, head_inputs, batch_data_samples)
        totals, logs, self.last_routing_metrics = {}, {}, {}
        for record, mask in zip(records, masks):
            layer_losses = record.layer.router.losses(
                record.plan,
                ce_mask=mask.get(self.moe_cfg['ce_tokens']),
                balance_mask=mask.get(self.moe_cfg['balance_tokens']))
            short = _short_name(record.name)
            for key, value in layer_losses.items():
                totals[key] = totals.get(key, 0.0) + value
                logs[f'{short}.{key[len("loss_"):]}'] = value.detach()
            metrics = record.metrics()
            self.last_routing_metrics[short] = metrics
            logs[f'{short}.drop'] = metrics['drop_fraction']
            if 'router_accuracy' in metrics:
                logs[f'{short}.router_acc'] = metrics['router_accuracy']
        losses = {key: value / len(records) for key, value in totals.items()}
        losses.update(logs)
        return losses

    def moe_summary(self) -> dict:
        """What checkpoints store about the MoE: layers, experts and the map."""
        return dict(
            layers=list(self.moe_layers),
            num_experts=self.moe_cfg['num_experts'],
            router=dict(self.moe_cfg['router']),
            expert_map=self.expert_map.to_dict() if self.expert_map else None)
