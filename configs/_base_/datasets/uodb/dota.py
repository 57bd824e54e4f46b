# Generated from damex_mmdet/datasets/uodb.py by tools/misc/generate_uodb_configs.py;
# edit the spec there, not this file.
# UODB dataset 'dota' (dataset folder data/uodb/DOTA/).
# DOTA: aerial images, horizontal boxes, 15 classes.
# Annotations: COCO json written by tools/dataset_converters/uodb_to_coco.py.
# UODB resizes it to a short side of 600: uodb_datasets.py attaches
# uodb_{train,test}_pipeline_s600 to the dicts below.

# dataset folder; ann_file and data_prefix are relative to it
uodb_dota_data_root = 'data/uodb/DOTA/'
# the 15 class names in label order (= COCO category ids 1, 2, ...)
uodb_dota_classes = (
    'plane', 'baseball-diamond', 'bridge', 'ground-track-field',
    'small-vehicle', 'large-vehicle', 'ship', 'tennis-court',
    'basketball-court', 'storage-tank', 'soccer-ball-field', 'roundabout',
    'harbor', 'swimming-pool', 'helicopter')

uodb_dota_train = dict(
    type='CocoDataset',  # mmdet's COCO-json dataset
    data_root=uodb_dota_data_root,
    # annotation file of UODB's training split 'train'
    ann_file='annotations/train.json',
    # image folder joined with json file_name ('' = file_name is relative to
    # data_root)
    data_prefix=dict(img=''),
    # classes to load, matched by name; other json categories are ignored
    # (default: COCO's 80)
    metainfo=dict(classes=uodb_dota_classes),
    # drop images without boxes and images smaller than 32 px (default: None)
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    backend_args=None)  # file backend (None: local disk, the default)
uodb_dota_test = dict(
    type='CocoDataset',
    data_root=uodb_dota_data_root,
    # annotation file of UODB's test split 'val'
    ann_file='annotations/val.json',
    data_prefix=dict(img=''),
    metainfo=dict(classes=uodb_dota_classes),
    test_mode=True,  # keep every image, no filtering (default: False)
    backend_args=None)
