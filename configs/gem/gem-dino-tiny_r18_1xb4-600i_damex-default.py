# Tiny GEM-DINO on the built-in benchmark: training dispatches tokens by the
# compiled map (FixedMapRouter, no balancing loss), the gate learns the map by
# cross-entropy for inference. Plan a map of your own with
#   python tools/plan_experts.py --config configs/gem/gem-dino-tiny_r18_1xb4-600i_damex-default.py \
#       --num-experts 4 --out-dir work_dirs/gem_plan
_base_ = ['../damex/damex-dino-tiny_r18_1xb4-600i_damex-default.py']

model = dict(
    moe_cfg=dict(
        router=dict(_delete_=True, type='FixedMapRouter', ce_weight=0.1, combine='one')))
