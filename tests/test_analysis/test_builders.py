"""Model and dataloader of an analysis run, built from a config without a Runner."""
import pytest
import torch
from mmengine.config import Config

from damex_mmdet.analysis import build_test_dataloader, load_config, load_moe_detector
from damex_mmdet.testing.tiny_models import tiny_dino_cfg


def test_dataloader_keeps_the_first_images_of_each_dataset(make_loader_cfg):
    cfg = Config(dict(test_dataloader=make_loader_cfg(), val_dataloader=make_loader_cfg()))
    loader = build_test_dataloader(cfg, 'val', max_images=2, batch_size=3, num_workers=0)
    assert loader.dataset.dataset_sizes == (2, 2) and loader.batch_size == 3
    names = [s.metainfo['dataset_name'] for batch in loader for s in batch['data_samples']]
    assert names == ['paint', 'paint', 'street', 'street']
    with pytest.raises(ValueError, match="split='train'"):
        build_test_dataloader(cfg, 'train')
    with pytest.raises(ValueError, match='max_images must be >= 1'):
        build_test_dataloader(cfg, max_images=0)
    with pytest.raises(ValueError, match='no test_dataloader'):
        build_test_dataloader(Config(dict(val_dataloader=make_loader_cfg())))


def test_checkpoint_map_wins_and_dense_models_are_rejected(tmp_path, tiny_damex,
                                                           tiny_model_cfg):
    checkpoint = str(tmp_path / 'ckpt.pth')
    torch.save(dict(state_dict=tiny_damex.state_dict(),
                    meta=dict(damex_moe=dict(num_experts=2,
                                             expert_map=dict(paint=[1], street=[1])))),
               checkpoint)
    cfg = load_config(Config(dict(model=tiny_model_cfg)))
    model = load_moe_detector(cfg, checkpoint)
    assert model.expert_map.to_dict() == dict(paint=[1], street=[1]) and not model.training
    gate = 'decoder.layers.2.ffn.router.gate.weight'
    assert torch.equal(model.state_dict()[gate], tiny_damex.state_dict()[gate])
    with pytest.raises(ValueError, match='has no MoE layer'):
        load_moe_detector(Config(dict(model=tiny_dino_cfg())), None)
