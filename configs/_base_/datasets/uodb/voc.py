# Generated from damex_mmdet/datasets/uodb.py by tools/misc/generate_uodb_configs.py;
# edit the spec there, not this file.
# UODB dataset 'voc' (dataset folder data/uodb/VOC/).
# PASCAL VOC: trains on VOC2007+VOC2012 trainval, tests on VOC2007 test;
# file names carry the VOC2007/ or VOC2012/ tree.
# Annotations: COCO json written by tools/dataset_converters/uodb_to_coco.py.
# UODB resizes it to a short side of 600: uodb_datasets.py attaches
# uodb_{train,test}_pipeline_s600 to the dicts below.

# dataset folder; ann_file and data_prefix are relative to it
uodb_voc_data_root = 'data/uodb/VOC/'
# the 20 class names in label order (= COCO category ids 1, 2, ...)
uodb_voc_classes = (
    'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
    'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
    'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')

uodb_voc_train = dict(
    type='CocoDataset',  # mmdet's COCO-json dataset
    data_root=uodb_voc_data_root,
    # annotation file of UODB's training split 'trainval'
    ann_file='annotations/trainval.json',
    # image folder joined with json file_name ('' = file_name is relative to
    # data_root)
    data_prefix=dict(img=''),
    # classes to load, matched by name; other json categories are ignored
    # (default: COCO's 80)
    metainfo=dict(classes=uodb_voc_classes),
    # drop images without boxes and images smaller than 32 px (default: None)
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    backend_args=None)  # file backend (None: local disk, the default)
uodb_voc_test = dict(
    type='CocoDataset',
    data_root=uodb_voc_data_root,
    # annotation file of UODB's test split 'test'
    ann_file='annotations/test.json',
    data_prefix=dict(img=''),
    metainfo=dict(classes=uodb_voc_classes),
    test_mode=True,  # keep every image, no filtering (default: False)
    backend_args=None)
