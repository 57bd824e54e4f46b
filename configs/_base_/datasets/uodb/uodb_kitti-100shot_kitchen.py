# Kitchen + 100-shot KITTI (DAMEX paper, Table 2): KITTI trains on 100 of its
# images (with all their boxes) and is still tested on its full test split.
# Make the annotation file first (deterministic, seed 0):
#   python tools/misc/make_nshot.py data/uodb/KITTI/annotations/train.json 100
_base_ = ['./uodb_kitti_kitchen.py']

train_dataloader = dict(
    dataset=dict(
        datasets=dict(
            # written by tools/misc/make_nshot.py (n=100, --seed 0)
            kitti=dict(ann_file='annotations/train_100shot_seed0.json'))))
