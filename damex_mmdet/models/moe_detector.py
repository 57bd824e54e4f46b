"""Mixin that makes any mmdet DETR-family detector a (dataset-aware) MoE detector.

The mmdet wiring only: ``moe_cfg`` is validated into a
:class:`~damex_mmdet.moe.config.MoEConfig` (its fields document every key);
the configured FFNs become MoE layers (or a registry decoder brings its
own, see :mod:`damex_mmdet.models.decoders`); every forward runs in one
routing session that carries, in training, the mapped expert of every image
(its ``dataset_name`` through the expert map); the session's records become
losses in :func:`~damex_mmdet.moe.routing_losses.routing_losses` (no mmdet
there). What the routers need is read from their declarations
(``needs_targets``, ``loss_token_sets``). Inference never reads datasets.
"""
import torch

from damex_mmdet.moe import (ExpertMap, MoEConfig, MoEFFN, current_session, needed_token_sets,
                             routing_losses, routing_session, stream_preserving_generator)
from damex_mmdet.moe.routing_losses import short_layer_name
from .decoders import STOCK_DECODER_KEYS, build_registry_decoder
from .foreground import matching_foreground_mask, num_denoising_queries
from .moe_conversion import check_moe_layers_match, convert_ffns_to_moe, swap_submodules

__all__ = ['MoEDetectorMixin', 'short_layer_name']

_DEFAULT_LAYERS = dict(decoder=[0, 2, 4])


class MoEDetectorMixin:
    """Put before an mmdet ``DetectionTransformer`` subclass in the bases.

    Args:
        moe_cfg (dict): the MoE options, see :class:`~damex_mmdet.moe.config.MoEConfig`.
        *args, **kwargs: the detector's own arguments.

    Attributes:
        moe_cfg (MoEConfig): the validated options.
        expert_map (ExpertMap, optional): dataset name -> experts.
        needs_targets (bool): some router declares that training needs ``h(d)``.
    """

    def __init__(self, *args, moe_cfg: dict = None, **kwargs):
        decoder = kwargs.get('decoder')
        self._registry_decoder = isinstance(decoder, dict) and 'type' in decoder
        # validated before the detector is built: a wrong key stops at once
        cfg = MoEConfig.from_dict(moe_cfg)
        if cfg.layers is None:
            cfg.layers = [] if self._registry_decoder else dict(_DEFAULT_LAYERS)
        super().__init__(*args, **kwargs)
        self.moe_cfg = cfg
        # building the MoE layers draws random numbers (router and expert
        # init): fork the global generator so the rest of the run draws what
        # the dense detector draws at the same seed (matched starts)
        with torch.random.fork_rng(devices=[]):
            _, dense_ffns = convert_ffns_to_moe(
                self, cfg.layers, expert_init=cfg.expert_init, backend=cfg.backend,
                layer=cfg.layer, **cfg.layer_options())
        self._dense_ffns = {**getattr(self, '_dense_ffns', {}), **dense_ffns}
        counts = sorted({layer.num_experts for layer in self.moe_layers.values()})
        if len(counts) > 1:
            raise ValueError(f'the MoE layers of {type(self).__name__} have {counts} experts; '
                             'one expert map needs the same number of experts in every layer.')
        self.num_experts = counts[0] if counts else cfg.num_experts
        self.expert_map = None
        if cfg.expert_map is not None:
            self.expert_map = ExpertMap(cfg.expert_map, self.num_experts, cfg.map_seed)
        needing = [type(layer.router).__name__ for layer in self.moe_layers.values()
                   if layer.router.needs_targets]
        self.needs_targets = bool(needing)
        if self.needs_targets and self.expert_map is None:
            raise ValueError(
                f'router type {needing[0]!r} learns a dataset->expert '
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
        self.decoder = {k: v for k, v in decoder_cfg.items() if k in STOCK_DECODER_KEYS}
        super()._init_layers()
        self.decoder, self._dense_ffns = build_registry_decoder(self.decoder, decoder_cfg)

    # ----------------------------------------------------------- weights
    def init_weights(self) -> None:
        """Initialise exactly like the dense detector, then the MoE layers from it.

        The detector's own ``init_weights`` runs with every MoE layer swapped
        back for the dense FFN it replaced, so every shared parameter gets the
        values the dense detector gets at this seed, and the global generator
        ends where the dense detector's ends. Then, in a forked generator,
        each MoE layer initialises its router and its experts: copies of the
        freshly initialised dense FFN (``expert_init='upcycle'``), or drawn on
        their own (``'fresh'``).
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
        """Refuse a checkpoint whose MoE layers are dense FFNs here (no silent partial load)."""
        check_moe_layers_match(state_dict, prefix, list(self.moe_layers))
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
        """Stock decoder; its self-attention mask (DINO's ``dn_mask``) goes to the
        open routing session first (token groups for layers that mix tokens)."""
        session = current_session()
        if session is not None:
            session.attention_mask = kwargs.get('dn_mask')
        return super().forward_decoder(*args, **kwargs)

    def _forward(self, batch_inputs, batch_data_samples=None):
        """Stock tensor-mode forward, in a routing session without targets."""
        with routing_session(self):
            return super()._forward(batch_inputs, batch_data_samples)

    def loss(self, batch_inputs, batch_data_samples):
        """Detector losses plus the routers' losses and routing logs."""
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
        """Stock prediction in a routing session without targets (never reads datasets)."""
        with routing_session(self):
            return super().predict(batch_inputs, batch_data_samples, rescale=rescale)

    def moe_losses(self, session, batch_data_samples) -> dict:
        """:func:`~damex_mmdet.moe.routing_losses.routing_losses` of the session, with the
        foreground mask from the head's matching when a loss covers foreground tokens."""
        cfg = self.moe_cfg
        if not session.records:
            return {}
        foreground = None
        if 'foreground' in needed_token_sets(session.records, cfg.ce_tokens,
                                             cfg.balance_tokens):
            foreground = matching_foreground_mask(self.bbox_head, session.head_inputs,
                                                  batch_data_samples)
        return routing_losses(session.records, cfg.ce_tokens, cfg.balance_tokens,
                              num_denoising_queries(session.head_inputs), foreground)

    def moe_summary(self) -> dict:
        """What checkpoints store about the MoE: layers, experts and the map."""
        return dict(
            layers=list(self.moe_layers),
            num_experts=self.num_experts,
            router=dict(self.moe_cfg.router),
            expert_map=self.expert_map.to_dict() if self.expert_map else None)
