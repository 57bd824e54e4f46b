"""Test-time matching: ground truth is brought into the network input frame first."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.runner import Runner
from mmengine.structures import InstanceData

from damex_mmdet.analysis import gt_boxes_in_input_frame, matched_query_mask
from damex_mmdet.moe import RoutingRecorder


def sample_with_box(**meta):
    sample = DetDataSample()
    sample.set_metainfo(dict(img_shape=(24, 128), **meta))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[10.0, 20.0, 30.0, 40.0]]),
                                       labels=torch.tensor([0]))
    return sample


def test_boxes_are_scaled_then_flipped_like_the_image():
    sample = sample_with_box(scale_factor=(2.0, 0.5))
    assert gt_boxes_in_input_frame(sample).tolist() == [[20.0, 10.0, 60.0, 20.0]]
    flipped = sample_with_box(scale_factor=(2.0, 0.5), flip=True, flip_direction='horizontal')
    # x1' = 128 - 60, x2' = 128 - 20
    assert gt_boxes_in_input_frame(flipped).tolist() == [[68.0, 10.0, 108.0, 20.0]]
    # the sample itself is left untouched
    assert flipped.gt_instances.bboxes.tolist() == [[10.0, 20.0, 30.0, 40.0]]
    no_scale = DetDataSample()
    no_scale.gt_instances = InstanceData(bboxes=torch.zeros(0, 4))
    with pytest.raises(ValueError, match="'scale_factor' in the meta_keys"):
        gt_boxes_in_input_frame(no_scale)


def test_rescaled_test_gt_matches_like_gt_transformed_with_the_image(tiny_damex, make_loader_cfg):
    """Test pipeline (gt in original frame, images x2) == training-order pipeline (gt x2)."""
    test_loader = Runner.build_dataloader(make_loader_cfg('test'))
    input_loader = Runner.build_dataloader(make_loader_cfg('input_frame'))
    unscaled_differs = False
    with RoutingRecorder() as recorder:
        for test_batch, input_batch in zip(test_loader, input_loader):
            assert torch.equal(test_batch['inputs'][0], input_batch['inputs'][0])
            with torch.no_grad():
                samples = tiny_damex.test_step(test_batch)
            (session, ) = recorder.pop()
            head_inputs = session.head_inputs
            original = samples[0].gt_instances.bboxes
            scaled = input_batch['data_samples'][0].gt_instances.bboxes.tensor
            assert torch.allclose(2 * original, scaled)  # the frames really differ
            mask = matched_query_mask(tiny_damex.bbox_head, head_inputs, samples, 'original')
            input_samples = tiny_damex.data_preprocessor(input_batch, False)['data_samples']
            reference = matched_query_mask(tiny_damex.bbox_head, head_inputs, input_samples,
                                           'input')
            assert torch.equal(mask, reference)
            assert mask.sum().item() == sum(len(s.gt_instances) for s in samples)
            # skipping the rescale would match other queries
            unscaled = matched_query_mask(tiny_damex.bbox_head, head_inputs, samples, 'input')
            unscaled_differs |= not torch.equal(mask, unscaled)
    assert unscaled_differs


def test_samples_without_ground_truth_fail_naming_load_annotations(tiny_damex):
    sample = DetDataSample()
    sample.set_metainfo(dict(img_shape=(64, 64), scale_factor=(1.0, 1.0)))
    with pytest.raises(ValueError, match='LoadAnnotations'):
        matched_query_mask(tiny_damex.bbox_head, {}, [sample])
    with pytest.raises(ValueError, match='gt_frame'):
        matched_query_mask(tiny_damex.bbox_head, {}, [sample], gt_frame='pixels')
