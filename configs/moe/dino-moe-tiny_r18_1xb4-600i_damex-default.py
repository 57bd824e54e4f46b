# Tiny DINO-MoE (vanilla MoE) on the built-in benchmark: decoder layers 0 and 2
# (alternate layers of 3) get a top-1 MoE FFN with 4 experts, a learned router
# with gate noise, capacity factor 1.25 and the importance+load balancing loss
# (weight 0.1) on foreground queries, as the DAMEX paper's MoE baseline.
_base_ = ['../dino/dino-tiny_r18_1xb4-600i_damex-default.py']

model = dict(
    type='MoEDetector',
    detector='DINO',
    moe_cfg=dict(
        layers=dict(decoder=[0, 2]),
        num_experts=4,
        router=dict(type='TopKRouter', gate_noise=1.0, balance_loss='importance_load',
                    balance_weight=0.1),
        capacity_factor=1.25,
        balance_tokens='foreground',
        # every expert starts as a copy of the FFN it replaces, initialised
        # exactly as in the dense DINO run of the same seed (matched starts);
        # 'fresh' draws the experts independently (README: ablation)
        expert_init='upcycle',
        # used only to report router accuracy against the DAMEX map
        expert_map=_base_.damex_default_expert_map))
custom_hooks = [dict(type='ExpertMapHook'), dict(type='RoutingStatsHook', interval=50)]
