# Data pipelines shared by the UODB datasets, one pair per UODB input size.
# UODB resizes each dataset to its own shorter side (DeepLesion 512, KITTI
# 576, VOC/Clipart/Comic/Watercolor/DOTA 600, WiderFace/COCO/Kitchen/LISA
# 800); the longer side is capped at 1333/800 of it (mmdet's 1333 for 800,
# 1000 for 600). uodb_datasets.py attaches the right pair to each dataset.
# Every name is prefixed with `uodb_` so this file can be inherited next to a
# model config (e.g. mmdet's DINO, which defines `backend_args` itself).

# file backend of the images (None: local disk, mmdet's default)
uodb_backend_args = None

# image meta kept by PackDetInputs (flip keys only exist in training);
# MultiDataset adds dataset_name to every packed sample itself
uodb_train_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                        'scale_factor', 'flip', 'flip_direction')
uodb_test_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                       'scale_factor')

# Training: load, resize keeping the aspect ratio so that the shorter side is
# the dataset's UODB size (Resize scale = (long side cap, short side)),
# horizontal flip with probability 0.5, pack.
uodb_train_pipeline_s512 = [
    dict(type='LoadImageFromFile', backend_args=uodb_backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(853, 512), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=uodb_train_meta_keys)
]
uodb_train_pipeline_s576 = [
    dict(type='LoadImageFromFile', backend_args=uodb_backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(960, 576), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=uodb_train_meta_keys)
]
uodb_train_pipeline_s600 = [
    dict(type='LoadImageFromFile', backend_args=uodb_backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1000, 600), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=uodb_train_meta_keys)
]
uodb_train_pipeline_s800 = [
    dict(type='LoadImageFromFile', backend_args=uodb_backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=uodb_train_meta_keys)
]

# Testing: load, resize as in training, load the boxes (the evaluator reads
# them; drop this step for images without annotations), pack.
uodb_test_pipeline_s512 = [
    dict(type='LoadImageFromFile', backend_args=uodb_backend_args),
    dict(type='Resize', scale=(853, 512), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=uodb_test_meta_keys)
]
uodb_test_pipeline_s576 = [
    dict(type='LoadImageFromFile', backend_args=uodb_backend_args),
    dict(type='Resize', scale=(960, 576), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=uodb_test_meta_keys)
]
uodb_test_pipeline_s600 = [
    dict(type='LoadImageFromFile', backend_args=uodb_backend_args),
    dict(type='Resize', scale=(1000, 600), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=uodb_test_meta_keys)
]
uodb_test_pipeline_s800 = [
    dict(type='LoadImageFromFile', backend_args=uodb_backend_args),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=uodb_test_meta_keys)
]

# Inference on images of unknown dataset (mmdet's DetInferencer and
# inference_detector read test_dataloader.dataset.pipeline; the test
# MultiDatasets set this one there, while each sub-dataset keeps its own
# UODB size for evaluation): the most common UODB size, short side 600.
uodb_infer_pipeline = [
    dict(type='LoadImageFromFile', backend_args=uodb_backend_args),
    dict(type='Resize', scale=(1000, 600), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor'))
]
