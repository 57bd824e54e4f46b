# Tiny DINO with MoE++ (Jin et al., ICLR 2025) on the built-in benchmark:
# decoder layers 0 and 2 get 4 FFN experts plus one zero, one copy and one
# constant expert, top-2 routing, gating residuals between the two MoE++
# layers, and the tau-weighted Switch balancing loss (tau 0.75, weight 0.1 on
# foreground queries, as the vanilla MoE baseline's weight). No dropping.
_base_ = ['../dino/dino-tiny_r18_1xb4-600i_damex-default.py']

model = dict(
    type='MoEDetector',
    detector='DINO',
    moe_cfg=dict(
        layers=dict(decoder=[0, 2]),
        num_experts=4,
        layer=dict(type='MoEPlusPlusFFN', num_zero_experts=1, num_copy_experts=1,
                   num_constant_experts=1),
        router=dict(type='MoEPlusPlusRouter', top_k=2, tau=0.75, balance_weight=0.1,
                    gating_residual=True),
        capacity_factor=0.0,
        balance_tokens='foreground',
        expert_init='upcycle',  # matched starts: experts copy the dense run's FFN init
        # used only to report router accuracy against the DAMEX map
        expert_map=_base_.damex_default_expert_map))
custom_hooks = [dict(type='ExpertMapHook'), dict(type='RoutingStatsHook', interval=50)]
