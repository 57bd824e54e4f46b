# Dataset blocks of the built-in benchmark. Every name is prefixed with
# `damex_default_` so that a model config can inherit this file next to an mmdet
# config (e.g. mmdet::dino/...) and bind the loaders itself, e.g.
#   train_dataloader = dict(_delete_=True, **_base_.damex_default_train_dataloader)

# Synthetic multi-domain benchmark (damex_mmdet.datasets.synthetic), version 1:
# six small COCO-format datasets that mimic the mixing situations of the DAMEX
# paper. Every recorded result used v1. Version 2 (same datasets and classes, with
# unannotated co-occurring objects, two annotation policies and clutter) lives in
# data/damex_default_v2/: the comparison tool's --benchmark-version 2 points these
# configs there.
# Generate them first (a few seconds, no download), from the repository root:
#     python tools/misc/generate_default_data.py
# Layout: <damex_default_data_root>/<name>/annotations/{train,test}.json and
#         <damex_default_data_root>/<name>/images/{train,test}/*.png (file_name 'train/000001.png').

# Import damex_mmdet so that MultiDataset, MultiDatasetSampler and
# MultiDatasetCocoMetric are registered in mmdet's registries.
custom_imports = dict(imports=['damex_mmdet'], allow_failed_imports=False)

# Root of the generated benchmark, relative to the working directory.
damex_default_data_root = 'data/damex_default/'
# Storage backend of the image loader (None: local disk).
damex_default_backend_args = None
# Resize bound (long side, short side). The generated images (128x128 and
# 160x112) already fit, so they keep their size.
damex_default_img_scale = (160, 128)

# Source datasets (display order). MultiDataset lays out the partitioned label
# space in *sorted* name order, so that
# this file and mmengine's dump of it (keys sorted) mean the same labels.
# Classes are listed literally; they must equal
# damex_mmdet.datasets.synthetic.DEFAULT_BENCHMARK (a test checks).
damex_default_classes = dict(
    watercolor=('person', 'car', 'dog'),  # same labels as comic, watercolour style
    comic=('person', 'car', 'dog'),  # same labels as watercolor, comic style
    street=('pedestrian', 'cyclist', 'vehicle'),  # road scenes, KITTI-like labels
    signs=('warning', 'noturn', 'speedlimit', 'stop'),  # road scenes, LISA-like labels
    kitchen=('bottle', 'can', 'box'),  # data-poor: 40 training images
    xray=('lesion', ),  # out-of-domain grayscale, DeepLesion-like
)
# Size of the combined (partitioned) label space: 3 + 3 + 3 + 4 + 3 + 1.
damex_default_num_classes = 17

# Meta keys every packed sample carries. MultiDataset adds dataset_name itself
# (it routes the MoE layers in training and splits the evaluation per
# dataset), so it need not be listed here.
damex_default_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                           'flip', 'flip_direction')

damex_default_train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=damex_default_backend_args),  # RGB->BGR uint8 image
    dict(type='LoadAnnotations', with_bbox=True),  # gt boxes + labels (offset by MultiDataset)
    dict(type='Resize', scale=damex_default_img_scale, keep_ratio=True),  # fit inside the scale
    dict(type='RandomFlip', prob=0.5),  # horizontal flip half of the time
    dict(type='PackDetInputs', meta_keys=damex_default_meta_keys),  # to inputs + DetDataSample
]
damex_default_test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=damex_default_backend_args),
    dict(type='Resize', scale=damex_default_img_scale, keep_ratio=True),
    # Annotations are loaded after Resize (as in mmdet) so that gt boxes stay
    # in original image coordinates for the metric.
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=damex_default_meta_keys),
]

damex_default_train_dataloader = dict(
    batch_size=4,  # images per batch (per GPU)
    num_workers=2,  # loader processes
    persistent_workers=True,  # keep the workers alive between epochs
    # Draw dataset d with probability ~ n_d ** 0.5 so that the data-poor
    # kitchen set is seen more often than its share of images.
    sampler=dict(type='MultiDatasetSampler', mode='temperature', temperature=0.5, shuffle=True),
    dataset=dict(
        type='MultiDataset',
        # name -> mmdet dataset config, one per source dataset (order as above).
        datasets={
            name: dict(
                type='CocoDataset',
                data_root=damex_default_data_root + name + '/',  # this dataset's folder
                ann_file='annotations/train.json',  # relative to data_root
                data_prefix=dict(img='images/'),  # file_name 'train/x.png' lives here
                metainfo=dict(classes=classes),  # category ids 1..n in this order
                filter_cfg=dict(filter_empty_gt=True, min_size=1),  # drop images w/o boxes
                pipeline=damex_default_train_pipeline,
                backend_args=damex_default_backend_args)
            for name, classes in damex_default_classes.items()
        }))
damex_default_test_dataloader = dict(
    batch_size=4,  # inference batch; padding is small since sizes barely differ
    num_workers=2,
    persistent_workers=True,
    drop_last=False,  # evaluate every test image
    sampler=dict(type='DefaultSampler', shuffle=False),  # fixed order
    dataset=dict(
        type='MultiDataset',
        # shared by the datasets, and what mmdet's DetInferencer applies to any image
        pipeline=damex_default_test_pipeline,
        datasets={
            name: dict(
                type='CocoDataset',
                data_root=damex_default_data_root + name + '/',
                ann_file='annotations/test.json',  # held-out split
                data_prefix=dict(img='images/'),
                metainfo=dict(classes=classes),
                test_mode=True,  # keep every image, no filtering
                backend_args=damex_default_backend_args)
            for name, classes in damex_default_classes.items()
        }))

# COCO bbox AP of each dataset on its own label slice, plus the mean over datasets.
damex_default_evaluator = dict(type='MultiDatasetCocoMetric', metric='bbox')

# Dataset -> expert map of the DAMEX / GEM configs on this benchmark (4 experts),
# a human prior in the spirit of the paper's UODB map: datasets with the same
# labels share an expert (watercolor, comic), the road scenes share one
# (street, signs: KITTI + LISA in the paper), kitchen and xray get their own.
damex_default_expert_map = dict(
    watercolor=[0], comic=[0], street=[1], signs=[1], kitchen=[2], xray=[3])
