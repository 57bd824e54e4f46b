"""RoutingAccumulator on known routing; collect_routing end to end on a tiny DAMEX-DINO."""
import copy
import math

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample

from damex_mmdet.analysis import RoutingAccumulator, collect_routing, image_dataset_names
from damex_mmdet.moe import (MoEFFN, RoutingPlan, RoutingRecord, current_session,
                             routing_session)


def record(name, probs, batch_shape):
    """A RoutingRecord whose clean probabilities are ``probs`` (N, E), top-1 dispatch."""
    logits = probs.log()
    index = logits.argmax(-1, keepdim=True)
    plan = RoutingPlan(index, probs.gather(1, index), logits, logits)
    return RoutingRecord(None, name, plan, torch.ones_like(index, dtype=torch.bool), batch_shape)


def test_accumulator_sums_hand_made_records():
    # 2 images (datasets a, b), 3 tokens each, 2 experts
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8],
                          [0.3, 0.7], [0.5 + 1e-3, 0.5 - 1e-3], [0.1, 0.9]])
    matched = torch.tensor([[True, False, True], [False, False, True]])
    acc = RoutingAccumulator(2, ['a', 'b'], dict(a=[0], b=[1]))
    acc.add([record('dec0', probs, (2, 3))], ['a', 'b'], matched)
    acc.add([record('dec0', probs[3:], (1, 3))], ['b'], matched[1:])
    stats = acc.result()
    np.testing.assert_allclose(stats.weight_sum[0], [[1.1, 0.9], [0.2, 1.8]])
    np.testing.assert_array_equal(stats.matched_count[0], [2, 2])
    np.testing.assert_array_equal(stats.top1_count_all[0], [[2, 1], [2, 4]])
    np.testing.assert_array_equal(stats.top1_count_matched[0], [[1, 1], [0, 2]])
    np.testing.assert_array_equal(stats.token_count[0], [3, 6])
    np.testing.assert_array_equal(stats.num_images, [1, 2])
    np.testing.assert_allclose(stats.utilization()[0], [[0.55, 0.45], [0.1, 0.9]])
    assert stats.router_accuracy()['dec0'] == pytest.approx(dict(a=2 / 3, b=4 / 6, mean=2 / 3))


def test_accumulator_orders_new_datasets_by_appearance_and_rejects_unknown_ones():
    probs = torch.full((2, 2), 0.5)
    acc = RoutingAccumulator(2)
    acc.add([record('dec0', probs[:1], (1, 1))], ['z'])
    acc.add([record('dec0', probs, (2, 1))], ['y', 'z'])
    stats = acc.result()
    assert stats.dataset_names == ['z', 'y']
    np.testing.assert_array_equal(stats.token_count[0], [2, 1])
    fixed = RoutingAccumulator(2, ['a'])
    with pytest.raises(ValueError, match="dataset 'b' was routed"):
        fixed.add([record('dec0', probs[:1], (1, 1))], ['b'])
    with pytest.raises(ValueError, match='no routing record'):
        RoutingAccumulator(2).result()


def test_forced_dataset_router_gives_full_accuracy_and_diagonal_heatmap():
    """Gate = 10 * identity and tokens of dataset d along axis h(d): routing is known."""
    expert_map = dict(a=[2], b=[0], c=[1])
    layer = MoEFFN(embed_dims=4, feedforward_channels=8, num_experts=3,
                   router=dict(type='DatasetAwareRouter', gate_noise=0.0))
    model = torch.nn.Module()
    model.decoder = torch.nn.Module()
    model.decoder.layers = torch.nn.ModuleList([torch.nn.Module()])
    model.decoder.layers[0].ffn = layer
    with torch.no_grad():
        layer.router.gate.weight.copy_(10 * torch.eye(3, 4))
    names = ['a', 'b', 'c', 'a']
    gen = torch.Generator().manual_seed(0)
    tokens = 0.05 * torch.randn(4, 5, 4, generator=gen)
    for image, name in enumerate(names):
        tokens[image, :, expert_map[name][0]] += 1.0
    layer.eval()
    with routing_session(model) as session:
        layer(tokens)
    records = session.records
    acc = RoutingAccumulator(3, ['a', 'b', 'c'], expert_map)
    acc.add(records, names, torch.ones(4, 5, dtype=torch.bool))
    stats = acc.result()
    accuracy = stats.router_accuracy()['decoder.layers.0.ffn']
    assert accuracy == dict(a=1.0, b=1.0, c=1.0, mean=1.0)
    util = stats.utilization()[0]
    mapped = np.array([expert_map[n][0] for n in ('a', 'b', 'c')])
    assert (util.argmax(1) == mapped).all()
    # softmax of logits ~ (10, 0, 0): the mapped weight is ~e^10 / (e^10 + 2)
    np.testing.assert_allclose(util[np.arange(3), mapped], 1 / (1 + 2 * math.exp(-10)), atol=5e-3)
    others = np.ones((3, 3), dtype=bool)
    others[np.arange(3), mapped] = False
    assert util[others].max() < 0.01


def test_layers_of_other_token_counts_get_no_matched_statistics():
    probs = torch.full((4, 2), 0.5)
    acc = RoutingAccumulator(2, ['a'])
    matched = torch.tensor([[True, False]])  # 2 queries per image
    acc.add([record('enc0', probs, (1, 4)), record('dec0', probs[:2], (1, 2))], ['a'], matched)
    stats = acc.result()
    assert stats.layers == ['enc0', 'dec0']
    np.testing.assert_array_equal(stats.matched_count[:, 0], [0, 1])
    np.testing.assert_array_equal(stats.token_count[:, 0], [4, 2])


def test_image_dataset_names_read_the_one_dataset_key():
    with_name, with_id, other = DetDataSample(), DetDataSample(), DetDataSample()
    with_name.set_metainfo(dict(dataset_name='kitti'))
    with_id.set_metainfo(dict(dataset_id=1))  # not a key of this package: refused
    other.set_metainfo(dict(dataset_name='coco'))
    assert image_dataset_names([with_name], ['kitti', 'lisa']) == ['kitti']
    with pytest.raises(ValueError, match="no 'dataset_name'.*type='MultiDataset'"):
        image_dataset_names([with_id])
    with pytest.raises(ValueError, match="'coco', which is not one of"):
        image_dataset_names([other], ['kitti', 'lisa'])


def test_collect_routing_end_to_end(tiny_damex, loader, gt_counts, capfd):
    stats = collect_routing(tiny_damex, loader)
    assert stats.layers == ['decoder.layers.0.ffn', 'decoder.layers.2.ffn']
    assert stats.dataset_names == ['paint', 'street'] and stats.num_experts == 2
    assert stats.expert_map == dict(paint=[0], street=[1])
    np.testing.assert_array_equal(stats.num_images, [3, 3])
    # Hungarian matching gives every ground-truth box exactly one query
    expected = [gt_counts['paint'], gt_counts['street']]
    np.testing.assert_array_equal(stats.matched_count, [expected, expected])
    np.testing.assert_array_equal(stats.token_count, np.full((2, 2), 3 * 30))
    np.testing.assert_array_equal(stats.top1_count_all.sum(-1), stats.token_count)
    np.testing.assert_array_equal(stats.top1_count_matched.sum(-1), stats.matched_count)
    np.testing.assert_allclose(stats.weight_sum.sum(-1), stats.matched_count, rtol=1e-6)
    accuracy = stats.router_accuracy()
    for layer_idx, layer in enumerate(stats.layers):
        for d, expert in ((0, 0), (1, 1)):
            share = stats.top1_count_all[layer_idx, d, expert] / stats.token_count[layer_idx, d]
            assert accuracy[layer][stats.dataset_names[d]] == pytest.approx(share)
    assert '3/3' in capfd.readouterr().out  # progress bar over 3 batches
    assert not tiny_damex.training and current_session() is None


def test_collect_routing_rejects_dense_models_and_nameless_samples(tiny_damex):
    with pytest.raises(TypeError, match='needs an MoE detector'):
        collect_routing(torch.nn.Linear(2, 2), [])
    sample = DetDataSample()
    sample.set_metainfo(dict(img_shape=(64, 64), ori_shape=(64, 64), scale_factor=(1.0, 1.0)))
    batch = dict(inputs=[torch.zeros(3, 64, 64, dtype=torch.uint8)], data_samples=[sample])
    with pytest.raises(ValueError, match="no 'dataset_name'"):
        collect_routing(tiny_damex, [batch], progress=False, match_gt=False)
    assert current_session() is None


def test_records_of_another_batch_size_are_rejected_before_counting():
    acc = RoutingAccumulator(2, ['a'])
    with pytest.raises(ValueError, match='covers 2 images but the batch has 1'):
        acc.add([record('dec0', torch.full((4, 2), 0.5), (2, 2))], ['a'])
    acc.add([record('dec0', torch.full((2, 2), 0.5), (1, 2))], ['a'])
    assert acc.result().num_images.tolist() == [1]


def test_collect_routing_counts_moe_plus_plus_cheap_experts_as_columns(tiny_model_cfg, loader):
    from mmdet.registry import MODELS
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg['moe_cfg'].update(layer=dict(type='MoEPlusPlusFFN'),
                          router=dict(type='MoEPlusPlusRouter', top_k=2))
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    stats = collect_routing(model, loader, progress=False)
    assert stats.num_experts == 2 + 3  # two FFN experts, then zero / copy / constant
    np.testing.assert_array_equal(stats.top1_count_all.sum(-1), stats.token_count)
