"""Dataset features for GEM planning: pooled backbone features per planning unit.

Shape shorthand: ``n`` sampled images of a unit, ``F`` backbone channels of
the last stage, ``C`` classes of a dataset.

:func:`extract_unit_features` builds a config's training ``MultiDataset``,
splits its datasets into planning units for ``E`` experts, runs a sample of
each dataset's images through the config's backbone (optionally from a
checkpoint) and average-pools the last stage; :func:`affinity_from_checkpoint`
turns those features into the unit x expert affinity the GEM planner takes.
"""
import copy
import logging
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from damex_mmdet.planning import (AffinityMatrix, PlanningUnit, affinity_from_features,
                                  build_units)

__all__ = ['UnitFeatures', 'class_frequencies', 'load_backbone', 'extract_unit_features',
           'affinity_from_checkpoint']


@dataclass
class UnitFeatures:
    """What :func:`extract_unit_features` measured.

    Attributes:
        features (dict[str, np.ndarray]): unit name -> (n, F) pooled features.
        units (list[PlanningUnit]): the planning units (datasets or class groups).
        sizes (dict[str, int]): dataset -> number of training images.
        classes (dict[str, tuple]): dataset -> class names.
        class_freq (dict[str, np.ndarray]): dataset -> (C,) instances per class.
    """
    features: Dict[str, np.ndarray]
    units: List[PlanningUnit]
    sizes: Dict[str, int]
    classes: Dict[str, tuple]
    class_freq: Dict[str, np.ndarray]


def class_frequencies(dataset, num_classes: int) -> np.ndarray:
    """(C,) non-ignored instances per local class of a sub-dataset."""
    labels = [
        inst['bbox_label'] for idx in range(len(dataset))
        for inst in dataset.get_data_info(idx).get('instances', [])
        if not inst.get('ignore_flag', 0) and inst.get('bbox_label', -1) >= 0
    ]
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)


def load_backbone(cfg, checkpoint: Optional[str] = None, device: str = 'cpu'):
    """The config's backbone in eval mode, with a checkpoint's weights if given.

    The checkpoint is read with the safe loader (no file can run code); a
    detector checkpoint contributes its ``backbone.*`` tensors, a backbone
    checkpoint all of them.

    Raises:
        ValueError: no tensor of the checkpoint fits the backbone.
    """
    import torch
    from mmdet.registry import MODELS
    from mmengine.logging import print_log

    from damex_mmdet.utils.safe_checkpoint import load_checkpoint_file

    backbone_cfg = copy.deepcopy(cfg.model.backbone)
    backbone_cfg['init_cfg'] = None
    backbone = MODELS.build(backbone_cfg)
    if checkpoint:
        ckpt = load_checkpoint_file(checkpoint, map_location='cpu')
        state = ckpt.get('state_dict', ckpt)
        sub = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
        state = sub or state
        loaded = len(set(state) & set(backbone.state_dict()))
        if loaded == 0:
            raise ValueError(f'checkpoint {checkpoint}: no key matches the backbone '
                             f'{backbone_cfg["type"]}; give a detector checkpoint (keys '
                             '"backbone.*") or a checkpoint of that backbone.')
        result = backbone.load_state_dict(state, strict=False)
        print_log(f'loaded {loaded} backbone tensors from {checkpoint} '
                  f'({len(result.missing_keys)} missing, {len(result.unexpected_keys)} unused)',
                  logger='current')
    else:
        print_log('no checkpoint: the backbone is randomly initialised, so the affinities '
                  'do not reflect pretrained features', logger='current', level=logging.WARNING)
    backbone.to(torch.device(device))
    backbone.eval()  # mmdet's ResNet.train() does not return the module
    return backbone


def extract_unit_features(cfg, num_experts: int, checkpoint: Optional[str] = None,
                          device: str = 'cpu', images_per_dataset: int = 50, seed: int = 0,
                          progress: bool = True, config_name: str = 'the config') -> UnitFeatures:
    """Pooled last-stage backbone features of sampled images, per planning unit.

    Args:
        cfg (Config): a config whose ``train_dataloader.dataset`` is a MultiDataset.
        num_experts (int): ``E``; datasets are split into class groups when
            there are more experts than datasets.
        checkpoint (str, optional): detector or backbone checkpoint.
        device (str): where the backbone runs.
        images_per_dataset (int): images sampled per dataset (all when fewer).
        seed (int): seed of the image sample and of mmengine's RNGs.
        progress (bool): show a progress bar.
        config_name (str): how errors name the config.

    Returns:
        UnitFeatures: features, units, sizes, classes and class frequencies.

    Raises:
        ValueError: not a MultiDataset, fewer classes than experts, or
            ``images_per_dataset < 1``.
    """
    import torch
    from mmdet.registry import DATASETS
    from mmengine.runner import set_random_seed
    from mmengine.utils import ProgressBar

    if images_per_dataset < 1:
        raise ValueError(f'images_per_dataset must be >= 1, got {images_per_dataset}.')
    set_random_seed(seed)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    if not hasattr(dataset, 'dataset_names'):
        raise ValueError(f'{config_name}: train_dataloader.dataset is a '
                         f'{type(dataset).__name__}; GEM planning needs a MultiDataset.')
    dataset.full_init()
    names = dataset.dataset_names
    classes = {n: tuple(ds.metainfo['classes']) for n, ds in zip(names, dataset.datasets)}
    freq = {name: class_frequencies(ds, len(classes[name]))
            for name, ds in zip(names, dataset.datasets)}
    units = build_units(classes, num_experts, freq)
    if len(units) < num_experts:
        raise ValueError(f'{num_experts} experts but only {len(units)} classes in all datasets '
                         f'of {config_name}; use at most that many experts.')
    prep = cfg.model.get('data_preprocessor', {})
    mean = torch.tensor(prep.get('mean', [0.0, 0.0, 0.0]), dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(prep.get('std', [1.0, 1.0, 1.0]), dtype=torch.float32).view(-1, 1, 1)
    backbone = load_backbone(cfg, checkpoint, device)
    rng = np.random.default_rng(seed)
    picks = [np.sort(rng.choice(len(ds), min(images_per_dataset, len(ds)), replace=False))
             for ds in dataset.datasets]
    feats: Dict[str, list] = {n: [] for n in names}
    present: Dict[str, list] = {n: [] for n in names}
    bar = ProgressBar(sum(len(p) for p in picks)) if progress else None
    starts = [0, *dataset.cumulative_sizes[:-1]]
    with torch.no_grad():
        for d, (name, ds) in enumerate(zip(names, dataset.datasets)):
            for local in picks[d].tolist():
                img = dataset[starts[d] + local]['inputs'].float()
                if prep.get('bgr_to_rgb', False) or prep.get('rgb_to_bgr', False):
                    img = img[[2, 1, 0]]
                img = ((img - mean) / std)[None].to(device)
                out = backbone(img)
                last = out[-1] if isinstance(out, (tuple, list)) else out
                feats[name].append(last.mean(dim=(2, 3))[0].cpu().numpy())
                present[name].append({i['bbox_label'] for i in
                                      ds.get_data_info(local).get('instances', [])})
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.file.write('\n')
    features = {}
    for unit in units:
        rows = np.stack(feats[unit.dataset])
        if unit.name != unit.dataset:
            own = {classes[unit.dataset].index(c) for c in unit.classes}
            keep = [i for i, labels in enumerate(present[unit.dataset]) if labels & own]
            # a group without sampled images falls back to the dataset prototype
            rows = rows[keep] if keep else rows
        features[unit.name] = rows
    return UnitFeatures(features, units, dict(zip(names, dataset.dataset_sizes)), classes, freq)


def affinity_from_checkpoint(cfg, num_experts: int, checkpoint: Optional[str] = None,
                             **kwargs) -> Tuple[AffinityMatrix, UnitFeatures]:
    """Unit x expert affinity from a config's datasets and a checkpoint's backbone.

    Args:
        cfg (Config): see :func:`extract_unit_features`.
        num_experts (int): ``E``.
        checkpoint (str, optional): detector or backbone checkpoint.
        **kwargs: :func:`extract_unit_features` options (``seed`` also seeds
            the prototype clustering).

    Returns:
        tuple[AffinityMatrix, UnitFeatures]: the affinity and what it was made from.
    """
    measured = extract_unit_features(cfg, num_experts, checkpoint, **kwargs)
    affinity = affinity_from_features(measured.features, num_experts,
                                      seed=kwargs.get('seed', 0))
    return affinity, measured
