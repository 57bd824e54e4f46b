# Kitchen + 1000-shot KITTI (DAMEX paper, Table 2): KITTI trains on 1000 of its
# images (with all their boxes) and is still tested on its full test split.
# Make the annotation file first (deterministic, seed 0):
#   python tools/misc/make_nshot.py data/uodb/KITTI/annotations/train.json 1000
_base_ = ['./uodb_kitti_kitchen.py']

train_dataloader = dict(
    dataset=dict(
        datasets=dict(
            # written by tools/misc/make_nshot.py (n=1000, --seed 0)
            kitti=dict(ann_file='annotations/train_1000shot_seed0.json'))))
