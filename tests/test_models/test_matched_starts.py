"""Matched starts: every variant of a comparison starts from the dense detector's weights.

Built from the shipped tiny configs of the built-in benchmark (the variants the
comparison tool trains), at one seed: shared tensors are bit-identical, upcycled
experts are the dense FFN's initialisation, and a training step leaves torch's
global generator where the dense step leaves it (same denoising noise next).
"""
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.structures import InstanceData

from damex_mmdet.utils.config_scope import CONFIG_ROOT

register_all_modules()

CONFIGS = dict(
    dense='dino/dino-tiny_r18_1xb4-600i_damex-default.py',
    moe='moe/dino-moe-tiny_r18_1xb4-600i_damex-default.py',
    damex='damex/damex-dino-tiny_r18_1xb4-600i_damex-default.py',
    gem='gem/gem-dino-tiny_r18_1xb4-600i_damex-default.py')
MOE_PATHS = ('decoder.layers.0.ffn', 'decoder.layers.2.ffn')


def build(variant, seed, **moe_cfg):
    cfg = Config.fromfile(f'{CONFIG_ROOT}/{CONFIGS[variant]}')
    if moe_cfg:
        cfg.model.moe_cfg.update(moe_cfg)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def shared_and_moe(dense, variant):
    """(shared keys, dense keys the MoE replaced) of two state dicts."""
    dense_sd, other_sd = dense.state_dict(), variant.state_dict()
    shared = [k for k in dense_sd if k in other_sd]
    replaced = [k for k in dense_sd if k not in other_sd]
    return shared, replaced


def batch(model, size=96):
    gen = torch.Generator().manual_seed(3)
    names = ('watercolor', 'street', 'kitchen', 'xray')
    inputs, samples = [], []
    for i, name in enumerate(names):
        inputs.append(torch.randint(0, 255, (3, size, size), generator=gen, dtype=torch.uint8))
        sample = DetDataSample()
        sample.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size),
                                 scale_factor=(1.0, 1.0), pad_shape=(size, size),
                                 batch_input_shape=(size, size), img_id=i, dataset_name=name))
        xy = torch.rand(2, 2, generator=gen) * size / 2
        sample.gt_instances = InstanceData(bboxes=torch.cat([xy, xy + 20], 1),
                                           labels=torch.tensor([i, i + 1]))
        samples.append(sample)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    return data['inputs'], data['data_samples']


def test_every_variant_shares_the_dense_initialisation_bit_for_bit():
    dense = build('dense', seed=0)
    dense_sd = dense.state_dict()
    rng_after_dense = torch.get_rng_state()
    for variant in ('moe', 'damex', 'gem'):
        model = build(variant, seed=0)
        assert torch.equal(torch.get_rng_state(), rng_after_dense), variant
        shared, replaced = shared_and_moe(dense, model)
        # only the two converted FFNs (fc1/fc2 weight and bias each) are missing
        assert len(replaced) == 8 and all(k.startswith(MOE_PATHS) for k in replaced), replaced
        other_sd = model.state_dict()
        unequal = [k for k in shared if not torch.equal(dense_sd[k], other_sd[k])]
        assert not unequal, (variant, unequal[:5])
        # upcycled experts are copies of the dense run's FFN initialisation
        for path in MOE_PATHS:
            experts = model.get_submodule(path).experts
            fc1_w = dense_sd[f'{path}.layers.0.0.weight']
            fc2_b = dense_sd[f'{path}.layers.1.bias']
            for e in range(experts.num_experts):
                assert torch.equal(experts.w1[e], fc1_w.t())
                assert torch.equal(experts.b2[e], fc2_b)


def test_fresh_experts_leave_the_shared_initialisation_unchanged_and_differ():
    dense = build('dense', seed=0)
    model = build('damex', seed=0, expert_init='fresh')
    shared, _ = shared_and_moe(dense, model)
    assert all(torch.equal(dense.state_dict()[k], model.state_dict()[k]) for k in shared)
    experts = model.decoder.layers[0].ffn.experts
    assert not torch.equal(experts.w1[0], experts.w1[1])


def test_two_seeds_give_different_starts():
    a, b = build('damex', seed=0), build('damex', seed=1)
    sd_a, sd_b = a.state_dict(), b.state_dict()
    for key in ('query_embedding.weight', 'backbone.conv1.weight',
                'decoder.layers.1.ffn.layers.0.0.weight', 'decoder.layers.0.ffn.experts.w1',
                'decoder.layers.0.ffn.router.gate.weight'):
        assert not torch.equal(sd_a[key], sd_b[key]), key


def test_a_training_step_draws_the_same_global_random_numbers_as_dense():
    """Gate noise must not shift DINO's denoising queries of the next step."""
    states = {}
    for variant in ('dense', 'moe', 'damex'):
        model = build(variant, seed=0)
        model.train()
        inputs, samples = batch(model)
        torch.manual_seed(123)
        model.loss(inputs, samples)
        states[variant] = torch.get_rng_state()
    assert torch.equal(states['moe'], states['dense'])
    assert torch.equal(states['damex'], states['dense'])


def test_gate_noise_is_reproducible_and_varies_between_steps():
    model = build('damex', seed=0)
    model.train()
    inputs, samples = batch(model)
    losses = []
    for seed in (5, 5, 6):
        torch.manual_seed(seed)
        losses.append(float(model.loss(inputs, samples)['loss_damex']))
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]  # another step, other noise (and other denoising queries)


def test_vanilla_moe_prediction_does_not_depend_on_its_batch():
    """Capacity 1.25 drops tokens in training only: at inference no token is dropped."""
    model = build('moe', seed=0)
    model.eval()
    inputs, samples = batch(model)
    with torch.no_grad():
        together = model.predict(inputs, samples)
        alone = model.predict(inputs[2:3], samples[2:3])
        swapped = model.predict(inputs.flip(0), samples[::-1])
    for out in (alone[0], swapped[1]):
        torch.testing.assert_close(out.pred_instances.bboxes, together[2].pred_instances.bboxes)
        torch.testing.assert_close(out.pred_instances.scores, together[2].pred_instances.scores)


def test_one_expert_damex_computes_the_dense_detector():
    """E = 1: the router's softmax is 1, the expert is the dense FFN: same losses, CE 0."""
    one = dict(watercolor=[0], comic=[0], street=[0], signs=[0], kitchen=[0], xray=[0])
    dense = build('dense', seed=0)
    damex = build('damex', seed=0, num_experts=1, expert_map=one)
    losses = {}
    for name, model in (('dense', dense), ('damex', damex)):
        model.train()
        inputs, samples = batch(model)
        torch.manual_seed(7)
        losses[name] = model.loss(inputs, samples)
    assert float(losses['damex']['loss_damex']) == 0.0
    for key, value in losses['dense'].items():
        torch.testing.assert_close(losses['damex'][key], value, rtol=1e-5, atol=1e-6,
                                   msg=f'{key} differs')
