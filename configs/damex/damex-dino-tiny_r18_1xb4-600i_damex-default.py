# Tiny DAMEX-DINO on the built-in benchmark (the README's main job): decoder
# layers 0 and 2 get a dataset-aware top-1 MoE FFN with 4 experts; the router
# learns the human-prior map below by cross-entropy (weight 0.1, all decoder
# tokens) and needs no dataset label at test time. No token is dropped.
_base_ = ['../dino/dino-tiny_r18_1xb4-600i_damex-default.py']

model = dict(
    type='DAMEXDINO',
    moe_cfg=dict(
        layers=dict(decoder=[0, 2]),
        num_experts=4,
        router=dict(type='DatasetAwareRouter', gate_noise=1.0, ce_weight=0.1),
        capacity_factor=0.0,
        ce_tokens='all',
        # every expert starts as a copy of the FFN it replaces, initialised
        # exactly as in the dense DINO run of the same seed (matched starts);
        # 'fresh' draws the experts independently (README: ablation)
        expert_init='upcycle',
        expert_map=_base_.damex_default_expert_map))
custom_hooks = [dict(type='ExpertMapHook'), dict(type='RoutingStatsHook', interval=50)]
