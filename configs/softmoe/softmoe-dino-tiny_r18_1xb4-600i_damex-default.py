# Tiny DINO with Soft MoE (Puigcerver et al., ICLR 2024) on the built-in
# benchmark: decoder layers 0 and 2 get 4 experts with 4 slots each. Slots mix
# tokens of one image and one token group only (each denoising group, and the
# matching queries: the groups of DINO's attention mask), so no ground truth
# leaks into the matching queries. 16 slots per group over ~11 groups per image
# is about one expert evaluation per decoder token (the compute of top-1).
# No token dropping, no auxiliary loss.
_base_ = ['../dino/dino-tiny_r18_1xb4-600i_damex-default.py']

model = dict(
    type='MoEDetector',
    detector='DINO',
    moe_cfg=dict(
        layers=dict(decoder=[0, 2]),
        num_experts=4,
        layer=dict(type='SoftMoEFFN'),
        router=dict(type='SoftMoERouter', slots_per_expert=4, normalize=True),
        expert_init='upcycle',  # matched starts: experts copy the dense run's FFN init
        # used only to report which expert contributes most against the DAMEX map
        expert_map=_base_.damex_default_expert_map))
custom_hooks = [dict(type='ExpertMapHook'), dict(type='RoutingStatsHook', interval=50)]
