auto_scale_lr = dict(base_batch_size=4)
backend_args = None
benchmark_spec_digest = 'ec0cf0d5501b276e'
custom_hooks = [
    dict(type='ExpertMapHook'),
    dict(type='TimeEstimateHook'),
    dict(type='TrainingClockHook'),
]
custom_imports = dict(
    allow_failed_imports=False, imports=[
        'damex_mmdet',
    ])
damex_default_backend_args = None
damex_default_classes = dict(
    comic=(
        'person',
        'car',
        'dog',
    ),
    kitchen=(
        'bottle',
        'can',
        'box',
    ),
    signs=(
        'warning',
        'noturn',
        'speedlimit',
        'stop',
    ),
    street=(
        'pedestrian',
        'cyclist',
        'vehicle',
    ),
    watercolor=(
        'person',
        'car',
        'dog',
    ),
    xray=('lesion', ))
damex_default_data_root = 'data/damex_default/'
damex_default_evaluator = dict(metric='bbox', type='MultiDatasetCocoMetric')
damex_default_expert_map = dict(
    comic=[
        0,
    ],
    kitchen=[
        2,
    ],
    signs=[
        1,
    ],
    street=[
        1,
    ],
    watercolor=[
        0,
    ],
    xray=[
        3,
    ])
damex_default_img_scale = (
    160,
    128,
)
damex_default_meta_keys = (
    'img_id',
    'img_path',
    'ori_shape',
    'img_shape',
    'scale_factor',
    'flip',
    'flip_direction',
)
damex_default_num_classes = 17
damex_default_test_dataloader = dict(
    batch_size=4,
    dataset=dict(
        datasets=dict(
            comic=dict(
                ann_file='annotations/test.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default/comic/',
                metainfo=dict(classes=(
                    'person',
                    'car',
                    'dog',
                )),
                test_mode=True,
                type='CocoDataset'),
            kitchen=dict(
                ann_file='annotations/test.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default/kitchen/',
                metainfo=dict(classes=(
                    'bottle',
                    'can',
                    'box',
                )),
                test_mode=True,
                type='CocoDataset'),
            signs=dict(
                ann_file='annotations/test.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default/signs/',
                metainfo=dict(
                    classes=(
                        'warning',
                        'noturn',
                        'speedlimit',
                        'stop',
                    )),
                test_mode=True,
                type='CocoDataset'),
            street=dict(
                ann_file='annotations/test.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default/street/',
                metainfo=dict(classes=(
                    'pedestrian',
                    'cyclist',
                    'vehicle',
                )),
                test_mode=True,
                type='CocoDataset'),
            watercolor=dict(
                ann_file='annotations/test.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default/watercolor/',
                metainfo=dict(classes=(
                    'person',
                    'car',
                    'dog',
                )),
                test_mode=True,
                type='CocoDataset'),
            xray=dict(
                ann_file='annotations/test.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default/xray/',
                metainfo=dict(classes=('lesion', )),
                test_mode=True,
                type='CocoDataset')),
        pipeline=[
            dict(backend_args=None, type='LoadImageFromFile'),
            dict(keep_ratio=True, scale=(
                160,
                128,
            ), type='Resize'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(
                meta_keys=(
                    'img_id',
                    'img_path',
                    'ori_shape',
                    'img_shape',
                    'scale_factor',
                    'flip',
                    'flip_direction',
                ),
                type='PackDetInputs'),
        ],
        type='MultiDataset'),
    drop_last=False,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(shuffle=False, type='DefaultSampler'))
damex_default_test_pipeline = [
    dict(backend_args=None, type='LoadImageFromFile'),
    dict(keep_ratio=True, scale=(
        160,
        128,
    ), type='Resize'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        meta_keys=(
            'img_id',
            'img_path',
            'ori_shape',
            'img_shape',
            'scale_factor',
            'flip',
            'flip_direction',
        ),
        type='PackDetInputs'),
]
damex_default_train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        datasets=dict(
            comic=dict(
                ann_file='annotations/train.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default/comic/',
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                metainfo=dict(classes=(
                    'person',
                    'car',
                    'dog',
                )),
                pipeline=[
                    dict(backend_args=None, type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(keep_ratio=True, scale=(
                        160,
                        128,
                    ), type='Resize'),
                    dict(prob=0.5, type='RandomFlip'),
                    dict(
                        meta_keys=(
                            'img_id',
                            'img_path',
                            'ori_shape',
                            'img_shape',
                            'scale_factor',
                            'flip',
                            'flip_direction',
                        ),
                        type='PackDetInputs'),
                ],
                type='CocoDataset'),
            kitchen=dict(
                ann_file='annotations/train.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default/kitchen/',
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                metainfo=dict(classes=(
                    'bottle',
                    'can',
                    'box',
                )),
                pipeline=[
                    dict(backend_args=None, type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(keep_ratio=True, scale=(
                        160,
                        128,
                    ), type='Resize'),
                    dict(prob=0.5, type='RandomFlip'),
                    dict(
                        meta_keys=(
                            'img_id',
                            'img_path',
                            'ori_shape',
                            'img_shape',
                            'scale_factor',
                            'flip',
                            'flip_direction',
                        ),
                        type='PackDetInputs'),
                ],
                type='CocoDataset'),
            signs=dict(
                ann_file='annotations/train.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default/signs/',
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                metainfo=dict(
                    classes=(
                        'warning',
                        'noturn',
                        'speedlimit',
                        'stop',
                    )),
                pipeline=[
                    dict(backend_args=None, type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(keep_ratio=True, scale=(
                        160,
                        128,
                    ), type='Resize'),
                    dict(prob=0.5, type='RandomFlip'),
                    dict(
                        meta_keys=(
                            'img_id',
                            'img_path',
                            'ori_shape',
                            'img_shape',
                            'scale_factor',
                            'flip',
                            'flip_direction',
                        ),
                        type='PackDetInputs'),
                ],
                type='CocoDataset'),
            street=dict(
                ann_file='annotations/train.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default/street/',
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                metainfo=dict(classes=(
                    'pedestrian',
                    'cyclist',
                    'vehicle',
                )),
                pipeline=[
                    dict(backend_args=None, type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(keep_ratio=True, scale=(
                        160,
                        128,
                    ), type='Resize'),
                    dict(prob=0.5, type='RandomFlip'),
                    dict(
                        meta_keys=(
                            'img_id',
                            'img_path',
                            'ori_shape',
                            'img_shape',
                            'scale_factor',
                            'flip',
                            'flip_direction',
                        ),
                        type='PackDetInputs'),
                ],
                type='CocoDataset'),
            watercolor=dict(
                ann_file='annotations/train.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default/watercolor/',
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                metainfo=dict(classes=(
                    'person',
                    'car',
                    'dog',
                )),
                pipeline=[
                    dict(backend_args=None, type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(keep_ratio=True, scale=(
                        160,
                        128,
                    ), type='Resize'),
                    dict(prob=0.5, type='RandomFlip'),
                    dict(
                        meta_keys=(
                            'img_id',
                            'img_path',
                            'ori_shape',
                            'img_shape',
                            'scale_factor',
                            'flip',
                            'flip_direction',
                        ),
                        type='PackDetInputs'),
                ],
                type='CocoDataset'),
            xray=dict(
                ann_file='annotations/train.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default/xray/',
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                metainfo=dict(classes=('lesion', )),
                pipeline=[
                    dict(backend_args=None, type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(keep_ratio=True, scale=(
                        160,
                        128,
                    ), type='Resize'),
                    dict(prob=0.5, type='RandomFlip'),
                    dict(
                        meta_keys=(
                            'img_id',
                            'img_path',
                            'ori_shape',
                            'img_shape',
                            'scale_factor',
                            'flip',
                            'flip_direction',
                        ),
                        type='PackDetInputs'),
                ],
                type='CocoDataset')),
        type='MultiDataset'),
    num_workers=2,
    persistent_workers=True,
    sampler=dict(
        mode='temperature',
        shuffle=True,
        temperature=0.5,
        type='MultiDatasetSampler'))
damex_default_train_pipeline = [
    dict(backend_args=None, type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(keep_ratio=True, scale=(
        160,
        128,
    ), type='Resize'),
    dict(prob=0.5, type='RandomFlip'),
    dict(
        meta_keys=(
            'img_id',
            'img_path',
            'ori_shape',
            'img_shape',
            'scale_factor',
            'flip',
            'flip_direction',
        ),
        type='PackDetInputs'),
]
data_root = 'data/coco/'
dataset_type = 'CocoDataset'
default_hooks = dict(
    checkpoint=dict(
        _scope_='mmdet',
        by_epoch=False,
        interval=300,
        max_keep_ckpts=1,
        type='ResumableCheckpointHook'),
    logger=dict(_scope_='mmdet', interval=50, type='LoggerHook'),
    param_scheduler=dict(_scope_='mmdet', type='ParamSchedulerHook'),
    sampler_seed=dict(_scope_='mmdet', type='DistSamplerSeedHook'),
    timer=dict(_scope_='mmdet', type='IterTimerHook'),
    visualization=dict(_scope_='mmdet', type='DetVisualizationHook'))
default_scope = 'mmdet'
env_cfg = dict(
    cudnn_benchmark=False,
    dist_cfg=dict(backend='nccl'),
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
load_from = None
log_level = 'INFO'
log_processor = dict(
    _scope_='mmdet', by_epoch=False, type='LogProcessor', window_size=50)
max_epochs = 12
model = dict(
    _scope_='mmdet',
    as_two_stage=True,
    backbone=dict(
        depth=18,
        frozen_stages=-1,
        init_cfg=None,
        norm_cfg=dict(requires_grad=True, type='BN'),
        norm_eval=False,
        num_stages=4,
        out_indices=(
            1,
            2,
            3,
        ),
        style='pytorch',
        type='ResNet'),
    bbox_head=dict(
        loss_bbox=dict(loss_weight=5.0, type='L1Loss'),
        loss_cls=dict(
            alpha=0.25,
            gamma=2.0,
            loss_weight=1.0,
            type='FocalLoss',
            use_sigmoid=True),
        loss_iou=dict(loss_weight=2.0, type='GIoULoss'),
        num_classes=17,
        sync_cls_avg_factor=True,
        type='DINOHead'),
    data_preprocessor=dict(
        bgr_to_rgb=True,
        mean=[
            123.675,
            116.28,
            103.53,
        ],
        pad_size_divisor=1,
        std=[
            58.395,
            57.12,
            57.375,
        ],
        type='DetDataPreprocessor'),
    decoder=dict(
        layer_cfg=dict(
            cross_attn_cfg=dict(dropout=0.0, embed_dims=256, num_levels=4),
            ffn_cfg=dict(
                embed_dims=256, feedforward_channels=512, ffn_drop=0.0),
            self_attn_cfg=dict(dropout=0.0, embed_dims=256, num_heads=8)),
        num_layers=3,
        post_norm_cfg=None,
        return_intermediate=True),
    dn_cfg=dict(
        box_noise_scale=1.0,
        group_cfg=dict(dynamic=True, num_dn_queries=30, num_groups=None),
        label_noise_scale=0.5),
    encoder=dict(
        layer_cfg=dict(
            ffn_cfg=dict(
                embed_dims=256, feedforward_channels=512, ffn_drop=0.0),
            self_attn_cfg=dict(dropout=0.0, embed_dims=256, num_levels=4)),
        num_layers=2),
    neck=dict(
        act_cfg=None,
        in_channels=[
            128,
            256,
            512,
        ],
        kernel_size=1,
        norm_cfg=dict(num_groups=32, type='GN'),
        num_outs=4,
        out_channels=256,
        type='ChannelMapper'),
    num_queries=100,
    positional_encoding=dict(
        normalize=True, num_feats=128, offset=0.0, temperature=20),
    test_cfg=dict(max_per_img=100),
    train_cfg=dict(
        assigner=dict(
            match_costs=[
                dict(type='FocalLossCost', weight=2.0),
                dict(box_format='xywh', type='BBoxL1Cost', weight=5.0),
                dict(iou_mode='giou', type='IoUCost', weight=2.0),
            ],
            type='HungarianAssigner')),
    type='DINO',
    with_box_refine=True)
optim_wrapper = dict(
    _scope_='mmdet',
    clip_grad=dict(max_norm=0.1, norm_type=2),
    optimizer=dict(lr=0.0004000004, type='AdamW', weight_decay=0.0001),
    paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=1.0))),
    type='OptimWrapper')
param_scheduler = [
    dict(begin=0, by_epoch=False, end=50, start_factor=0.1, type='LinearLR'),
    dict(
        begin=0,
        by_epoch=False,
        end=600,
        gamma=0.1,
        milestones=[
            3000,
        ],
        type='MultiStepLR'),
]
randomness = dict(seed=0)
resume = False
test_cfg = dict(_scope_='mmdet', type='TestLoop')
test_dataloader = dict(
    batch_size=4,
    dataset=dict(
        datasets=dict(
            comic=dict(
                ann_file='annotations/test.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default_v2/comic/',
                metainfo=dict(classes=(
                    'person',
                    'car',
                    'dog',
                )),
                test_mode=True,
                type='CocoDataset'),
            kitchen=dict(
                ann_file='annotations/test.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default_v2/kitchen/',
                metainfo=dict(classes=(
                    'bottle',
                    'can',
                    'box',
                )),
                test_mode=True,
                type='CocoDataset'),
            signs=dict(
                ann_file='annotations/test.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default_v2/signs/',
                metainfo=dict(
                    classes=(
                        'warning',
                        'noturn',
                        'speedlimit',
                        'stop',
                    )),
                test_mode=True,
                type='CocoDataset'),
            street=dict(
                ann_file='annotations/test.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default_v2/street/',
                metainfo=dict(classes=(
                    'pedestrian',
                    'cyclist',
                    'vehicle',
                )),
                test_mode=True,
                type='CocoDataset'),
            watercolor=dict(
                ann_file='annotations/test.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default_v2/watercolor/',
                metainfo=dict(classes=(
                    'person',
                    'car',
                    'dog',
                )),
                test_mode=True,
                type='CocoDataset'),
            xray=dict(
                ann_file='annotations/test.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default_v2/xray/',
                metainfo=dict(classes=('lesion', )),
                test_mode=True,
                type='CocoDataset')),
        pipeline=[
            dict(backend_args=None, type='LoadImageFromFile'),
            dict(keep_ratio=True, scale=(
                160,
                128,
            ), type='Resize'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(
                meta_keys=(
                    'img_id',
                    'img_path',
                    'ori_shape',
                    'img_shape',
                    'scale_factor',
                    'flip',
                    'flip_direction',
                ),
                type='PackDetInputs'),
        ],
        type='MultiDataset'),
    drop_last=False,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(shuffle=False, type='DefaultSampler'))
test_evaluator = dict(
    drawn_evals=dict(
        comic=[
            'comic',
        ], signs=[
            'street',
        ], street=[
            'signs',
        ]),
    metric='bbox',
    type='MultiDatasetCocoMetric')
test_pipeline = [
    dict(_scope_='mmdet', backend_args=None, type='LoadImageFromFile'),
    dict(_scope_='mmdet', keep_ratio=True, scale=(
        1333,
        800,
    ), type='Resize'),
    dict(_scope_='mmdet', type='LoadAnnotations', with_bbox=True),
    dict(
        _scope_='mmdet',
        meta_keys=(
            'img_id',
            'img_path',
            'ori_shape',
            'img_shape',
            'scale_factor',
        ),
        type='PackDetInputs'),
]
train_cfg = dict(
    max_iters=3600, type='ResumableIterBasedTrainLoop', val_interval=3600)
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        datasets=dict(
            comic=dict(
                ann_file='annotations/train.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default_v2/comic/',
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                metainfo=dict(classes=(
                    'person',
                    'car',
                    'dog',
                )),
                pipeline=[
                    dict(backend_args=None, type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(keep_ratio=True, scale=(
                        160,
                        128,
                    ), type='Resize'),
                    dict(prob=0.5, type='RandomFlip'),
                    dict(
                        meta_keys=(
                            'img_id',
                            'img_path',
                            'ori_shape',
                            'img_shape',
                            'scale_factor',
                            'flip',
                            'flip_direction',
                        ),
                        type='PackDetInputs'),
                ],
                type='CocoDataset'),
            kitchen=dict(
                ann_file='annotations/train.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default_v2/kitchen/',
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                metainfo=dict(classes=(
                    'bottle',
                    'can',
                    'box',
                )),
                pipeline=[
                    dict(backend_args=None, type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(keep_ratio=True, scale=(
                        160,
                        128,
                    ), type='Resize'),
                    dict(prob=0.5, type='RandomFlip'),
                    dict(
                        meta_keys=(
                            'img_id',
                            'img_path',
                            'ori_shape',
                            'img_shape',
                            'scale_factor',
                            'flip',
                            'flip_direction',
                        ),
                        type='PackDetInputs'),
                ],
                type='CocoDataset'),
            signs=dict(
                ann_file='annotations/train.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default_v2/signs/',
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                metainfo=dict(
                    classes=(
                        'warning',
                        'noturn',
                        'speedlimit',
                        'stop',
                    )),
                pipeline=[
                    dict(backend_args=None, type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(keep_ratio=True, scale=(
                        160,
                        128,
                    ), type='Resize'),
                    dict(prob=0.5, type='RandomFlip'),
                    dict(
                        meta_keys=(
                            'img_id',
                            'img_path',
                            'ori_shape',
                            'img_shape',
                            'scale_factor',
                            'flip',
                            'flip_direction',
                        ),
                        type='PackDetInputs'),
                ],
                type='CocoDataset'),
            street=dict(
                ann_file='annotations/train.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default_v2/street/',
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                metainfo=dict(classes=(
                    'pedestrian',
                    'cyclist',
                    'vehicle',
                )),
                pipeline=[
                    dict(backend_args=None, type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(keep_ratio=True, scale=(
                        160,
                        128,
                    ), type='Resize'),
                    dict(prob=0.5, type='RandomFlip'),
                    dict(
                        meta_keys=(
                            'img_id',
                            'img_path',
                            'ori_shape',
                            'img_shape',
                            'scale_factor',
                            'flip',
                            'flip_direction',
                        ),
                        type='PackDetInputs'),
                ],
                type='CocoDataset'),
            watercolor=dict(
                ann_file='annotations/train.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default_v2/watercolor/',
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                metainfo=dict(classes=(
                    'person',
                    'car',
                    'dog',
                )),
                pipeline=[
                    dict(backend_args=None, type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(keep_ratio=True, scale=(
                        160,
                        128,
                    ), type='Resize'),
                    dict(prob=0.5, type='RandomFlip'),
                    dict(
                        meta_keys=(
                            'img_id',
                            'img_path',
                            'ori_shape',
                            'img_shape',
                            'scale_factor',
                            'flip',
                            'flip_direction',
                        ),
                        type='PackDetInputs'),
                ],
                type='CocoDataset'),
            xray=dict(
                ann_file='annotations/train.json',
                backend_args=None,
                data_prefix=dict(img='images/'),
                data_root='data/damex_default_v2/xray/',
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                metainfo=dict(classes=('lesion', )),
                pipeline=[
                    dict(backend_args=None, type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(keep_ratio=True, scale=(
                        160,
                        128,
                    ), type='Resize'),
                    dict(prob=0.5, type='RandomFlip'),
                    dict(
                        meta_keys=(
                            'img_id',
                            'img_path',
                            'ori_shape',
                            'img_shape',
                            'scale_factor',
                            'flip',
                            'flip_direction',
                        ),
                        type='PackDetInputs'),
                ],
                type='CocoDataset')),
        type='MultiDataset'),
    num_workers=2,
    persistent_workers=True,
    sampler=dict(
        mode='temperature',
        shuffle=True,
        temperature=0.5,
        type='MultiDatasetSampler'))
train_pipeline = [
    dict(_scope_='mmdet', backend_args=None, type='LoadImageFromFile'),
    dict(_scope_='mmdet', type='LoadAnnotations', with_bbox=True),
    dict(_scope_='mmdet', prob=0.5, type='RandomFlip'),
    dict(
        _scope_='mmdet',
        transforms=[
            [
                dict(
                    keep_ratio=True,
                    scales=[
                        (
                            480,
                            1333,
                        ),
                        (
                            512,
                            1333,
                        ),
                        (
                            544,
                            1333,
                        ),
                        (
                            576,
                            1333,
                        ),
                        (
                            608,
                            1333,
                        ),
                        (
                            640,
                            1333,
                        ),
                        (
                            672,
                            1333,
                        ),
                        (
                            704,
                            1333,
                        ),
                        (
                            736,
                            1333,
                        ),
                        (
                            768,
                            1333,
                        ),
                        (
                            800,
                            1333,
                        ),
                    ],
                    type='RandomChoiceResize'),
            ],
            [
                dict(
                    keep_ratio=True,
                    scales=[
                        (
                            400,
                            4200,
                        ),
                        (
                            500,
                            4200,
                        ),
                        (
                            600,
                            4200,
                        ),
                    ],
                    type='RandomChoiceResize'),
                dict(
                    allow_negative_crop=True,
                    crop_size=(
                        384,
                        600,
                    ),
                    crop_type='absolute_range',
                    type='RandomCrop'),
                dict(
                    keep_ratio=True,
                    scales=[
                        (
                            480,
                            1333,
                        ),
                        (
                            512,
                            1333,
                        ),
                        (
                            544,
                            1333,
                        ),
                        (
                            576,
                            1333,
                        ),
                        (
                            608,
                            1333,
                        ),
                        (
                            640,
                            1333,
                        ),
                        (
                            672,
                            1333,
                        ),
                        (
                            704,
                            1333,
                        ),
                        (
                            736,
                            1333,
                        ),
                        (
                            768,
                            1333,
                        ),
                        (
                            800,
                            1333,
                        ),
                    ],
                    type='RandomChoiceResize'),
            ],
        ],
        type='RandomChoice'),
    dict(_scope_='mmdet', type='PackDetInputs'),
]
val_cfg = None
val_dataloader = None
val_evaluator = None
vis_backends = [
    dict(_scope_='mmdet', type='LocalVisBackend'),
]
visualizer = dict(
    _scope_='mmdet',
    name='visualizer',
    type='DetLocalVisualizer',
    vis_backends=[
        dict(type='LocalVisBackend'),
    ])
work_dir = 'work_dirs/benchmark_v2_3600/dense-jitter/seed0'
