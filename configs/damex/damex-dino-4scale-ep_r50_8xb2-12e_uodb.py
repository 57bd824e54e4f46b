# DAMEX-DINO on UODB with expert parallelism: each of the 8 GPUs holds one of
# the 8 experts of every MoE layer (num_experts must be a multiple of the GPU
# count); tokens reach their expert by all-to-all. Trains like the data-
# parallel config (no token is dropped) and its checkpoints hold all experts:
# test them with the data-parallel config or in one process (docs/distributed.md).
#   bash tools/dist_train.sh configs/damex/damex-dino-4scale-ep_r50_8xb2-12e_uodb.py 8
_base_ = ['./damex-dino-4scale_r50_8xb2-12e_uodb.py']

model_wrapper_cfg = dict(type='ExpertParallelDistributedDataParallel')
default_hooks = dict(checkpoint=dict(type='ExpertParallelCheckpointHook'))
