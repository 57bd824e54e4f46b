# DINO-MoE (vanilla MoE) on the 11 UODB datasets: the "DINO-MoE mixed" row of
# the DAMEX paper's Table 1. Alternate decoder layers (0, 2, 4) get a top-1
# MoE FFN with 8 experts, a learned router with gate noise, capacity factor
# 1.25 and the importance+load balancing loss (eq. 8, weight 0.1) on
# foreground queries only.
_base_ = ['../dino/dino-4scale_r50_8xb2-12e_uodb.py']

model = dict(
    type='MoEDetector',  # any DETR-family detector + moe_cfg
    detector='DINO',  # the registered detector to convert
    moe_cfg=dict(
        layers=dict(decoder=[0, 2, 4]),  # FFNs to convert (paper: alternate decoder layers)
        num_experts=8,  # experts per MoE layer (paper: one per GPU, 8)
        router=dict(
            type='TopKRouter',
            top_k=1,  # experts per token
            gate_noise=1.0,  # N(0, (1/E)^2) logit noise in training (tutel)
            balance_loss='importance_load',  # DAMEX eq. 4-8 ('switch' also available)
            balance_weight=0.1),  # weight of loss_balance
        capacity_factor=1.25,  # tokens beyond ceil(1.25 N / E) per expert are dropped
        balance_tokens='foreground',  # matching queries assigned to a box
        expert_init='fresh'))  # or 'upcycle' (experts start as the dense FFN)
custom_hooks = [dict(type='ExpertMapHook'), dict(type='RoutingStatsHook', interval=50)]
