"""Engine hooks: expert-map checkpointing and routing statistics."""
from .hooks import CHECKPOINT_META_KEY, ExpertMapHook, RoutingStatsHook

__all__ = ['CHECKPOINT_META_KEY', 'ExpertMapHook', 'RoutingStatsHook']
