# GEM-DINO: Global Expert Mapping on the 11 UODB datasets. A planner/compiler
# (tools/plan_experts.py) fixes the dataset->expert map; training dispatches
# tokens by that map exactly (no learned choice, no balancing loss) and trains
# the gate by cross-entropy to reproduce it, so inference needs no dataset id.
_base_ = ['../damex/damex-dino-4scale_r50_8xb2-12e_uodb.py']

model = dict(
    moe_cfg=dict(
        router=dict(
            _delete_=True,
            type='FixedMapRouter',
            ce_weight=0.1,  # gate learns the map (for inference)
            combine='one'),  # expert outputs are not scaled by the gate
        # The expert map (inherited: DAMEX's human prior) is replaced by a planned one
        # without editing this file:
        #   python tools/plan_experts.py --config configs/gem/gem-dino-4scale_r50_8xb2-12e_uodb.py \
        #       --checkpoint CKPT --out-dir work_dirs/gem_plan \
        #       --write-config work_dirs/gem_plan/gem-planned.py
        #   python tools/train.py work_dirs/gem_plan/gem-planned.py
        # (num_experts: model.moe_cfg.num_experts of this config unless --num-experts)
    ))
