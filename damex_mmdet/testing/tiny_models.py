"""Tiny DETR-family model configs for fast CPU tests (no pretrained weights).

Each function returns a ``model`` config dict taken from mmdet's own config
file (so tests follow mmdet's real settings), shrunk: ResNet-18 without
pretrained weights, 2 encoder + 3 decoder layers, FFN width 512, few queries.
mmdet 3.3's DINO needs ``embed_dims=256``, which is kept.
"""
import copy
import os.path as osp

from mmengine.config import Config

__all__ = [
    'mmdet_config_path', 'tiny_detr_family_cfg', 'tiny_dino_cfg', 'tiny_deformable_detr_cfg',
    'tiny_detr_cfg'
]


def mmdet_config_path(relative: str) -> str:
    """Absolute path of a config shipped with mmdet, e.g. ``'dino/xxx.py'``."""
    import mmdet
    return osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', relative)


def _shrink(model, num_classes, num_queries):
    model.backbone.update(depth=18, init_cfg=None)
    if 'neck' in model and model.neck is not None:
        channels = {1: [512], 2: [256, 512], 3: [128, 256, 512]}[len(model.neck.in_channels)]
        model.neck.in_channels = channels
    model.encoder.num_layers = 2
    model.decoder.num_layers = 3
    for part in (model.encoder, model.decoder):
        part.layer_cfg.ffn_cfg.feedforward_channels = 512
    model.bbox_head.num_classes = num_classes
    model.num_queries = num_queries
    return model


def tiny_dino_cfg(num_classes: int = 4, num_queries: int = 30, num_dn_queries: int = 10) -> dict:
    """DINO (4 scales) with a ResNet-18 and 2 + 3 transformer layers."""
    cfg = Config.fromfile(mmdet_config_path('dino/dino-4scale_r50_8xb2-12e_coco.py'))
    model = _shrink(copy.deepcopy(cfg.model), num_classes, num_queries)
    model.dn_cfg.group_cfg.num_dn_queries = num_dn_queries
    model.test_cfg.max_per_img = num_queries
    return model.to_dict()


def tiny_detr_family_cfg(relative: str, num_classes: int = 4, num_queries: int = 30) -> dict:
    """Shrunk model config of any mmdet DETR-family config, e.g. ``'dab_detr/xxx.py'``."""
    cfg = Config.fromfile(mmdet_config_path(relative))
    model = _shrink(copy.deepcopy(cfg.model), num_classes, num_queries)
    model.test_cfg.max_per_img = num_queries
    return model.to_dict()


def tiny_deformable_detr_cfg(num_classes: int = 4, num_queries: int = 30) -> dict:
    """Deformable DETR with a ResNet-18 and 2 + 3 transformer layers."""
    return tiny_detr_family_cfg('deformable_detr/deformable-detr_r50_16xb2-50e_coco.py',
                                num_classes, num_queries)


def tiny_detr_cfg(num_classes: int = 4, num_queries: int = 30) -> dict:
    """DETR with a ResNet-18 (single scale) and 2 + 3 transformer layers."""
    return tiny_detr_family_cfg('detr/detr_r50_8xb2-150e_coco.py', num_classes, num_queries)
