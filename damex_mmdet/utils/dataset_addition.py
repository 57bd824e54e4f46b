"""Add a dataset to a trained mixture detector: the config and the start checkpoint.

What ``tools/add_dataset.py`` runs. Given the trained detector's config and
checkpoint and a new COCO-json dataset folder, :func:`add_dataset` writes

- ``OUT.py``: a child of the trained config that trains on the new dataset:
  the old datasets in the order the checkpoint was trained with and the new
  one last (``MultiDataset(dataset_order=...)``), so every old dataset keeps
  its label ids and offsets; the new classes appended to the label space
  (``bbox_head.num_classes``); the expert map with the new dataset on a new
  expert (``--expert new``, the default: ``num_experts`` + 1) or on an old
  dataset's experts (``--expert NAME``); ``load_from`` the start checkpoint;
- ``OUT_start.pth``: the trained weights grown to that model
  (:func:`~damex_mmdet.models.grow.grow_state_dict`): every trained value bit
  for bit, new class rows (every classification branch, DINO's denoising
  label embedding) and the new router row as the grown model initialises
  them, the new expert a copy of the trained expert whose datasets are most
  like the new one (:mod:`damex_mmdet.analysis.expert_choice`).

Modes:

- ``frozen`` (default): :class:`~damex_mmdet.engine.frozen_values.KeepTrainedValuesHook`
  keeps every value but the new expert, the new router row and the new class
  rows bit for bit, AdamW's weight decay and gradient clipping included. By
  default the old datasets' samples are left out (``MultiDatasetSampler``
  weight 0: their classes stay in the label space). With ``replay_ratio`` R
  they are sampled at share R: they train nothing of their own, but their
  tokens teach the new router row where it does not apply (the DAMEX loss
  sends them to their own experts) and their images teach the new class rows
  where they must not fire. Without them the new row's logit rises on every
  input and takes old tokens (docs/results/add_dataset/PLAN.md). With
  ``--expert NAME`` the shared expert serves old datasets too, so it stays
  frozen and only the new class rows train.
- ``replay``: everything trains; the new dataset gets ``1 - replay_ratio`` of
  the samples and the old ones ``replay_ratio``, shared among them as
  ``n_d ** 0.5`` (the shipped configs' temperature sampling).
- ``finetune``: everything trains, on the new dataset alone (old datasets
  sampled with weight 0): plain fine-tuning, the forgetting baseline. The
  one mode a dense checkpoint takes (it has no expert to add, share or keep).

A checkpoint of a routing without a dataset map (vanilla MoE, ReMoE, Soft
MoE, MoE++) is refused: there is no map to extend.
"""
import json
import logging
import os
import os.path as osp
import pprint
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

__all__ = ['TrainedMixture', 'AdditionOptions', 'Addition', 'read_trained_mixture',
           'add_dataset', 'old_share', 'ADDITION_MODES']

ADDITION_MODES = ('frozen', 'replay', 'finetune')
_MAP_ROUTERS = ('DatasetAwareRouter', 'FixedMapRouter')  # routings trained to a dataset map


@dataclass(frozen=True)
class TrainedMixture:
    """What a trained mixture detector's checkpoint says about its datasets and experts.

    Attributes:
        dataset_names (tuple): the datasets in the order the detector was
            trained with (its label ids and offsets follow it).
        dataset_classes (dict): dataset -> class names, in label order.
        expert_map (dict or None): dataset -> experts (None: a dense detector).
        num_experts (int or None): experts per MoE layer.
        router (str or None): the router type.
        state_dict (dict): the weights.
    """
    dataset_names: Tuple[str, ...]
    dataset_classes: Dict[str, Tuple[str, ...]]
    expert_map: Optional[Dict[str, List[int]]]
    num_experts: Optional[int]
    router: Optional[str]
    state_dict: dict = field(repr=False)

    @property
    def num_classes(self) -> int:
        """int: classes of the (partitioned) label space."""
        return sum(len(c) for c in self.dataset_classes.values())


@dataclass(frozen=True)
class AdditionOptions:
    """How the new dataset is added (``tools/add_dataset.py``'s options)."""
    # 'frozen': only the new expert, router row and class rows train; 'replay': all trains,
    # old datasets replayed; 'finetune': all trains on the new dataset alone
    mode: str = 'frozen'
    # 'new': a new expert copied from the most alike trained one; or a trained dataset's name
    expert: str = 'new'
    # keep this many training images of the new dataset (seeded); None: all of them
    shots: Optional[int] = None
    # share of the samples from the old datasets. replay mode: in (0, 1), None = 0.5; frozen
    # mode: in [0, 1), None = 0 (the new data alone), they train only the new rows and expert;
    # finetune mode: None (the new data alone)
    replay_ratio: Optional[float] = None
    # training iterations (an iteration-based schedule, step decay scaled); None: the config's
    max_iters: Optional[int] = None
    # training images per dataset whose backbone features choose the copied expert
    images_per_dataset: int = 16
    # seed of the shots, the feature sample and the new rows' initialisation
    seed: int = 0


@dataclass(frozen=True)
class Addition:
    """What :func:`add_dataset` wrote and decided.

    Attributes:
        config (str): the written config.
        checkpoint (str): the written start checkpoint.
        dataset_order (tuple): old datasets in trained order, then the new one.
        expert_map (dict or None): the grown map (None: dense).
        num_experts (int or None): experts after adding (None: dense).
        copied_expert (int or None): the trained expert the new one copies.
        reason (str): why that expert (or which expert is shared).
        trainable_rows (dict): state key -> first trainable row (frozen mode).
        train_ann (str): the new dataset's training annotation file used.
    """
    config: str
    checkpoint: str
    dataset_order: Tuple[str, ...]
    expert_map: Optional[Dict[str, List[int]]]
    num_experts: Optional[int]
    copied_expert: Optional[int]
    reason: str
    trainable_rows: Dict[str, int]
    train_ann: str


def read_trained_mixture(checkpoint: str) -> TrainedMixture:
    """Read the datasets, label order and expert map a checkpoint was trained with.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a mixture detector (no ``meta['dataset_meta']
            ['dataset_names']``), a unified label space, or a routing without
            a dataset map; each message says what to do instead.
    """
    from damex_mmdet.engine.hooks import CHECKPOINT_META_KEY
    from damex_mmdet.utils.safe_checkpoint import load_checkpoint_file
    ckpt = load_checkpoint_file(checkpoint, map_location='cpu')
    meta = ckpt.get('meta') or {}
    dataset_meta = meta.get('dataset_meta') or {}
    names = dataset_meta.get('dataset_names')
    if not names or not dataset_meta.get('dataset_classes'):
        raise ValueError(f'{checkpoint}: meta.dataset_meta has no dataset_names / '
                         'dataset_classes, so the order of its label space is unknown; give a '
                         "checkpoint saved by training on a MultiDataset (mmengine's Runner "
                         'stores them).')
    if dataset_meta.get('label_space', 'partitioned') != 'partitioned':
        raise ValueError(f"{checkpoint}: label_space={dataset_meta['label_space']!r}; adding a "
                         "dataset appends its classes, which needs the 'partitioned' space.")
    classes = {str(k): tuple(v) for k, v in dataset_meta['dataset_classes'].items()}
    names = tuple(str(n) for n in names)
    moe = meta.get(CHECKPOINT_META_KEY)
    if not moe:  # dense
        return TrainedMixture(names, classes, None, None, None, ckpt.get('state_dict', ckpt))
    router = str((moe.get('router') or {}).get('type', 'TopKRouter'))
    if not moe.get('expert_map') or router not in _MAP_ROUTERS:
        raise ValueError(f'{checkpoint}: its routing ({router}) has no dataset -> expert map '
                         f'to extend; adding a dataset needs a DAMEX or GEM checkpoint '
                         f'(routers {_MAP_ROUTERS}).')
    expert_map = {str(k): [int(e) for e in v] for k, v in moe['expert_map'].items()}
    return TrainedMixture(names, classes, expert_map,
                          int(moe['num_experts']), router, ckpt.get('state_dict', ckpt))


def _schedule(cfg, max_iters: int) -> Tuple[dict, list]:
    """``train_cfg`` and ``param_scheduler`` of ``cfg`` at ``max_iters``, step decay scaled.

    The comparison tool's rescaling (:func:`~damex_mmdet.experiments.runs.set_max_iters`),
    applied to a copy.
    """
    import copy

    from damex_mmdet.experiments.runs import set_max_iters
    if 'max_iters' not in cfg.train_cfg:
        raise ValueError(f'--max-iters {max_iters}: the config trains by epochs '
                         f'({cfg.train_cfg}); leave --max-iters out and set its schedule.')
    scaled = copy.deepcopy(cfg)
    set_max_iters(scaled, max_iters)
    return (dict(max_iters=max_iters, val_interval=max_iters),
            [s.to_dict() if hasattr(s, 'to_dict') else dict(s) for s in scaled.param_scheduler])


def _new_dataset_cfg(template, folder: str, ann_file: str, img_prefix: str,
                     classes: Tuple[str, ...]) -> dict:
    """The new sub-dataset: the first trained one's settings with its own files and classes."""
    cfg = template.to_dict() if hasattr(template, 'to_dict') else dict(template)
    cfg.update(data_root=osp.abspath(folder) + '/', ann_file=ann_file,
               data_prefix=dict(img=img_prefix), metainfo=dict(classes=tuple(classes)))
    return cfg


def _grown_map(mixture: TrainedMixture, name: str, options: AdditionOptions):
    """``(num_experts, expert_map)`` after adding ``name`` (``(None, None)`` for dense)."""
    if mixture.expert_map is None:
        if options.mode != 'finetune':
            raise ValueError(f'a dense detector (no meta.damex_moe in its checkpoint) has no '
                             f'expert to add or share, so --mode {options.mode} does not apply. '
                             'Train a DAMEX or GEM detector on the mixture (make_mixture_config.py'
                             ' --method damex), or fine-tune this one with --mode finetune.')
        return None, None
    if options.expert == 'new':
        return mixture.num_experts + 1, {**mixture.expert_map, name: [mixture.num_experts]}
    if options.expert in mixture.expert_map:
        return mixture.num_experts, {**mixture.expert_map,
                                     name: list(mixture.expert_map[options.expert])}
    raise ValueError(f'--expert {options.expert!r}: give "new" or a trained dataset '
                     f'({list(mixture.dataset_names)}) whose experts the new one shares.')


def old_share(options: AdditionOptions) -> float:
    """The share of training samples drawn from the old datasets in ``options.mode``.

    Raises:
        ValueError: a share outside the mode's range, or any share in finetune mode.
    """
    ratio = options.replay_ratio
    if options.mode == 'finetune':
        if ratio:
            raise ValueError(f'--replay-ratio {ratio}: finetune mode trains on the new dataset '
                             'alone (the forgetting baseline); use --mode replay (everything '
                             'trains) or --mode frozen (only the new rows) to show the old '
                             'datasets.')
        return 0.0
    if ratio is None:
        return 0.5 if options.mode == 'replay' else 0.0
    low_ok = options.mode == 'frozen'  # 0: the new data alone
    if not (0.0 <= ratio < 1.0 and (low_ok or ratio > 0.0)):
        raise ValueError(f'--replay-ratio {ratio}: give a share in {"[0" if low_ok else "(0"}'
                         f', 1) for --mode {options.mode}.')
    return float(ratio)


def _sampler_weights(cfg, mixture: TrainedMixture, name: str,
                     options: AdditionOptions) -> Dict[str, float]:
    """Per-dataset sampling weights: the new dataset alone, or replaying the old ones."""
    share = old_share(options)
    if share == 0.0:  # old samples left out, their classes kept
        return {**{n: 0.0 for n in mixture.dataset_names}, name: 1.0}
    sizes = _dataset_sizes(cfg)
    old = {n: sizes[n] ** 0.5 for n in mixture.dataset_names}
    weights = {n: round(share * w / sum(old.values()), 6) for n, w in old.items()}
    weights[name] = round(1.0 - share, 6)
    return weights


def _dataset_sizes(cfg) -> Dict[str, int]:
    """Training images per dataset (after the config's filters) of a MultiDataset config."""
    from mmdet.registry import DATASETS
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, lazy_init=True))
    dataset.full_init()
    return dict(zip(dataset.dataset_names, dataset.dataset_sizes))


def _check_old_labels(cfg, mixture: TrainedMixture, config: str) -> None:
    """The grown training set gives every old class the label it was trained with."""
    from mmdet.registry import DATASETS
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, lazy_init=True))
    offset = 0
    maps = dataset.metainfo['dataset_label_maps']
    for name in mixture.dataset_names:
        count = len(mixture.dataset_classes[name])
        if list(maps[name]) != list(range(offset, offset + count)):
            raise ValueError(f'{config}: dataset {name!r} would get labels {list(maps[name])}, '
                             f'not {list(range(offset, offset + count))} as trained.')
        offset += count


def _config_text(header: str, name: str, order, train_new: dict, loaders: dict,
                 num_classes: int, num_experts: Optional[int], expert_map: Optional[dict],
                 weights: dict,
                 hooks: Optional[list], schedule: Optional[tuple]) -> str:
    lines = [
        header,
        f'dataset_order = {list(order)!r}',
        f'new_train_dataset = {pprint.pformat(train_new, width=96, sort_dicts=False)}',
        'train_dataloader = dict(',
        f'    dataset=dict(dataset_order=dataset_order, datasets=dict({name}=new_train_dataset)),',
        "    sampler=dict(_delete_=True, type='MultiDatasetSampler', mode='weights',",
        f'                 weights={weights!r}, shuffle=True))',
    ]
    for key, block in loaders.items():
        lines += [f'{key} = dict(dataset=dict(dataset_order=dataset_order, datasets=dict(',
                  f'    {name}={pprint.pformat(block, width=88, sort_dicts=False)})))']
    lines += ['model = dict(', f'    bbox_head=dict(num_classes={num_classes}),']
    if expert_map is None:
        lines[-1] = lines[-1][:-1] + ')'
    else:
        mapping = pprint.pformat({'_delete_': True, **expert_map}, width=80, sort_dicts=False)
        lines.append(f'    moe_cfg=dict(num_experts={num_experts}, expert_map={mapping}))')
    if schedule is not None:
        train_cfg, schedulers = schedule
        lines += [f'train_cfg = dict({", ".join(f"{k}={v!r}" for k, v in train_cfg.items())})',
                  f'param_scheduler = {pprint.pformat(schedulers, width=96, sort_dicts=False)}',
                  f"default_hooks = dict(checkpoint=dict(interval={train_cfg['max_iters']}))"]
    if hooks is not None:
        lines += ['# frozen mode: every value but these rows (state key: first trainable row) '
                  'stays as trained',
                  f'custom_hooks = {pprint.pformat(hooks, width=96, sort_dicts=False)}']
    return '\n'.join(lines) + '\n'


def _replay_note(options: AdditionOptions, share: float) -> str:
    """The header's note of old datasets replayed in frozen mode (other modes: none)."""
    return f', old datasets replayed at {share:g}' if options.mode == 'frozen' and share else ''


def _shots_file(folder: str, train_ann: str, shots: int, seed: int, out_dir: str,
                name: str) -> str:
    from damex_mmdet.datasets.converters import select_nshot, write_coco_json
    with open(osp.join(folder, train_ann)) as f:
        coco = json.load(f)
    subset = select_nshot(coco, shots, seed=seed)
    path = osp.join(out_dir, f'{name}_train_{shots}shot_seed{seed}.json')
    write_coco_json(subset, path)
    return path


def _start_expert(grown_cfg, checkpoint: str, name: str, mixture: TrainedMixture,
                  expert_map: Optional[dict], options: AdditionOptions,
                  out: str) -> Tuple[Optional[int], str]:
    """The trained expert the new one copies (None: no new expert), and why."""
    if expert_map is None:
        return None, f'a dense detector: {name!r} gets its class rows, all values fine-tune'
    if options.expert != 'new':
        return None, (f'{name!r} shares expert(s) {expert_map[name]} with {options.expert!r}' +
                      (' (frozen: it stays as trained; only the new class rows train)'
                       if options.mode == 'frozen' else ''))
    from damex_mmdet.analysis.expert_choice import choose_source_expert
    choice = choose_source_expert(grown_cfg, checkpoint, name, mixture.expert_map,
                                  options.images_per_dataset, options.seed, config_name=out)
    return choice.expert, f'the new expert {mixture.num_experts} starts as ' + choice.reason


def _build_grown_state(cfg, mixture: TrainedMixture, copy_expert: Optional[int], seed: int):
    import torch
    from mmdet.registry import MODELS
    from mmengine.logging import MMLogger

    from damex_mmdet.models.grow import grow_state_dict
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    backbone_init = (model_cfg.get('backbone') or {}).get('init_cfg')
    if backbone_init:  # the backbone's values come from the checkpoint: nothing to download
        model_cfg['backbone']['init_cfg'] = None
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights lists every tensor at INFO
    try:
        torch.manual_seed(seed)
        model = MODELS.build(model_cfg)
        model.init_weights()
    finally:
        logger.setLevel(level)
    return grow_state_dict(mixture.state_dict, model.state_dict(), copy_expert)


def add_dataset(config: str, checkpoint: str, name: str, folder: str, out: str,
                options: AdditionOptions = AdditionOptions(), train_ann: str =
                'annotations/train.json', test_ann: str = 'annotations/test.json',
                img_prefix: str = '', log=print) -> Addition:
    """Write the config and start checkpoint that add ``name`` to a trained detector.

    Args:
        config (str): the trained detector's config.
        checkpoint (str): its checkpoint (DAMEX or GEM; dense with ``mode='finetune'``).
        name (str): the new dataset's name.
        folder (str): its folder (COCO json, as ``make_mixture_config.py`` takes).
        out (str): the config to write (``.py``); the start checkpoint is
            written next to it as ``<out stem>_start.pth``.
        options (AdditionOptions): mode, expert, shots, schedule, seed.
        train_ann, test_ann, img_prefix (str): the new folder's files.
        log (callable): where the decisions are told.

    Returns:
        Addition: what was written and decided.

    Raises:
        ValueError: a bad option, a name the model already has, a config and
            checkpoint of different datasets, or a checkpoint that cannot grow.
        FileNotFoundError: a missing folder, annotation file or checkpoint.
    """
    import torch
    from mmengine.config import Config

    from damex_mmdet.utils import register_all_modules
    from damex_mmdet.utils.mixture_config import MixtureDataset
    register_all_modules()  # it builds datasets and a detector: mmdet's scope
    if options.mode not in ADDITION_MODES:
        raise ValueError(f'--mode {options.mode!r}: choose one of {ADDITION_MODES}.')
    share = old_share(options)
    if not out.endswith('.py'):
        raise ValueError(f'--out {out}: a config file ends with .py.')
    mixture = read_trained_mixture(checkpoint)
    if name in mixture.dataset_names:
        raise ValueError(f'dataset name {name!r} is already in the model '
                         f'({list(mixture.dataset_names)}); name the new one NAME=FOLDER.')
    new = MixtureDataset(name, folder, train_ann, test_ann, img_prefix)
    cfg = Config.fromfile(config)
    loader = cfg.train_dataloader.dataset
    if loader.get('type') != 'MultiDataset' or sorted(loader.datasets) != sorted(
            mixture.dataset_names):
        trained = sorted(loader.get('datasets', {})) if loader.get(
            'type') == 'MultiDataset' else loader.get('type')
        raise ValueError(f'{config} trains {trained} but {checkpoint} was trained on '
                         f'{sorted(mixture.dataset_names)}; give the config of that checkpoint.')

    num_experts, expert_map = _grown_map(mixture, name, options)
    order = (*mixture.dataset_names, name)
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    train_file = new.train_ann
    if options.shots is not None:
        train_file = _shots_file(new.folder, new.train_ann, options.shots, options.seed,
                                 out_dir, name)
        log(f'{options.shots}-shot training set (seed {options.seed}): {train_file}')
    start = osp.splitext(osp.abspath(out))[0] + '_start.pth'

    first = mixture.dataset_names[0]
    train_new = _new_dataset_cfg(loader.datasets[first], new.folder, train_file, img_prefix,
                                 new.classes)
    loaders = {}
    for key in ('val_dataloader', 'test_dataloader'):
        eval_loader = cfg.get(key)
        if eval_loader and eval_loader.get('dataset', {}).get('type') == 'MultiDataset':
            template = eval_loader.dataset.datasets[first]
            loaders[key] = _new_dataset_cfg(template, new.folder, new.test_ann, img_prefix,
                                            new.classes)
    render = dict(name=name, order=order, train_new=train_new, loaders=loaders,
                  num_classes=mixture.num_classes + len(new.classes), num_experts=num_experts,
                  expert_map=expert_map, header=(
                      f'# Adds dataset {name!r} to the detector of {osp.abspath(checkpoint)}\n'
                      f'# ({options.mode} mode, expert {options.expert}'
                      f'{_replay_note(options, share)}); written by '
                      'tools/add_dataset.py. Old datasets keep the label order they were\n'
                      '# trained with; the new one comes last.\n'
                      f'_base_ = {osp.abspath(config)!r}\n\nload_from = {start!r}\n'
                      'resume = False\n'),
                  schedule=_schedule(cfg, options.max_iters) if options.max_iters else None)
    # first without the sampler weights and hooks that need the grown config's datasets
    weights = {n: 1.0 for n in order}
    with open(out, 'w') as f:
        f.write(_config_text(weights=weights, hooks=None, **render))
    grown_cfg = Config.fromfile(out)
    _check_old_labels(grown_cfg, mixture, out)
    weights = _sampler_weights(grown_cfg, mixture, name, options)
    copied, reason = _start_expert(grown_cfg, checkpoint, name, mixture, expert_map, options,
                                   out)
    log(reason)
    state, report = _build_grown_state(grown_cfg, mixture, copied, options.seed)
    trainable = {key: int(mixture.state_dict[key].shape[0]) for key in report['grown']}
    hooks = None
    if options.mode == 'frozen':
        hooks = [h.to_dict() if hasattr(h, 'to_dict') else dict(h)
                 for h in grown_cfg.get('custom_hooks') or []]
        hooks.append(dict(type='KeepTrainedValuesHook', trainable_rows=trainable))
    with open(out, 'w') as f:
        f.write(_config_text(weights=weights, hooks=hooks, **render))
    torch.save(dict(state_dict=state, meta=dict(added_dataset=dict(
        source=osp.abspath(checkpoint), name=name, mode=options.mode, expert=options.expert,
        copied_expert=copied, dataset_order=list(order)))), start)
    log(f'wrote {out} and {start}: {len(report["grown"])} tensors grew, '
        f'{len(report["kept"])} kept as trained')
    return Addition(out, start, order, expert_map, num_experts, copied, reason,
                    trainable if options.mode == 'frozen' else {}, train_file)
