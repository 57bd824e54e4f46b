"""Mixin that makes any mmdet DETR-family detector a (dataset-aware) MoE detector.

The mixin converts the configured FFNs into ``MoEFFN`` after the detector is
built and runs every forward inside one routing session
(:func:`~damex_mmdet.moe.session.routing_session`): in training the session
carries the mapped expert of every image (from the ``dataset_name`` that
``MultiDataset`` stamps on each sample, and the expert map), every MoE layer
of the module tree records its plan into it, and once the head has matched
queries to ground truth the detector turns the records into the routers'
auxiliary losses. Inference opens a session without targets: it never reads
dataset information. MoE layers that are already in the module tree when the
detector is built (a decoder from the registry whose layers are
``DAMEXDecoderLayer``, see :mod:`damex_mmdet.models.decoders`) take part in
the same way.

A registry decoder is given as ``decoder=dict(type=..., ...)``. The stock
decoder of the same arguments is built first (so that every other module
draws the random numbers it draws in the dense detector) and then replaced;
its FFNs at the MoE positions initialise the MoE layers like converted ones.

``moe_cfg`` keys (defaults in brackets):

- ``layers`` [``dict(decoder=[0, 2, 4])``; ``[]`` with a registry decoder]:
  FFNs to convert, see :mod:`damex_mmdet.models.moe_conversion`.
- ``num_experts`` [8], ``router`` [``dict(type='DatasetAwareRouter')``],
  ``capacity_factor`` [0.0 = no dropping], ``eval_capacity_factor`` [0.0: no
  dropping at inference, so a prediction never depends on the other images of
  its batch], ``batch_prioritized`` [False]: ``MoEFFN`` options.
- ``layer`` [``dict(type='MoEFFN')``]: the MoE layer class and its own
  options: ``'MoEFFN'`` (routed by ``router``: top-k, DAMEX, GEM, ReMoE's
  ``ReLURouter``), ``'SoftMoEFFN'`` (Soft MoE; router ``SoftMoERouter``,
  mixing within the decoder's token groups, see
  :mod:`damex_mmdet.moe.soft_moe`) or ``'MoEPlusPlusFFN'`` (MoE++'s zero /
  copy / constant experts, router ``MoEPlusPlusRouter``).
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
from mmdet.registry import MODELS

from damex_mmdet.moe import (ExpertMap, FixedMapRouter, MoEFFN, current_session,
                             routing_session, stream_preserving_generator)
from .foreground import matching_foreground_mask, num_denoising_queries
from .moe_conversion import MOE_LAYER_KEYS, convert_ffns_to_moe, swap_submodules

__all__ = ['MoEDetectorMixin', 'TOKEN_SETS', 'short_layer_name']

TOKEN_SETS = ('all', 'matching', 'foreground')
_DEFAULTS = dict(
    layers=dict(decoder=[0, 2, 4]),
    num_experts=8,
    router=dict(type='DatasetAwareRouter'),
    layer=dict(type='MoEFFN'),
    capacity_factor=0.0,
    eval_capacity_factor=0.0,
    batch_prioritized=False,
    expert_init='fresh',
    backend='native',
    expert_map=None,
    map_seed=0,
    ce_tokens='all',
    balance_tokens='foreground')
# routing metrics logged per layer in training: metric -> log key suffix
_LOGGED_METRICS = dict(drop_fraction='drop', router_accuracy='router_acc',
                       active_experts='active', sparsity='sparsity', l1_coefficient='l1_coef',
                       cheap_fraction='cheap')
# arguments of mmdet's DETR-family decoders (the stock decoder built before a registry one)
_STOCK_DECODER_KEYS = ('num_layers', 'layer_cfg', 'post_norm_cfg', 'return_intermediate',
                       'init_cfg')


def short_layer_name(path: str) -> str:
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
        decoder = kwargs.get('decoder')
        self._registry_decoder = isinstance(decoder, dict) and 'type' in decoder
        super().__init__(*args, **kwargs)
        cfg = dict(_DEFAULTS)
        if self._registry_decoder:
            cfg['layers'] = []
        unknown = sorted(set(moe_cfg or {}) - set(cfg))
        if unknown:
            raise ValueError(f'moe_cfg has unknown key(s) {unknown}; valid keys: {sorted(cfg)}.')
        cfg.update(moe_cfg or {})
        for key in ('ce_tokens', 'balance_tokens'):
            if cfg[key] not in TOKEN_SETS:
                raise ValueError(f'moe_cfg.{key}={cfg[key]!r}; use one of {TOKEN_SETS}.')
        self.moe_cfg = cfg
        # building the MoE layers draws random numbers (router and expert
        # init): fork the global generator so the rest of the run draws what
        # the dense detector draws at the same seed (matched starts)
        with torch.random.fork_rng(devices=[]):
            _, dense_ffns = convert_ffns_to_moe(
                self, cfg['layers'], expert_init=cfg['expert_init'], backend=cfg['backend'],
                layer=cfg['layer'], **{k: cfg[k] for k in MOE_LAYER_KEYS})
        self._dense_ffns = {**getattr(self, '_dense_ffns', {}), **dense_ffns}
        counts = sorted({layer.num_experts for layer in self.moe_layers.values()})
        if len(counts) > 1:
            raise ValueError(f'the MoE layers of {type(self).__name__} have {counts} experts; '
                             'one expert map needs the same number of experts in every layer.')
        self.num_experts = counts[0] if counts else cfg['num_experts']
        self.expert_map = None
        if cfg['expert_map'] is not None:
            self.expert_map = ExpertMap(cfg['expert_map'], self.num_experts, cfg['map_seed'])
        routers = [layer.router for layer in self.moe_layers.values()]
        self.needs_targets = any(
            isinstance(r, FixedMapRouter) or getattr(r, 'ce_weight', 0) > 0 for r in routers)
        if self.needs_targets and self.expert_map is None:
            kind = next(type(r).__name__ for r in routers
                        if isinstance(r, FixedMapRouter) or getattr(r, 'ce_weight', 0) > 0)
            raise ValueError(
                f'router type {kind!r} learns a dataset->expert '
                'map but moe_cfg.expert_map is not set; give e.g. '
                'expert_map=dict(coco=[0], kitti=[1]) (tools/plan_experts.py writes one).')

    @property
    def moe_layers(self) -> dict:
        """Name -> MoE layer of every MoE layer in the module tree, in module order."""
        return {name: m for name, m in self.named_modules() if isinstance(m, MoEFFN)}

    def _init_layers(self) -> None:
        """The detector's layers; a registry decoder replaces the stock one (module docstring)."""
        if not self._registry_decoder:
            super()._init_layers()
            return
        decoder_cfg = dict(self.decoder)
        self.decoder = {k: v for k, v in decoder_cfg.items() if k in _STOCK_DECODER_KEYS}
        super()._init_layers()
        stock = self.decoder
        with torch.random.fork_rng(devices=[]):
            self.decoder = MODELS.build(decoder_cfg)
        self._dense_ffns = {}
        moe_names = [name for name, m in self.decoder.named_modules() if isinstance(m, MoEFFN)]
        for name in moe_names:
            try:
                twin = stock.get_submodule(name)
            except AttributeError:
                continue
            if sum(isinstance(m, torch.nn.Linear) for m in twin.modules()) == 2:
                self._dense_ffns[f'decoder.{name}'] = twin
        # everything but the MoE layers starts as the stock decoder (as in the dense detector)
        stock_state = stock.state_dict()
        with torch.no_grad():
            for key, value in self.decoder.state_dict().items():
                theirs = stock_state.get(key)
                if (theirs is not None and theirs.shape == value.shape
                        and not any(key.startswith(name + '.') for name in moe_names)):
                    value.copy_(theirs)

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
                layer.init_weights(self._dense_ffns.get(path))

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
                    "sample has no 'dataset_name' in its metainfo: train on a MultiDataset "
                    '(type=\'MultiDataset\', datasets=dict(name=...)), which stamps it on '
                    'every sample.')
            return None
        if self.expert_map is None:
            return None
        return self.expert_map.sample_targets(names, device=device)

    def forward_transformer(self, img_feats, batch_data_samples=None):
        """Stock transformer; its head inputs go to the open routing session."""
        head_inputs = super().forward_transformer(img_feats, batch_data_samples)
        session = current_session()
        if session is not None:
            session.head_inputs = head_inputs
        return head_inputs

    def forward_decoder(self, *args, **kwargs) -> dict:
        """Stock decoder; its self-attention mask goes to the open routing session first.

        From it the session derives token groups, the classes of mutual
        visibility (DINO's ``dn_mask``: each denoising group, and the matching
        queries), when a layer that mixes tokens (Soft MoE) asks, so that it
        never mixes across the mask. Without a mask: one group per image.
        """
        session = current_session()
        if session is not None:
            session.attention_mask = kwargs.get('dn_mask')
        return super().forward_decoder(*args, **kwargs)

    def _forward(self, batch_inputs, batch_data_samples=None):
        """Stock tensor-mode forward, in a routing session without targets."""
        with routing_session(self):
            return super()._forward(batch_inputs, batch_data_samples)

    def loss(self, batch_inputs, batch_data_samples):
        """Detector losses plus ``loss_damex`` / ``loss_balance`` and routing logs."""
        targets = self.image_targets(
            batch_data_samples, required=self.needs_targets, device=batch_inputs.device)
        # gate noise from a generator of its own: the global stream (denoising
        # queries, dropout) stays the dense detector's
        with routing_session(self, targets,
                             stream_preserving_generator(batch_inputs.device)) as session:
            losses = super().loss(batch_inputs, batch_data_samples)
            losses.update(self.moe_losses(session, batch_data_samples))
        return losses

    def predict(self, batch_inputs, batch_data_samples, rescale: bool = True):
        """Stock prediction; dataset information is never read.

        Runs in a routing session without targets: attach a
        :class:`~damex_mmdet.moe.session.RoutingRecorder` to look at the routing.
        """
        with routing_session(self):
            return super().predict(batch_inputs, batch_data_samples, rescale=rescale)

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

    def moe_losses(self, session, batch_data_samples) -> dict:
        """Average the routers' weighted losses over MoE layers; add routing logs.

        Args:
            session (RoutingSession): the session of the forward pass (its
                records and head inputs).
            batch_data_samples (list[DetDataSample]): the batch's samples.

        Returns:
            dict: ``loss_damex`` / ``loss_balance`` (summed by mmengine) and
            detached per-layer values ``<layer>.damex``, ``<layer>.balance``,
            ``<layer>.router_acc``, ``<layer>.drop`` and, where the routing
            has them, ``<layer>.active`` (ReMoE: experts per token),
            ``<layer>.sparsity`` (its realised share of zero gates),
            ``<layer>.l1_coef``, ``<layer>.cheap`` (MoE++: share of
            assignments to zero-computation experts) (logged only).
        """
        records = session.records
        if not records:
            return {}
        masks = self._token_masks(records, session.head_inputs, batch_data_samples)
        totals, logs = {}, {}
        for record, mask in zip(records, masks):
            layer_losses = record.layer.router.losses(
                record.plan,
                ce_mask=mask.get(self.moe_cfg['ce_tokens']),
                balance_mask=mask.get(self.moe_cfg['balance_tokens']))
            short = short_layer_name(record.name)
            for key, value in layer_losses.items():
                totals[key] = totals.get(key, 0.0) + value
                logs[f'{short}.{key[len("loss_"):]}'] = value.detach()
            metrics = record.metrics()
            for key, log_key in _LOGGED_METRICS.items():
                if key in metrics:
                    logs[f'{short}.{log_key}'] = metrics[key]
        losses = {key: value / len(records) for key, value in totals.items()}
        losses.update(logs)
        return losses

    def moe_summary(self) -> dict:
        """What checkpoints store about the MoE: layers, experts and the map."""
        return dict(
            layers=list(self.moe_layers),
            num_experts=self.num_experts,
            router=dict(self.moe_cfg['router']),
            expert_map=self.expert_map.to_dict() if self.expert_map else None)
