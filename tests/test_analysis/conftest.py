"""Shared fixtures: two tiny COCO datasets and a tiny DAMEX-DINO (2 experts)."""
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.runner import Runner

from damex_mmdet.testing import make_coco_fixture
from damex_mmdet.testing.tiny_models import tiny_dino_cfg

register_all_modules()

META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
             'flip_direction', 'dataset_name')
# images are 64 x 48; Resize doubles them, so test-time gt (original frame) != input frame
TEST_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 96), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=META_KEYS),
]
# same images, annotations transformed with them (training order)
INPUT_FRAME_PIPELINE = [TEST_PIPELINE[0], TEST_PIPELINE[2], TEST_PIPELINE[1], TEST_PIPELINE[3]]
EXPERT_MAP = dict(paint=[0], street=[1])
NUM_QUERIES = 30


@pytest.fixture(scope='session')
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp('analysis_data')
    return dict(
        paint=make_coco_fixture(str(root / 'paint'), ('x', 'y'), num_images=3, split='test',
                                seed=1),
        street=make_coco_fixture(str(root / 'street'), ('z', ), num_images=3, split='test',
                                 seed=2))


def loader_cfg(fixtures, pipeline=TEST_PIPELINE, batch_size=2):
    return dict(
        batch_size=batch_size, num_workers=0, persistent_workers=False, drop_last=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='MultiDataset', test_mode=True,
                     datasets={name: fix.dataset_cfg(pipeline=pipeline)
                               for name, fix in fixtures.items()}))


def model_cfg():
    cfg = tiny_dino_cfg(num_classes=3, num_queries=NUM_QUERIES)
    cfg.update(type='DAMEXDINO', moe_cfg=dict(
        layers=dict(decoder=[0, 2]), num_experts=2,
        router=dict(type='DatasetAwareRouter', gate_noise=0.0), expert_map=EXPERT_MAP))
    return cfg


@pytest.fixture(scope='session')
def make_loader_cfg(fixtures):
    """``pipeline_name -> dataloader config`` ('test' or 'input_frame')."""
    pipelines = dict(test=TEST_PIPELINE, input_frame=INPUT_FRAME_PIPELINE)
    return lambda name='test': loader_cfg(fixtures, pipelines[name])


@pytest.fixture(scope='session')
def loader(make_loader_cfg):
    return Runner.build_dataloader(make_loader_cfg('test'))


@pytest.fixture(scope='session')
def tiny_model_cfg():
    return model_cfg()


@pytest.fixture(scope='session')
def gt_counts(fixtures):
    """Ground-truth boxes per dataset."""
    return {name: len(fix.coco['annotations']) for name, fix in fixtures.items()}


@pytest.fixture(scope='session')
def tiny_damex():
    torch.manual_seed(0)
    model = MODELS.build(model_cfg())
    model.init_weights()  # DINO's level_embed is uninitialised memory until then
    model.eval()
    return model
