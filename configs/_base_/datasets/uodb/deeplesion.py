# Generated from damex_mmdet/datasets/uodb.py by tools/misc/generate_uodb_configs.py;
# edit the spec there, not this file.
# UODB dataset 'deeplesion' (dataset folder data/uodb/DeepLesion/).
# DeepLesion: CT slices (16-bit PNG), one class.
# Annotations: COCO json written by tools/dataset_converters/uodb_to_coco.py.
# UODB resizes it to a short side of 512: uodb_datasets.py attaches
# uodb_{train,test}_pipeline_s512 to the dicts below.

# dataset folder; ann_file and data_prefix are relative to it
uodb_deeplesion_data_root = 'data/uodb/DeepLesion/'
# the 1 class names in label order (= COCO category ids 1, 2, ...)
uodb_deeplesion_classes = ('lesion',)

uodb_deeplesion_train = dict(
    type='CocoDataset',  # mmdet's COCO-json dataset
    data_root=uodb_deeplesion_data_root,
    # annotation file of UODB's training split 'trainval'
    ann_file='annotations/trainval.json',
    # image folder joined with json file_name ('' = file_name is relative to
    # data_root)
    data_prefix=dict(img=''),
    # classes to load, matched by name; other json categories are ignored
    # (default: COCO's 80)
    metainfo=dict(classes=uodb_deeplesion_classes),
    # drop images without boxes and images smaller than 32 px (default: None)
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    backend_args=None)  # file backend (None: local disk, the default)
uodb_deeplesion_test = dict(
    type='CocoDataset',
    data_root=uodb_deeplesion_data_root,
    # annotation file of UODB's test split 'test'
    ann_file='annotations/test.json',
    data_prefix=dict(img=''),
    metainfo=dict(classes=uodb_deeplesion_classes),
    test_mode=True,  # keep every image, no filtering (default: False)
    backend_args=None)
