"""Engine: exact resume, expert-map checkpointing, routing statistics, loss traces,
expert-parallel training, frozen values, training time across resumes."""
from .checkpoint_hook import RANDOM_STATE_META_KEY, ResumableCheckpointHook
from .frozen_values import KeepTrainedValuesHook
from .expert_parallel import ExpertParallelCheckpointHook, ExpertParallelDistributedDataParallel
from .hooks import CHECKPOINT_META_KEY, ExpertMapHook, RoutingStatsHook
from .loss_trace import LossTraceHook, load_loss_trace
from .time_estimate import TimeEstimateHook
from .training_clock import TRAIN_SECONDS_META_KEY, TrainingClockHook
from .train_loop import EpochDataIterator, ResumableIterBasedTrainLoop

__all__ = [
    'CHECKPOINT_META_KEY', 'ExpertMapHook', 'RoutingStatsHook', 'LossTraceHook',
    'load_loss_trace', 'ExpertParallelCheckpointHook', 'ExpertParallelDistributedDataParallel',
    'RANDOM_STATE_META_KEY', 'ResumableCheckpointHook', 'ResumableIterBasedTrainLoop',
    'EpochDataIterator', 'TimeEstimateHook', 'KeepTrainedValuesHook',
    'TRAIN_SECONDS_META_KEY', 'TrainingClockHook'
]
