# Generated from damex_mmdet/datasets/uodb.py by tools/misc/generate_uodb_configs.py;
# edit the spec there, not this file.
# UODB dataset 'coco' (dataset folder data/uodb/COCO/).
# COCO 2014: trains on valminusminival2014 (~35k images), tests on
# minival2014 (5k); COCO json used as released, images in val2014/.
# UODB resizes it to a short side of 800: uodb_datasets.py attaches
# uodb_{train,test}_pipeline_s800 to the dicts below.

# dataset folder; ann_file and data_prefix are relative to it
uodb_coco_data_root = 'data/uodb/COCO/'
# the 80 class names in label order (= COCO category ids 1, 2, ...)
uodb_coco_classes = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train',
    'truck', 'boat', 'traffic light', 'fire hydrant', 'stop sign',
    'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag',
    'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon',
    'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot',
    'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant',
    'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
    'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush')

uodb_coco_train = dict(
    type='CocoDataset',  # mmdet's COCO-json dataset
    data_root=uodb_coco_data_root,
    # annotation file of UODB's training split 'valminusminival2014'
    ann_file='annotations/instances_valminusminival2014.json',
    # image folder joined with json file_name ('' = file_name is relative to
    # data_root)
    data_prefix=dict(img='val2014/'),
    # classes to load, matched by name; other json categories are ignored
    # (default: COCO's 80)
    metainfo=dict(classes=uodb_coco_classes),
    # drop images without boxes and images smaller than 32 px (default: None)
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    backend_args=None)  # file backend (None: local disk, the default)
uodb_coco_test = dict(
    type='CocoDataset',
    data_root=uodb_coco_data_root,
    # annotation file of UODB's test split 'minival2014'
    ann_file='annotations/instances_minival2014.json',
    data_prefix=dict(img='val2014/'),
    metainfo=dict(classes=uodb_coco_classes),
    test_mode=True,  # keep every image, no filtering (default: False)
    backend_args=None)
