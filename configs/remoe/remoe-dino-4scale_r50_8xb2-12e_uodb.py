# DINO with ReMoE routing on the 11 UODB datasets (the GEM paper's ReMoE
# baseline): alternate decoder layers (0, 2, 4) get 8 experts behind a ReLU
# router, dropless, with the load-balanced L1 steering the mean number of
# active experts per token to 1 (initial coefficient 1e-8, step 1.2).
_base_ = ['../dino/dino-4scale_r50_8xb2-12e_uodb.py']

model = dict(
    type='MoEDetector',
    detector='DINO',
    moe_cfg=dict(
        layers=dict(decoder=[0, 2, 4]),
        num_experts=8,
        router=dict(type='ReLURouter', target_active=1.0, l1_init=1e-8, l1_step=1.2,
                    load_balanced=True),
        capacity_factor=0.0,
        expert_init='fresh'))
custom_hooks = [dict(type='ExpertMapHook'), dict(type='RoutingStatsHook', interval=50)]
