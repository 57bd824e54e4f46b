# Generated from damex_mmdet/datasets/uodb.py by tools/misc/generate_uodb_configs.py;
# edit the spec there, not this file.
# UODB dataset 'comic' (dataset folder data/uodb/Comic/).
# Comic (Inoue et al. 2018): comics, the 6 watercolor classes.
# Annotations: COCO json written by tools/dataset_converters/uodb_to_coco.py.
# UODB resizes it to a short side of 600: uodb_datasets.py attaches
# uodb_{train,test}_pipeline_s600 to the dicts below.

# dataset folder; ann_file and data_prefix are relative to it
uodb_comic_data_root = 'data/uodb/Comic/'
# the 6 class names in label order (= COCO category ids 1, 2, ...)
uodb_comic_classes = ('bicycle', 'bird', 'car', 'cat', 'dog', 'person')

uodb_comic_train = dict(
    type='CocoDataset',  # mmdet's COCO-json dataset
    data_root=uodb_comic_data_root,
    # annotation file of UODB's training split 'train'
    ann_file='annotations/train.json',
    # image folder joined with json file_name ('' = file_name is relative to
    # data_root)
    data_prefix=dict(img=''),
    # classes to load, matched by name; other json categories are ignored
    # (default: COCO's 80)
    metainfo=dict(classes=uodb_comic_classes),
    # drop images without boxes and images smaller than 32 px (default: None)
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    backend_args=None)  # file backend (None: local disk, the default)
uodb_comic_test = dict(
    type='CocoDataset',
    data_root=uodb_comic_data_root,
    # annotation file of UODB's test split 'test'
    ann_file='annotations/test.json',
    data_prefix=dict(img=''),
    metainfo=dict(classes=uodb_comic_classes),
    test_mode=True,  # keep every image, no filtering (default: False)
    backend_args=None)
