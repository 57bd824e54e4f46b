"""Engine: expert-map checkpointing, routing statistics, expert-parallel training."""
from .expert_parallel import ExpertParallelCheckpointHook, ExpertParallelDistributedDataParallel
from .hooks import CHECKPOINT_META_KEY, ExpertMapHook, RoutingStatsHook

__all__ = [
    'CHECKPOINT_META_KEY', 'ExpertMapHook', 'RoutingStatsHook', 'ExpertParallelCheckpointHook',
    'ExpertParallelDistributedDataParallel'
]
