# Generated from damex_mmdet/datasets/uodb.py by tools/misc/generate_uodb_configs.py;
# edit the spec there, not this file.
# The 11 UODB datasets with their pipelines, as two ordered mappings
# name -> mmdet dataset config, ready for MultiDataset:
#   uodb_train_datasets.<name>: UODB training split, training pipeline
#   uodb_test_datasets.<name>:  UODB test split, test pipeline
# and the dataloader settings the mixture configs share. Names are the
# canonical lower-case ones of damex_mmdet.datasets.uodb.UODB_DATASETS; the
# order is the DAMEX paper's (Table 1). Inherit this file (no dataloader keys,
# all names prefixed `uodb_`) to compose a mixture of your own, e.g.
#   train_dataloader = dict(
#       _base_.uodb_train_loader,
#       dataset=dict(type='MultiDataset', datasets=dict(
#           kitti=_base_.uodb_train_datasets.kitti,
#           lisa=_base_.uodb_train_datasets.lisa)))
_base_ = [
    './uodb_pipelines.py', './kitti.py', './voc.py', './widerface.py',
    './lisa.py', './kitchen.py', './coco.py', './dota.py', './deeplesion.py',
    './comic.py', './clipart.py', './watercolor.py']

# each dataset with the pipeline of its UODB input size (short side)
uodb_train_datasets = dict(
    kitti=dict(_base_.uodb_kitti_train,
               pipeline=_base_.uodb_train_pipeline_s576),
    voc=dict(_base_.uodb_voc_train,
             pipeline=_base_.uodb_train_pipeline_s600),
    widerface=dict(_base_.uodb_widerface_train,
                   pipeline=_base_.uodb_train_pipeline_s800),
    lisa=dict(_base_.uodb_lisa_train,
              pipeline=_base_.uodb_train_pipeline_s800),
    kitchen=dict(_base_.uodb_kitchen_train,
                 pipeline=_base_.uodb_train_pipeline_s800),
    coco=dict(_base_.uodb_coco_train,
              pipeline=_base_.uodb_train_pipeline_s800),
    dota=dict(_base_.uodb_dota_train,
              pipeline=_base_.uodb_train_pipeline_s600),
    deeplesion=dict(_base_.uodb_deeplesion_train,
                    pipeline=_base_.uodb_train_pipeline_s512),
    comic=dict(_base_.uodb_comic_train,
               pipeline=_base_.uodb_train_pipeline_s600),
    clipart=dict(_base_.uodb_clipart_train,
                 pipeline=_base_.uodb_train_pipeline_s600),
    watercolor=dict(_base_.uodb_watercolor_train,
                    pipeline=_base_.uodb_train_pipeline_s600))
uodb_test_datasets = dict(
    kitti=dict(_base_.uodb_kitti_test,
               pipeline=_base_.uodb_test_pipeline_s576),
    voc=dict(_base_.uodb_voc_test,
             pipeline=_base_.uodb_test_pipeline_s600),
    widerface=dict(_base_.uodb_widerface_test,
                   pipeline=_base_.uodb_test_pipeline_s800),
    lisa=dict(_base_.uodb_lisa_test,
              pipeline=_base_.uodb_test_pipeline_s800),
    kitchen=dict(_base_.uodb_kitchen_test,
                 pipeline=_base_.uodb_test_pipeline_s800),
    coco=dict(_base_.uodb_coco_test,
              pipeline=_base_.uodb_test_pipeline_s800),
    dota=dict(_base_.uodb_dota_test,
              pipeline=_base_.uodb_test_pipeline_s600),
    deeplesion=dict(_base_.uodb_deeplesion_test,
                    pipeline=_base_.uodb_test_pipeline_s512),
    comic=dict(_base_.uodb_comic_test,
               pipeline=_base_.uodb_test_pipeline_s600),
    clipart=dict(_base_.uodb_clipart_test,
                 pipeline=_base_.uodb_test_pipeline_s600),
    watercolor=dict(_base_.uodb_watercolor_test,
                    pipeline=_base_.uodb_test_pipeline_s600))

# Dataloader settings of the mixtures (everything but `dataset`).
uodb_train_loader = dict(
    batch_size=2,  # images per GPU (DAMEX: 2 per GPU on 8 GPUs)
    num_workers=2,  # loading processes per GPU
    persistent_workers=True,  # keep the workers between epochs
    # draws from the datasets with probability ~ size (mode='natural', i.e.
    # plain concatenation as in DAMEX); 'uniform' or 'temperature' (with
    # temperature=T, p ~ size**T) rebalance small datasets
    sampler=dict(type='MultiDatasetSampler', mode='natural', shuffle=True),
    # batches images of similar aspect ratio (less padding)
    batch_sampler=dict(type='AspectRatioBatchSampler'))
uodb_test_loader = dict(
    batch_size=1,  # images per GPU
    num_workers=2,
    persistent_workers=True,
    drop_last=False,  # evaluate every image
    sampler=dict(type='DefaultSampler', shuffle=False))  # fixed order
