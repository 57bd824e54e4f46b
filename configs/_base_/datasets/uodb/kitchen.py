# Generated from damex_mmdet/datasets/uodb.py by tools/misc/generate_uodb_configs.py;
# edit the spec there, not this file.
# UODB dataset 'kitchen' (dataset folder data/uodb/Kitchen/).
# GMU Kitchen: 11 grocery items, PNG frames; frame names repeat
# across scenes, file names come from the unique split-file ids.
# Annotations: COCO json written by tools/dataset_converters/uodb_to_coco.py.
# UODB resizes it to a short side of 800: uodb_datasets.py attaches
# uodb_{train,test}_pipeline_s800 to the dicts below.

# dataset folder; ann_file and data_prefix are relative to it
uodb_kitchen_data_root = 'data/uodb/Kitchen/'
# the 11 class names in label order (= COCO category ids 1, 2, ...)
uodb_kitchen_classes = (
    'coca_cola_glass_bottle', 'coffee_mate_french_vanilla',
    'honey_bunches_of_oats_honey_roasted', 'hunts_sauce', 'mahatma_rice',
    'nature_valley_soft_baked_oatmeal_squares_cinnamon_brown_sugar',
    'nature_valley_sweet_and_salty_nut_almond', 'palmolive_orange',
    'pop_secret_light_butter', 'pringles_bbq', 'red_bull')

uodb_kitchen_train = dict(
    type='CocoDataset',  # mmdet's COCO-json dataset
    data_root=uodb_kitchen_data_root,
    # annotation file of UODB's training split 'train'
    ann_file='annotations/train.json',
    # image folder joined with json file_name ('' = file_name is relative to
    # data_root)
    data_prefix=dict(img=''),
    # classes to load, matched by name; other json categories are ignored
    # (default: COCO's 80)
    metainfo=dict(classes=uodb_kitchen_classes),
    # drop images without boxes and images smaller than 32 px (default: None)
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    backend_args=None)  # file backend (None: local disk, the default)
uodb_kitchen_test = dict(
    type='CocoDataset',
    data_root=uodb_kitchen_data_root,
    # annotation file of UODB's test split 'test'
    ann_file='annotations/test.json',
    data_prefix=dict(img=''),
    metainfo=dict(classes=uodb_kitchen_classes),
    test_mode=True,  # keep every image, no filtering (default: False)
    backend_args=None)
