"""Token groups from a decoder attention mask, and how the routing session derives them."""
import pytest
import torch

from damex_mmdet.moe import MoEFFN, SoftMoEFFN, groups_from_attention_mask, routing_session


def _non_block_mask():
    mask = torch.zeros(3, 3, dtype=torch.bool)
    mask[0, 2] = mask[2, 0] = True  # 0~1, 1~2 but not 0~2: no partition
    return mask


def test_groups_from_dino_denoising_mask():
    from mmdet.models.layers.transformer.dino_layers import CdnQueryGenerator
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    generator = CdnQueryGenerator(num_classes=3, embed_dims=8, num_matching_queries=5,
                                  label_noise_scale=0.5, box_noise_scale=1.0,
                                  group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=8))
    samples = []
    for count in (1, 2):
        sample = DetDataSample(metainfo=dict(img_shape=(32, 32)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[1.0, 1.0, 10.0, 10.0]] * count), labels=torch.zeros(count).long())
        samples.append(sample)
    torch.manual_seed(0)
    _, _, mask, meta = generator(samples)
    groups = groups_from_attention_mask(mask)
    num_dn = meta['num_denoising_queries']
    num_groups = meta['num_denoising_groups']
    per_group = num_dn // num_groups
    expected = torch.cat([torch.arange(num_groups).repeat_interleave(per_group),
                          torch.full((5, ), num_groups)])
    assert torch.equal(groups, expected)


def test_non_block_masks_are_refused():
    with pytest.raises(ValueError, match='block-structured'):
        groups_from_attention_mask(_non_block_mask())
    with pytest.raises(ValueError, match='expected a \\(T, T\\)'):
        groups_from_attention_mask(torch.zeros(2, 3, 3, dtype=torch.bool))


def test_session_derives_groups_from_the_mask_and_forgets_them_with_a_new_mask():
    layer = SoftMoEFFN(4, 8, num_experts=2, add_identity=False)
    with routing_session(layer) as session:
        assert session.groups_for(3) is None  # no mask: one group
        mask = torch.ones(3, 3, dtype=torch.bool)  # nobody sees anybody else
        session.attention_mask = mask
        assert session.groups_for(3).tolist() == [0, 1, 2]
        assert session.groups_for(5) is None  # another sequence (e.g. an encoder)
        session.attention_mask = torch.zeros(3, 3, dtype=torch.bool)  # the next decoder call
        assert session.groups_for(3).tolist() == [0, 0, 0]
        session.attention_mask = None
        assert session.groups_for(3) is None
    detached = session.detached()
    assert detached.attention_mask is None and detached.token_groups is None


def test_a_mask_without_groups_fails_only_the_layers_that_mix_tokens():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4)
    topk = MoEFFN(4, 8, num_experts=2, add_identity=False).train()
    with routing_session(topk) as session:
        session.attention_mask = _non_block_mask()
        out = topk(x)  # tokens routed one by one: the mask is none of its business
    assert torch.isfinite(out).all() and len(session.records) == 1
    soft = SoftMoEFFN(4, 8, num_experts=2, add_identity=False).train()
    with routing_session(soft) as session:
        session.attention_mask = _non_block_mask()
        with pytest.raises(ValueError, match='block-structured'):
            soft(x)
