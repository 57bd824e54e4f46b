# DAMEX: DINO whose alternate decoder FFNs are dataset-aware MoEs, trained on
# the 11 UODB datasets (DAMEX paper, Table 1, last row). The router learns to
# send the tokens of dataset d to expert h(d) through a cross-entropy loss
# (eq. 9, weight 0.1, all decoder tokens, as the released code); at test time
# routing uses the router alone, no dataset label.
_base_ = ['../dino/dino-4scale_r50_8xb2-12e_uodb.py']

model = dict(
    type='DAMEXDINO',
    moe_cfg=dict(
        layers=dict(decoder=[0, 2, 4]),  # alternate decoder layers
        num_experts=8,
        router=dict(
            type='DatasetAwareRouter',
            gate_noise=1.0,  # as the released code
            ce_weight=0.1,  # weight of loss_damex
            balance_weight=0.0),  # released code: CE alone in DAMEX mode
        # 0 = no token is dropped. Dataset-aware routing sends an image's tokens
        # to one expert, so a fixed 1.25 factor would drop most of them.
        capacity_factor=0.0,
        ce_tokens='all',  # all decoder tokens incl. denoising queries
        # The paper's human-prior map (8 experts): COCO, VOC and Clipart share
        # one expert, KITTI and LISA share one, every other dataset has its own.
        expert_map=dict(
            coco=[0], voc=[0], clipart=[0],
            kitti=[1], lisa=[1],
            widerface=[2],
            kitchen=[3],
            dota=[4],
            deeplesion=[5],
            comic=[6],
            watercolor=[7])))
custom_hooks = [dict(type='ExpertMapHook'), dict(type='RoutingStatsHook', interval=50)]
