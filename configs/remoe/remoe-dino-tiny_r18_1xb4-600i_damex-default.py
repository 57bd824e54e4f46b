# Tiny DINO with ReMoE routing (Wang et al., ICLR 2025) on the built-in benchmark:
# decoder layers 0 and 2 get 4 experts behind a ReLU router; no top-k and no
# capacity (dropless), an L1 on the gates whose coefficient steers the mean
# number of active experts per token to 1 (the compute of top-1 routing), with
# the paper's load-balanced L1, initial coefficient 1e-8 and step 1.2.
_base_ = ['../dino/dino-tiny_r18_1xb4-600i_damex-default.py']

model = dict(
    type='MoEDetector',
    detector='DINO',
    moe_cfg=dict(
        layers=dict(decoder=[0, 2]),
        num_experts=4,
        router=dict(type='ReLURouter', target_active=1.0, l1_init=1e-8, l1_step=1.2,
                    load_balanced=True),
        capacity_factor=0.0,
        expert_init='upcycle',  # matched starts: experts copy the dense run's FFN init
        # used only to report router accuracy against the DAMEX map
        expert_map=_base_.damex_default_expert_map))
custom_hooks = [dict(type='ExpertMapHook'), dict(type='RoutingStatsHook', interval=50)]
