# DINO (dense) trained on the mixture of the 11 UODB datasets: the "DINO mixed"
# row of the DAMEX paper's Table 1. Partitioned label space: 167 classes, one
# slice per dataset; evaluation scores each dataset on its own slice.
# Inherits mmdet's DINO config and the UODB dataset blocks (all `uodb_*`).
_base_ = [
    'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
    '../_base_/datasets/uodb/uodb_datasets.py'
]
# registers MultiDataset, MultiDatasetSampler, MultiDatasetCocoMetric, the
# MoE detectors and hooks
custom_imports = dict(imports=['damex_mmdet'], allow_failed_imports=False)

# 3+20+1+4+11+80+15+1+6+20+6 classes of kitti, voc, widerface, lisa, kitchen,
# coco, dota, deeplesion, comic, clipart, watercolor (a test checks the sum)
model = dict(bbox_head=dict(num_classes=167))

# the UODB mixture replaces mmdet's COCO loaders (_delete_ drops COCO's keys)
train_dataloader = dict(
    _delete_=True,
    **_base_.uodb_train_loader,
    dataset=dict(type='MultiDataset', datasets=_base_.uodb_train_datasets))
val_dataloader = dict(
    _delete_=True,
    **_base_.uodb_test_loader,
    dataset=dict(
        type='MultiDataset',
        pipeline=_base_.uodb_infer_pipeline,  # for DetInferencer; datasets keep theirs
        datasets=_base_.uodb_test_datasets))
test_dataloader = val_dataloader
# COCO AP of every dataset on its own slice + the mean (Table 1 layout)
val_evaluator = dict(_delete_=True, type='MultiDatasetCocoMetric', metric='bbox')
test_evaluator = val_evaluator

# DAMEX paper: lr 1.4e-4 at batch 2 x 8 GPUs (DINO: 1e-4), 12 epochs
optim_wrapper = dict(optimizer=dict(lr=1.4e-4))
# checkpoints hold every rank's random state and are written atomically (a
# kill during a write leaves the previous one usable); this epoch-based
# schedule resumes at epoch boundaries
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'))
# the expert map (for MoE models) is validated, logged and stored in checkpoints
custom_hooks = [dict(type='ExpertMapHook')]
