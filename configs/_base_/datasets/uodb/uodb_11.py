# Generated from damex_mmdet/datasets/uodb.py by tools/misc/generate_uodb_configs.py;
# edit the spec there, not this file.
# Mixture of all 11 UODB datasets (DAMEX paper, Table 1): one training run
# over the 11 training splits, evaluated on each test split separately.
# Prepare the data with tools/dataset_converters/uodb_to_coco.py (docs/data.md,
# "UODB").
_base_ = ['./uodb_datasets.py']

# registers MultiDataset, MultiDatasetSampler and MultiDatasetCocoMetric
custom_imports = dict(imports=['damex_mmdet'], allow_failed_imports=False)

train_dataloader = dict(
    _base_.uodb_train_loader,  # batch size, workers, samplers
    dataset=dict(
        # concatenates the datasets; their sorted names fix the dataset ids and
        # the label offsets (partitioned label space)
        type='MultiDataset',
        datasets=_base_.uodb_train_datasets))
val_dataloader = dict(
    _base_.uodb_test_loader,
    dataset=dict(
        type='MultiDataset',
        pipeline=_base_.uodb_infer_pipeline,  # for DetInferencer; datasets keep theirs
        datasets=_base_.uodb_test_datasets))
test_dataloader = val_dataloader

# COCO-style AP of every dataset on its own label slice, plus their mean
val_evaluator = dict(type='MultiDatasetCocoMetric', metric='bbox')
test_evaluator = val_evaluator
