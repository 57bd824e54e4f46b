"""GEM planning features: class frequencies, safe backbone loading, the plan figure."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from damex_mmdet.analysis import class_frequencies, load_backbone, plot_expert_mapping
from damex_mmdet.planning import AffinityMatrix, plan_expert_mapping
from damex_mmdet.utils.safe_checkpoint import UnsafeCheckpointError

BACKBONE = Config(dict(model=dict(backbone=dict(type='ResNet', depth=18, out_indices=(3, )))))


class Payload:
    """An arbitrary class: unpickling it means importing and running code of our choosing."""


class FakeDataset:
    """Three images: labels [0, 2, 2], [] and [2, -1 (unlabelled), 1 (ignored)]."""

    infos = [dict(instances=[dict(bbox_label=0), dict(bbox_label=2), dict(bbox_label=2)]),
             dict(instances=[]),
             dict(instances=[dict(bbox_label=2), dict(bbox_label=-1),
                             dict(bbox_label=1, ignore_flag=1)])]

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, idx):
        return self.infos[idx]


def test_class_frequencies_count_labelled_not_ignored_instances():
    np.testing.assert_array_equal(class_frequencies(FakeDataset(), 4), [1, 0, 3, 0])


def test_backbone_takes_the_detector_checkpoints_backbone_tensors(tmp_path):
    from mmdet.registry import MODELS
    torch.manual_seed(3)
    source = MODELS.build(dict(BACKBONE.model.backbone))
    ckpt = str(tmp_path / 'detector.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in source.state_dict().items()},
                    meta=dict(epoch=1)), ckpt)
    backbone = load_backbone(BACKBONE, ckpt)
    assert not backbone.training
    for key, value in source.state_dict().items():
        assert torch.equal(backbone.state_dict()[key], value), key


def test_backbone_checkpoint_errors(tmp_path):
    unrelated = str(tmp_path / 'head.pth')
    torch.save(dict(state_dict={'head.weight': torch.zeros(1)}), unrelated)
    with pytest.raises(ValueError, match='no key matches the backbone ResNet'):
        load_backbone(BACKBONE, unrelated)
    # a checkpoint that would run code when unpickled is refused, not loaded
    unsafe = str(tmp_path / 'unsafe.pth')
    torch.save(dict(state_dict={}, hook=Payload()), unsafe)
    with pytest.raises(UnsafeCheckpointError):
        load_backbone(BACKBONE, unsafe)


def test_plot_expert_mapping_draws_the_three_panels(tmp_path):
    affinity = AffinityMatrix(('a', 'b', 'c'), ('e0', 'e1'),
                              np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]]))
    mapping = plan_expert_mapping(affinity, capacity=2)
    out = plot_expert_mapping(mapping, str(tmp_path / 'sub' / 'plan.png'))
    import matplotlib.image
    image = matplotlib.image.imread(out)
    assert image.shape[1] > image.shape[0] > 100  # three panels side by side
