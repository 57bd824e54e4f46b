# DINO with MoE++ on the 11 UODB datasets (the GEM paper's MoE++ baseline):
# alternate decoder layers (0, 2, 4) get 8 FFN experts plus one zero, one copy
# and two constant experts (the paper's 8 FFN : 4 zero-computation ratio),
# top-2 routing, gating residuals, tau-weighted balancing (tau 0.75, weight
# 0.1 on foreground queries). No dropping.
_base_ = ['../dino/dino-4scale_r50_8xb2-12e_uodb.py']

model = dict(
    type='MoEDetector',
    detector='DINO',
    moe_cfg=dict(
        layers=dict(decoder=[0, 2, 4]),
        num_experts=8,
        layer=dict(type='MoEPlusPlusFFN', num_zero_experts=1, num_copy_experts=1,
                   num_constant_experts=2),
        router=dict(type='MoEPlusPlusRouter', top_k=2, tau=0.75, balance_weight=0.1,
                    gating_residual=True),
        capacity_factor=0.0,
        balance_tokens='foreground',
        expert_init='fresh'))
custom_hooks = [dict(type='ExpertMapHook'), dict(type='RoutingStatsHook', interval=50)]
