# Expert parallelism on top of data parallelism: inherit this file after a
# DAMEX/MoE/GEM config and launch with tools/dist_train.sh CONFIG W.
# Each MoE layer's experts are split over the W ranks (num_experts must be a
# multiple of W); checkpoints still hold every expert (docs/distributed.md).
model_wrapper_cfg = dict(type='ExpertParallelDistributedDataParallel')
default_hooks = dict(checkpoint=dict(type='ExpertParallelCheckpointHook'))
