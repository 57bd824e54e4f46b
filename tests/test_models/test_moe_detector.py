"""DAMEX / MoE detectors in the style of mmdet's test_dino.py: assert what losses mean."""
import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.structures import InstanceData

from damex_mmdet.models import MoEDetectorMixin, matching_foreground_mask
from damex_mmdet.moe import MoEFFN, routing_session
from damex_mmdet.moe.tutel_backend import tutel_available
from damex_mmdet.testing.tiny_models import (tiny_deformable_detr_cfg, tiny_detr_cfg,
                                             tiny_detr_family_cfg, tiny_dino_cfg)

register_all_modules()

EXPERT_MAP = dict(paint=[0], comic=[0], street=[1], xray=[2, 3])
NAMES = ('paint', 'street', 'xray', 'comic')


def moe_cfg(router='DatasetAwareRouter', **kwargs):
    cfg = dict(
        layers=dict(decoder=[0, 2]),
        num_experts=4,
        router=dict(router) if isinstance(router, dict) else dict(type=router, gate_noise=0.0),
        expert_map=EXPERT_MAP)
    cfg.update(kwargs)
    return cfg


def build(base_fn=tiny_dino_cfg, **moe_kwargs):
    model_cfg = base_fn()
    model_cfg.update(type='MoEDetector', detector=model_cfg['type'], moe_cfg=moe_cfg(**moe_kwargs))
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()  # DINO's level_embed is uninitialised memory until then
    return model


def make_batch(model, with_names=True, empty=False, size=64):
    """4 images with 0-2 well-formed boxes each."""
    gen = torch.Generator().manual_seed(1)
    inputs, samples = [], []
    for i in range(4):
        inputs.append(torch.randint(0, 255, (3, size, size), generator=gen, dtype=torch.uint8))
        sample = DetDataSample()
        meta = dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0),
                    pad_shape=(size, size), batch_input_shape=(size, size), img_id=i)
        if with_names:
            meta.update(dataset_name=NAMES[i])
        sample.set_metainfo(meta)
        count = 0 if empty else 1 + i % 2
        xy = torch.rand(count, 2, generator=gen) * size / 2
        wh = torch.rand(count, 2, generator=gen) * size / 3 + 8
        gt = InstanceData(bboxes=torch.cat([xy, xy + wh], 1),
                          labels=torch.randint(0, 4, (count, ), generator=gen))
        sample.gt_instances = gt
        samples.append(sample)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    return data['inputs'], data['data_samples']


def tiny_conditional_detr_cfg():
    return tiny_detr_family_cfg('conditional_detr/conditional-detr_r50_8xb2-50e_coco.py')


def tiny_dab_detr_cfg():
    return tiny_detr_family_cfg('dab_detr/dab-detr_r50_8xb2-50e_coco.py')


@pytest.mark.parametrize('base_fn', [
    tiny_dino_cfg, tiny_deformable_detr_cfg, tiny_detr_cfg, tiny_conditional_detr_cfg,
    tiny_dab_detr_cfg
])
def test_conversion_by_config_on_detr_family(base_fn):
    model = build(base_fn)
    assert isinstance(model, MoEDetectorMixin)
    assert list(model.moe_layers) == ['decoder.layers.0.ffn', 'decoder.layers.2.ffn']
    assert isinstance(model.decoder.layers[0].ffn, MoEFFN)
    assert not isinstance(model.decoder.layers[1].ffn, MoEFFN)
    assert not any(isinstance(m, MoEFFN) for m in model.encoder.modules())
    inputs, samples = make_batch(model)
    model.train()
    losses = model.loss(inputs, samples)
    assert 'loss_damex' in losses and torch.isfinite(losses['loss_damex'])
    assert {'dec0.damex', 'dec2.damex', 'dec0.router_acc', 'dec0.drop'} <= set(losses)


def test_empty_gt_box_losses_zero_and_aux_losses_finite():
    model = build(router='TopKRouter', expert_map=None)
    model.moe_layers['decoder.layers.0.ffn'].router.balance_weight = 0.1
    model.train()
    inputs, samples = make_batch(model, empty=True)
    losses = model.loss(inputs, samples)
    for key in ('loss_bbox', 'loss_iou', 'd0.loss_bbox', 'd1.loss_iou'):
        assert float(losses[key]) == 0, key
    # no ground truth -> no foreground token -> balancing loss exactly 0, not NaN
    assert float(losses['loss_balance']) == 0.0


def test_foreground_mask_counts_matched_queries_only():
    model = build()
    model.train()
    inputs, samples = make_batch(model)
    img_feats = model.extract_feat(inputs)
    targets = model.image_targets(samples, required=True)
    with routing_session(model, targets):  # what model.loss opens around its forward
        head_inputs = model.forward_transformer(img_feats, samples)
    mask = matching_foreground_mask(model.bbox_head, head_inputs, samples)
    assert mask.shape == (4, model.num_queries)  # denoising queries excluded
    assert mask.sum(1).tolist() == [len(s.gt_instances) for s in samples]


def test_training_step_updates_router_and_experts():
    model = build()
    model.train()
    inputs, samples = make_batch(model)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    layer = model.moe_layers['decoder.layers.0.ffn']
    gate0 = layer.router.gate.weight.detach().clone()
    w1_0 = layer.experts.w1.detach().clone()
    losses = model.loss(inputs, samples)
    optim.zero_grad()
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    optim.step()
    assert not torch.equal(gate0, layer.router.gate.weight)
    assert not torch.equal(w1_0, layer.experts.w1)


def damex_ce_over_steps(model, steps, expected_logs=()):
    """``loss_damex`` over ``steps`` router-only AdamW steps on one fixed batch."""
    model.train()
    inputs, samples = make_batch(model)
    routers = [p for n, p in model.named_parameters() if '.router.' in n]
    optim = torch.optim.AdamW(routers, lr=1e-2)
    ce = []
    for _ in range(steps):
        torch.manual_seed(0)
        losses = model.loss(inputs, samples)
        assert set(expected_logs) <= set(losses)
        ce.append(float(losses['loss_damex']))
        optim.zero_grad()
        losses['loss_damex'].backward()
        optim.step()
    return ce


def test_damex_ce_decreases_on_a_fixed_batch():
    ce = damex_ce_over_steps(build(), 8)
    assert ce[-1] < 0.8 * ce[0], ce


def test_predictions_identical_with_and_without_dataset_names():
    model = build()
    model.eval()
    inputs, with_ids = make_batch(model)
    _, without_ids = make_batch(model, with_names=False)
    with torch.no_grad():
        a = model.predict(inputs, with_ids)
        b = model.predict(inputs, without_ids)
    for x, y in zip(a, b):
        assert torch.equal(x.pred_instances.bboxes, y.pred_instances.bboxes)
        assert torch.equal(x.pred_instances.scores, y.pred_instances.scores)


def test_training_without_dataset_name_fails_early_naming_multidataset():
    model = build()
    model.train()
    inputs, samples = make_batch(model, with_names=False)
    with pytest.raises(ValueError, match="'dataset_name'.*MultiDataset"):
        model.loss(inputs, samples)


@pytest.mark.parametrize('kwargs,message', [
    (dict(bogus=1), 'unknown key'),
    (dict(expert_map=None), 'expert_map is not set'),
    (dict(layers=dict(decoder=[7])), 'has 3 layers'),
    (dict(layers=dict(neck=[0])), "no 'neck.layers'"),
    (dict(ce_tokens='some'), 'ce_tokens'),
    (dict(backend='cuda'), "moe_cfg.backend='cuda'; use one of"),
])
def test_bad_moe_cfg_raises_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


def test_dense_checkpoint_is_upcycled_on_load():
    dense_cfg = tiny_dino_cfg()
    torch.manual_seed(0)
    dense = MODELS.build(copy.deepcopy(dense_cfg))
    dense.init_weights()
    model = build()
    result = model.load_state_dict(dense.state_dict(), strict=False)
    assert not result.unexpected_keys
    fc1 = dense.decoder.layers[2].ffn.layers[0][0].weight
    experts = model.decoder.layers[2].ffn.experts
    for e in range(4):
        assert torch.equal(experts.w1[e], fc1.t())


@pytest.mark.skipif(not tutel_available(),
                    reason='tutel is not installed (not on the package index): the tutel '
                    'backend of a detector cannot be compared with the native one here')
def test_tutel_backend_detector_losses_equal_native():
    native, tutel = build(capacity_factor=1.0), build(capacity_factor=1.0, backend='tutel')
    assert type(tutel.moe_layers['decoder.layers.0.ffn']).__name__ == 'TutelMoEFFN'
    tutel.load_state_dict(native.state_dict(), strict=True)  # same checkpoint format
    native.train(), tutel.train()
    inputs, samples = make_batch(native)
    results = []
    for model in (native, tutel):
        torch.manual_seed(0)  # DINO's denoising queries
        results.append(model.loss(inputs, samples))
    for key, value in results[0].items():
        assert torch.allclose(results[1][key], value, atol=1e-4, rtol=1e-4), key
    assert float(results[0]['loss_damex']) > 0 and 'dec0.drop' in results[0]


def test_checkpoint_with_other_expert_count_stops_naming_layer_and_key():
    from mmengine.runner.checkpoint import load_state_dict
    source = build(num_experts=4)
    target = build(num_experts=2, expert_map=dict(paint=[0], comic=[0], street=[1], xray=[1]))
    before = target.decoder.layers[0].ffn.experts.w1.detach().clone()
    # mmengine's non-strict load (what load_from uses) must not turn this into a warning
    with pytest.raises(ValueError, match=r'decoder\.layers\.0\.ffn.*4 experts.*'
                       r'model\.moe_cfg\.num_experts=4'):
        load_state_dict(target, source.state_dict(), strict=False)
    assert torch.equal(target.decoder.layers[0].ffn.experts.w1, before)


def test_checkpoint_moe_layer_that_is_dense_here_stops_naming_moe_cfg_layers():
    from mmengine.runner.checkpoint import load_state_dict
    source = build()  # MoE at decoder layers 0 and 2
    target = build(layers=dict(decoder=[0]))
    with pytest.raises(ValueError, match=r"\['decoder\.layers\.2\.ffn'\].*moe_cfg\.layers"):
        load_state_dict(target, source.state_dict(), strict=False)


def test_dense_checkpoint_upcycling_says_so():
    torch.manual_seed(0)
    dense = MODELS.build(tiny_dino_cfg())
    model = build()
    with pytest.warns(UserWarning, match=r'decoder\.layers\.0\.ffn.*upcycled.*4 experts'):
        model.load_state_dict(dense.state_dict(), strict=False)


# the GEM paper's MoE baselines, as moe_cfg choices
ROUTINGS = {
    'remoe': dict(router=dict(type='ReLURouter'), expert_map=None),
    'softmoe': dict(router=dict(type='SoftMoERouter'), layer=dict(type='SoftMoEFFN'),
                    expert_map=None),
    'moepp': dict(router=dict(type='MoEPlusPlusRouter'), layer=dict(type='MoEPlusPlusFFN'),
                  expert_map=None),
}
ROUTING_LOGS = {
    'remoe': {'loss_l1', 'dec0.l1', 'dec0.sparsity', 'dec0.active', 'dec0.l1_coef'},
    'softmoe': {'dec0.drop'},
    'moepp': {'loss_balance', 'dec0.balance', 'dec0.cheap'},
}


@pytest.mark.parametrize('routing', sorted(ROUTINGS))
@pytest.mark.parametrize('base_fn', [tiny_dino_cfg, tiny_deformable_detr_cfg, tiny_detr_cfg])
def test_baseline_routings_train_in_detr_family_detectors(base_fn, routing):
    model = build(base_fn, **ROUTINGS[routing])
    inputs, samples = make_batch(model)
    model.train()
    losses = model.loss(inputs, samples)
    assert ROUTING_LOGS[routing] <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    for name, layer in model.moe_layers.items():
        assert layer.experts.w1.grad.abs().sum() > 0, name
    # predictions of an image do not depend on the rest of its batch
    model.eval()
    with torch.no_grad():
        together = model.predict(inputs, samples)
        alone = model.predict(inputs[:1], samples[:1])
    assert torch.allclose(together[0].pred_instances.scores, alone[0].pred_instances.scores,
                          atol=1e-4)


def _dino_decoder_inputs(model, inputs, samples):
    img_feats = model.extract_feat(inputs)
    encoder_inputs, decoder_inputs = model.pre_transformer(img_feats, samples)
    encoder_outputs = model.forward_encoder(**encoder_inputs)
    extra, head_inputs = model.pre_decoder(**encoder_outputs, batch_data_samples=samples)
    decoder_inputs.update(extra)
    query = decoder_inputs['query'].detach().requires_grad_()
    decoder_inputs['query'] = query
    return decoder_inputs, head_inputs['dn_meta']['num_denoising_queries']


def test_soft_moe_never_mixes_denoising_queries_into_matching_ones_in_dino():
    from mmdet.models.detectors import DINO
    model = build(tiny_dino_cfg, **ROUTINGS['softmoe'])
    model.train()
    inputs, samples = make_batch(model)
    torch.manual_seed(0)
    decoder_inputs, num_dn = _dino_decoder_inputs(model, inputs, samples)
    assert num_dn > 0
    with routing_session(model):
        hidden = model.forward_decoder(**decoder_inputs)['hidden_states']
    query = decoder_inputs['query']
    grad, = torch.autograd.grad(hidden[-1][:, num_dn:].sum(), query)
    assert torch.all(grad[:, :num_dn] == 0)  # matching outputs see no denoising query
    assert grad[:, num_dn:].abs().sum() > 0
    # the same decoder mixing all queries of an image in one group leaks: the test can fail
    with routing_session(model):
        mixed = DINO.forward_decoder(model, **decoder_inputs)['hidden_states']
    grad, = torch.autograd.grad(mixed[-1][:, num_dn:].sum(), query)
    assert grad[:, :num_dn].abs().sum() > 0
