# DINO with Soft MoE on the 11 UODB datasets (the GEM paper's SoftMoE
# baseline): alternate decoder layers (0, 2, 4) get 8 experts with 16 slots
# each; slots mix the tokens of one image and one token group (each denoising
# group, and the matching queries), so no ground truth leaks into the matching
# queries. No dropping, no auxiliary loss.
_base_ = ['../dino/dino-4scale_r50_8xb2-12e_uodb.py']

model = dict(
    type='MoEDetector',
    detector='DINO',
    moe_cfg=dict(
        layers=dict(decoder=[0, 2, 4]),
        num_experts=8,
        layer=dict(type='SoftMoEFFN'),
        router=dict(type='SoftMoERouter', slots_per_expert=16, normalize=True),
        expert_init='fresh'))
custom_hooks = [dict(type='ExpertMapHook'), dict(type='RoutingStatsHook', interval=50)]
