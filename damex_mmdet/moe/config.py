"""The MoE options of a detector as a typed, validated dataclass.

Built from the ``moe_cfg`` dict of a config (:meth:`MoEConfig.from_dict`),
so every config keeps its plain-dict form; a wrong key or value stops at
build time with a message naming ``moe_cfg.<key>``, the value and the valid
ones.
"""
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional

from .routing_losses import TOKEN_SETS

__all__ = ['MoEConfig', 'EXPERT_INITS', 'BACKENDS']

EXPERT_INITS = ('fresh', 'upcycle')
BACKENDS = ('native', 'tutel')


@dataclass
class MoEConfig:
    """What a detector's MoE layers are and how they are trained.

    Field defaults are the defaults of ``moe_cfg``.
    """

    # FFNs to convert: dict(decoder=[0, 2, 4]) / 'all' / dotted paths (see
    # damex_mmdet.models.moe_conversion); None: decoder layers 0, 2, 4, or none when
    # the detector's decoder comes from the registry (its layers are MoE already)
    layers: Any = None
    # experts per MoE layer (E); one expert map needs the same E in every layer
    num_experts: int = 8
    # router: dict(type=<registered Router>, **its options)
    router: Dict[str, Any] = field(default_factory=lambda: dict(type='DatasetAwareRouter'))
    # MoE layer class and its own options: dict(type='MoEFFN' | 'SoftMoEFFN' |
    # 'MoEPlusPlusFFN' | <registered MoEFFN subclass>, ...)
    layer: Dict[str, Any] = field(default_factory=lambda: dict(type='MoEFFN'))
    # expert capacity in training, tutel semantics: > 0 fixed factor, 0 no dropping,
    # < 0 dynamic capped at |factor|
    capacity_factor: float = 0.0
    # the same at inference; 0 keeps a prediction independent of the rest of its batch
    eval_capacity_factor: float = 0.0
    # under overflow keep the most confident tokens instead of the first ones
    batch_prioritized: bool = False
    # 'fresh': experts drawn on their own; 'upcycle': copies of the dense FFN
    # (a dense checkpoint loaded with load_from is upcycled as well)
    expert_init: str = 'fresh'
    # mixing step: 'native' PyTorch or 'tutel' kernels (same checkpoints)
    backend: str = 'native'
    # {dataset_name: [expert ids]}; required by routers that need targets (DAMEX with
    # CE, GEM); optional otherwise (then only router accuracy is reported)
    expert_map: Optional[Dict[str, List[int]]] = None
    # seed of the draws for datasets mapped to several experts
    map_seed: int = 0
    # tokens of loss_damex: 'all' decoder tokens incl. denoising queries (the released
    # DAMEX code), 'matching' queries, or 'foreground' (matching queries with a box)
    ce_tokens: str = 'all'
    # tokens of loss_balance (same choices); foreground as in the DAMEX paper
    balance_tokens: str = 'foreground'

    def __post_init__(self):
        _choice('expert_init', self.expert_init, EXPERT_INITS)
        _choice('backend', self.backend, BACKENDS)
        _choice('ce_tokens', self.ce_tokens, TOKEN_SETS)
        _choice('balance_tokens', self.balance_tokens, TOKEN_SETS)
        if isinstance(self.num_experts, bool) or not isinstance(self.num_experts, int) \
                or self.num_experts < 1:
            raise ValueError(f'moe_cfg.num_experts={self.num_experts!r}; use an integer >= 1.')
        for key in ('capacity_factor', 'eval_capacity_factor'):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f'moe_cfg.{key}={value!r}; use a number (> 0 fixed factor, '
                                 '0 no dropping, < 0 dynamic).')
        for key in ('router', 'layer'):
            value = getattr(self, key)
            if not isinstance(value, dict):
                raise ValueError(f"moe_cfg.{key}={value!r}; use dict(type='...', **options).")
            setattr(self, key, dict(value))
        if self.expert_map is not None and not isinstance(self.expert_map, dict):
            raise ValueError(f'moe_cfg.expert_map={self.expert_map!r}; use '
                             '{dataset_name: [expert ids]} (tools/plan_experts.py writes one).')
        self._check_types()

    def _check_types(self) -> None:
        """The router and layer types are registered ones of the right kind."""
        from .layer import MoEFFN
        from .registry import lookup
        from .routers import Router
        lookup(self.router.get('type', 'TopKRouter'), 'moe_cfg.router', Router)
        lookup(self.layer.get('type', 'MoEFFN'), 'moe_cfg.layer', MoEFFN)

    @classmethod
    def from_dict(cls, cfg: Optional[dict]) -> 'MoEConfig':
        """Validate ``moe_cfg`` and fill in the defaults.

        Raises:
            ValueError: an unknown key (naming the valid ones) or value.
        """
        cfg = dict(cfg or {})
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(cfg) - set(valid))
        if unknown:
            raise ValueError(f'moe_cfg has unknown key(s) {unknown}; valid keys: {sorted(valid)}.')
        return cls(**cfg)

    def layer_options(self) -> dict:
        """The options every MoE layer is built with (``MoEFFN`` arguments)."""
        return dict(num_experts=self.num_experts, router=dict(self.router),
                    capacity_factor=self.capacity_factor,
                    eval_capacity_factor=self.eval_capacity_factor,
                    batch_prioritized=self.batch_prioritized)

    def to_dict(self) -> dict:
        """Plain dict (e.g. for checkpoint meta)."""
        return asdict(self)


def _choice(key: str, value, valid: tuple) -> None:
    if value not in valid:
        raise ValueError(f'moe_cfg.{key}={value!r}; use one of {valid}.')
