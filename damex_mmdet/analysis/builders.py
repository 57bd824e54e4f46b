"""Build the detector and the test dataloader of an analysis run from a config.

No ``Runner`` (and so no work dir, logs or hooks) is created: the model is
built from the registry and loaded with mmengine's ``load_checkpoint``; the
dataset->expert map stored in the checkpoint meta by ``ExpertMapHook`` wins
over the config's, as when the runner loads it.
"""
import copy
import logging
from typing import Optional, Union

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

from mmdet.registry import MODELS
from damex_mmdet.engine.hooks import CHECKPOINT_META_KEY
from damex_mmdet.moe import ExpertMap

__all__ = ['load_config', 'load_moe_detector', 'build_test_dataloader']

SPLITS = ('test', 'val')


def load_config(path: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """Read a config (its ``custom_imports`` are imported) and set the default scope."""
    cfg = path if isinstance(path, Config) else Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return cfg


def load_moe_detector(cfg: Config, checkpoint: Optional[str], device: str = 'cpu'):
    """Build ``cfg.model``, load ``checkpoint`` and return it in eval mode on ``device``.

    Args:
        cfg (Config): the config (see :func:`load_config`).
        checkpoint (str, optional): checkpoint path or URL; None keeps the
            random initialisation (a warning is logged).
        device (str): e.g. ``'cpu'`` or ``'cuda:0'``.

    Raises:
        ValueError: when the model has no MoE layer.
    """
    model_cfg = copy.deepcopy(cfg.model)
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg.backbone.init_cfg = None  # no pretrained download, weights come next
    model = revert_sync_batchnorm(MODELS.build(model_cfg))
    if not getattr(model, 'moe_layers', None):
        raise ValueError(f'the model of the config ({model_cfg.get("type")}) has no MoE layer; '
                         'routing analysis needs DAMEXDINO / MoEDetector models.')
    if checkpoint is None:
        print_log('no checkpoint given: analysing a randomly initialised model.',
                  logger='current', level=logging.WARNING)
    else:
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu', logger='current')
        stored = ckpt.get('meta', {}).get(CHECKPOINT_META_KEY) or {}
        if stored.get('expert_map') is not None:
            restored = ExpertMap(stored['expert_map'], stored['num_experts'])
            if model.expert_map is not None and restored != model.expert_map:
                print_log(f'{checkpoint} was trained with expert map {restored.to_dict()}, '
                          f'the config gives {model.expert_map.to_dict()}: using the '
                          "checkpoint's.", logger='current', level=logging.WARNING)
            model.expert_map = restored
    model.to(device)
    model.eval()
    return model


def _limit(dataset_cfg: dict, max_images: int) -> None:
    """First ``max_images`` images of every source dataset (``indices``)."""
    if dataset_cfg.get('type') == 'MultiDataset':
        for sub in dataset_cfg['datasets'].values():
            sub['indices'] = max_images
    else:
        dataset_cfg['indices'] = max_images


def build_test_dataloader(cfg: Config, split: str = 'test', max_images: Optional[int] = None,
                          batch_size: Optional[int] = None, num_workers: Optional[int] = None):
    """The config's ``<split>_dataloader``, optionally on a subset of images.

    Args:
        cfg (Config): the config.
        split (str): ``'test'`` or ``'val'``.
        max_images (int, optional): keep the first ``max_images`` images of
            *each* source dataset (of a MultiDataset), so every dataset is
            represented.
        batch_size (int, optional): override the batch size.
        num_workers (int, optional): override the loader processes.

    Returns:
        DataLoader: built by ``Runner.build_dataloader``.
    """
    if split not in SPLITS:
        raise ValueError(f'split={split!r}; use one of {SPLITS}.')
    key = f'{split}_dataloader'
    if not cfg.get(key):
        raise ValueError(f'the config has no {key}; pick another --split.')
    loader_cfg = copy.deepcopy(cfg[key])
    if max_images is not None:
        if max_images < 1:
            raise ValueError(f'max_images must be >= 1, got {max_images}.')
        _limit(loader_cfg['dataset'], max_images)
    if batch_size is not None:
        loader_cfg['batch_size'] = batch_size
    if num_workers is not None:
        loader_cfg['num_workers'] = num_workers
        if num_workers == 0:
            loader_cfg['persistent_workers'] = False
    return Runner.build_dataloader(loader_cfg)
