"""Engine: expert-map checkpointing, routing statistics, loss traces, expert-parallel training."""
from .expert_parallel import ExpertParallelCheckpointHook, ExpertParallelDistributedDataParallel
from .hooks import CHECKPOINT_META_KEY, ExpertMapHook, RoutingStatsHook
from .loss_trace import LossTraceHook, load_loss_trace

__all__ = [
    'CHECKPOINT_META_KEY', 'ExpertMapHook', 'RoutingStatsHook', 'LossTraceHook',
    'load_loss_trace', 'ExpertParallelCheckpointHook', 'ExpertParallelDistributedDataParallel'
]
