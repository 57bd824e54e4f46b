# Generated from damex_mmdet/datasets/uodb.py by tools/misc/generate_uodb_configs.py;
# edit the spec there, not this file.
# Watercolor + Comic (DAMEX paper, Table 3): two small artistic domains that
# share their 6 classes (kept as separate label slices).
_base_ = ['./uodb_datasets.py']

# registers MultiDataset, MultiDatasetSampler and MultiDatasetCocoMetric
custom_imports = dict(imports=['damex_mmdet'], allow_failed_imports=False)

train_dataloader = dict(
    _base_.uodb_train_loader,  # batch size, workers, samplers
    dataset=dict(
        # concatenates the datasets; their sorted names fix the dataset ids and
        # the label offsets (partitioned label space)
        type='MultiDataset',
        datasets=dict(
            watercolor=_base_.uodb_train_datasets.watercolor,
            comic=_base_.uodb_train_datasets.comic)))
val_dataloader = dict(
    _base_.uodb_test_loader,
    dataset=dict(
        type='MultiDataset',
        pipeline=_base_.uodb_infer_pipeline,  # for DetInferencer; datasets keep theirs
        datasets=dict(
            watercolor=_base_.uodb_test_datasets.watercolor,
            comic=_base_.uodb_test_datasets.comic)))
test_dataloader = val_dataloader

# COCO-style AP of every dataset on its own label slice, plus their mean
val_evaluator = dict(type='MultiDatasetCocoMetric', metric='bbox')
test_evaluator = val_evaluator
