"""Write a ready training config for a mixture of your own COCO-json datasets.

Every dataset is a folder with a training and a test annotation file (COCO
json, ``file_name`` relative to the folder plus ``img_prefix``): the output of
``tools/dataset_converters/voc_to_coco.py``, or a COCO dataset as it is. The
config inherits one of the shipped configs of the chosen method and size and
replaces its data, number of classes and (for MoE methods) expert map:

========  ==========================================  ==============================
method    ``base='tiny'`` (CPU-sized, 160 px; built-in      ``base='r50'`` (the paper's
          benchmark configs ``*_damex-default``)            DINO-4scale R50, ``*_uodb``)
========  ==========================================  ==============================
dense     ``dino/dino-tiny_r18_1xb4-600i_...``         ``dino/dino-4scale_r50_...``
moe       ``moe/dino-moe-tiny_r18_1xb4-600i_...``      ``moe/dino-moe-4scale_r50_...``
damex     ``damex/damex-dino-tiny_r18_1xb4-600i_...``  ``damex/damex-dino-4scale_r50_...``
gem       ``gem/gem-dino-tiny_r18_1xb4-600i_...``      ``gem/gem-dino-4scale_r50_...``
remoe     ``remoe/remoe-dino-tiny_r18_1xb4-600i_...``  ``remoe/remoe-dino-4scale_...``
softmoe   ``softmoe/softmoe-dino-tiny_r18_...``        ``softmoe/softmoe-dino-4scale_...``
moepp     ``moepp/moepp-dino-tiny_r18_1xb4-600i_...``  ``moepp/moepp-dino-4scale_...``
========  ==========================================  ==============================

Expert maps: :func:`similarity_expert_map` groups datasets that look alike
(cheap image statistics, no trained model: see
:mod:`damex_mmdet.analysis.image_similarity` and
:mod:`damex_mmdet.planning.similarity_groups`), the default of
``tools/misc/make_mixture_config.py``; without a map
:func:`mixture_config_text` gives every dataset its own expert; a map of your
own, or one planned by ``tools/plan_experts.py``, can be given instead.
"""
import json
import os.path as osp
import pprint
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = ['BASE_CONFIGS', 'MIXTURE_METHODS', 'MixtureDataset', 'load_expert_map',
           'mixture_config_text', 'parse_dataset_arg', 'read_coco_classes',
           'similarity_expert_map']

MIXTURE_METHODS = ('dense', 'moe', 'damex', 'gem', 'remoe', 'softmoe', 'moepp')
# learned routings without a dataset->expert map (the map only reports router accuracy)
_MAP_FREE = ('moe', 'remoe', 'softmoe', 'moepp')
BASE_CONFIGS = {
    'tiny': {
        'dense': 'dino/dino-tiny_r18_1xb4-600i_damex-default.py',
        'moe': 'moe/dino-moe-tiny_r18_1xb4-600i_damex-default.py',
        'damex': 'damex/damex-dino-tiny_r18_1xb4-600i_damex-default.py',
        'gem': 'gem/gem-dino-tiny_r18_1xb4-600i_damex-default.py',
        'remoe': 'remoe/remoe-dino-tiny_r18_1xb4-600i_damex-default.py',
        'softmoe': 'softmoe/softmoe-dino-tiny_r18_1xb4-600i_damex-default.py',
        'moepp': 'moepp/moepp-dino-tiny_r18_1xb4-600i_damex-default.py',
    },
    'r50': {
        'dense': 'dino/dino-4scale_r50_8xb2-12e_uodb.py',
        'moe': 'moe/dino-moe-4scale_r50_8xb2-12e_uodb.py',
        'damex': 'damex/damex-dino-4scale_r50_8xb2-12e_uodb.py',
        'gem': 'gem/gem-dino-4scale_r50_8xb2-12e_uodb.py',
        'remoe': 'remoe/remoe-dino-4scale_r50_8xb2-12e_uodb.py',
        'softmoe': 'softmoe/softmoe-dino-4scale_r50_8xb2-12e_uodb.py',
        'moepp': 'moepp/moepp-dino-4scale_r50_8xb2-12e_uodb.py',
    },
}
# pipelines of the bases' dataset files, by base: (train, test with boxes, inference)
_PIPELINES = {
    'tiny': ('damex_default_train_pipeline', 'damex_default_test_pipeline',
             'damex_default_test_pipeline'),
    'r50': ('uodb_train_pipeline_s600', 'uodb_test_pipeline_s600', 'uodb_infer_pipeline'),
}


class MixtureDataset:
    """One dataset of the mixture: its name, folder, annotation files and classes.

    Args:
        name (str): dataset name (a key of the MultiDataset).
        folder (str): the folder (``data_root``).
        train_ann (str): training annotation file, relative to ``folder``.
        test_ann (str): test annotation file, relative to ``folder``.
        img_prefix (str): folder of the images relative to ``folder`` (``''``
            when ``file_name`` already includes it).

    Raises:
        FileNotFoundError: a missing folder or annotation file (named, with
            the converter to run).
        ValueError: an invalid name, or categories that differ between the
            training and the test file.
    """

    def __init__(self, name: str, folder: str, train_ann: str = 'annotations/train.json',
                 test_ann: str = 'annotations/test.json', img_prefix: str = ''):
        if not name or '/' in name or name == 'mean' or not name.replace('_', 'a').replace(
                '-', 'a').isalnum():
            raise ValueError(f'dataset name {name!r}: use letters, digits, "_" or "-" '
                             '(not "mean"); give it as NAME=FOLDER.')
        if not osp.isdir(folder):
            raise FileNotFoundError(f'{folder}: no such dataset folder.')
        self.name, self.folder = name, osp.abspath(folder)
        self.train_ann, self.test_ann, self.img_prefix = train_ann, test_ann, img_prefix
        for ann in (train_ann, test_ann):
            if not osp.isfile(osp.join(folder, ann)):
                raise FileNotFoundError(
                    f'{osp.join(folder, ann)}: no such annotation file. Convert a VOC-layout '
                    'folder first (tools/dataset_converters/voc_to_coco.py), or point '
                    '--train-ann / --test-ann at your COCO json files.')
        self.classes = read_coco_classes(osp.join(folder, train_ann))
        test_classes = read_coco_classes(osp.join(folder, test_ann))
        if test_classes != self.classes:
            raise ValueError(f'{name}: the training file lists categories {self.classes} but the '
                             f'test file {test_classes}; they must be equal and in one order.')


def read_coco_classes(path: str) -> Tuple[str, ...]:
    """Category names of a COCO json in the order mmdet numbers them (file order)."""
    with open(path) as f:
        coco = json.load(f)
    categories = coco.get('categories') or []
    if not categories:
        raise ValueError(f'{path}: no "categories" in the file; a detection dataset needs them.')
    return tuple(str(c['name']) for c in categories)


def _dataset_block(dataset: MixtureDataset, train: bool, pipeline: Optional[str]) -> str:
    lines = [
        "dict(type='CocoDataset',",
        f'         data_root={dataset.folder + "/"!r},',
        f'         ann_file={(dataset.train_ann if train else dataset.test_ann)!r},',
        f'         data_prefix=dict(img={dataset.img_prefix!r}),',
        f'         metainfo=dict(classes=mixture_classes[{dataset.name!r}]),',
    ]
    if train:
        lines.append('         filter_cfg=dict(filter_empty_gt=True, min_size=1),')
        lines.append(f'         pipeline=_base_.{pipeline})')
    else:
        lines.append('         test_mode=True)')
    return '\n'.join(lines)


def similarity_expert_map(datasets: Sequence[MixtureDataset], num_experts: Optional[int] = None,
                          threshold: Optional[float] = None, images: int = 32, seed: int = 0):
    """Plan the map from how alike the datasets' training images look.

    Args:
        datasets (Sequence[MixtureDataset]): the mixture.
        num_experts (int, optional): at most this many experts (the most
            similar groups merge further); default: as the threshold leaves.
        threshold (float, optional): least similarity of datasets sharing an
            expert (default :data:`~damex_mmdet.planning.similarity_groups.SIMILARITY_THRESHOLD`).
        images (int): training images per dataset (seeded draw).
        seed (int): of the draw.

    Returns:
        tuple: the :class:`~damex_mmdet.planning.similarity_groups.SimilarityMap`
        and the (D, D) similarity, datasets in the order given.
    """
    from damex_mmdet.analysis.image_similarity import (coco_image_paths, dataset_look,
                                                       similarity_matrix)
    from damex_mmdet.planning.similarity_groups import (SIMILARITY_THRESHOLD,
                                                        group_similar_datasets)
    looks = {d.name: dataset_look(coco_image_paths(d.folder, d.train_ann, d.img_prefix),
                                  images, seed) for d in datasets}
    names, similarity = similarity_matrix(looks)
    threshold = SIMILARITY_THRESHOLD if threshold is None else threshold
    return group_similar_datasets(names, similarity, threshold, num_experts), similarity


def mixture_config_text(datasets: Sequence[MixtureDataset], method: str, base: str = 'tiny',
                        expert_map: Optional[Mapping[str, Sequence[int]]] = None,
                        num_experts: Optional[int] = None,
                        base_config: Optional[str] = None) -> str:
    """The text of a config training ``method`` on ``datasets``.

    Args:
        datasets (Sequence[MixtureDataset]): the mixture (at least one).
        method (str): one of :data:`MIXTURE_METHODS` (``'dense' | 'moe' | 'damex' |
            'gem' | 'remoe' | 'softmoe' | 'moepp'``).
        base (str): ``'tiny'`` or ``'r50'`` (see the module docstring).
        expert_map (Mapping[str, Sequence[int]], optional): dataset ->
            experts for ``damex`` / ``gem``; default one expert per dataset.
        num_experts (int, optional): default ``max(expert) + 1`` of the map
            (for ``moe``: the number of datasets).
        base_config (str, optional): inherit this config instead (a path, or
            ``damex_mmdet::...``).

    Returns:
        str: a Python config, to be written next to nothing else: it
        inherits with ``damex_mmdet::`` (resolved through the installed
        package), so it works from any directory.
    """
    if method not in MIXTURE_METHODS:
        raise ValueError(f'method {method!r}: choose one of {MIXTURE_METHODS}.')
    if base not in BASE_CONFIGS:
        raise ValueError(f'base {base!r}: choose one of {tuple(BASE_CONFIGS)}.')
    if not datasets:
        raise ValueError('give at least one dataset folder.')
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise ValueError(f'dataset names {names} repeat; name them NAME=FOLDER.')
    moe = method != 'dense'
    if moe:
        if expert_map is None:
            expert_map = {name: [i] for i, name in enumerate(sorted(names))}
        expert_map = {k: [int(e) for e in v] for k, v in expert_map.items()}
        if set(expert_map) != set(names):
            raise ValueError(f'the expert map names {sorted(expert_map)} but the datasets are '
                             f'{sorted(names)}; give one entry per dataset.')
        used = max(e for v in expert_map.values() for e in v) + 1
        if num_experts is None:
            num_experts = len(names) if method in _MAP_FREE else used
        if num_experts < used:
            raise ValueError(f'num_experts={num_experts} but the expert map uses expert '
                             f'{used - 1}; give --num-experts {used} or more.')
    elif expert_map is not None or num_experts is not None:
        raise ValueError('a dense detector has no experts: drop --expert-map / --num-experts.')
    train_pipeline, test_pipeline, infer_pipeline = _PIPELINES[base]
    parent = base_config or f'damex_mmdet::{BASE_CONFIGS[base][method]}'
    classes = {d.name: d.classes for d in datasets}
    num_classes = sum(len(c) for c in classes.values())
    out: List[str] = [
        f'# {method} on a mixture of {len(datasets)} datasets; written by',
        '# tools/misc/make_mixture_config.py. Dataset ids and label offsets follow the sorted',
        "# names; classes are '<dataset>/<class>' in the combined label space.",
        f'_base_ = {parent!r}',
        '',
        f'mixture_classes = {pprint.pformat(classes, width=96, sort_dicts=False)}',
        '',
        'train_dataloader = dict(dataset=dict(',
        "    _delete_=True, type='MultiDataset', datasets=dict(",
    ]
    for d in datasets:
        out.append(f'        {d.name}=' + _dataset_block(d, True, train_pipeline)
                   .replace('\n', '\n        ') + ',')
    out += ['    )))', 'val_dataloader = dict(dataset=dict(',
            "    _delete_=True, type='MultiDataset',",
            f'    pipeline=_base_.{test_pipeline if base == "tiny" else infer_pipeline},'
            '  # also what DetInferencer uses', '    datasets=dict(']
    for d in datasets:
        block = _dataset_block(d, False, None)
        if base == 'r50':
            block = block[:-1] + f',\n         pipeline=_base_.{test_pipeline})'
        out.append(f'        {d.name}=' + block.replace('\n', '\n        ') + ',')
    out += ['    )))', 'test_dataloader = val_dataloader', '']
    model = [f'    bbox_head=dict(num_classes={num_classes}),']
    if moe:
        # _delete_: replace the base's map instead of merging the datasets into it
        mapping = pprint.pformat({'_delete_': True, **expert_map}, width=80, sort_dicts=False)
        note = (f'  # {method}: the map only reports router accuracy'
                if method in _MAP_FREE else '')
        model.append(f'    moe_cfg=dict(num_experts={num_experts},{note}')
        model.append(f'                 expert_map={mapping}),')
    out += ['model = dict(', *model, ')', '']
    return '\n'.join(out)


def parse_dataset_arg(text: str) -> Tuple[str, str]:
    """``NAME=FOLDER`` or ``FOLDER`` (name: the folder's base name, lower case)."""
    name, sep, folder = text.partition('=')
    if not sep:
        folder = text
        name = osp.basename(osp.normpath(text)).lower()
    return name, folder


def load_expert_map(text: str) -> Dict[str, List[int]]:
    """An expert map from a JSON file (``tools/plan_experts.py``'s mapping.json or a plain
    ``{dataset: [experts]}``) or an inline JSON string."""
    if osp.isfile(text):
        with open(text) as f:
            data = json.load(f)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f'--expert-map {text!r}: neither a file nor JSON such as '
                             '\'{"cells": [0], "roofs": [1]}\'.') from None
    data = data.get('expert_map', data) if isinstance(data, dict) else data
    if not isinstance(data, dict) or not all(isinstance(v, (list, tuple)) for v in data.values()):
        raise ValueError(f'--expert-map {text}: expected {{dataset: [expert, ...]}}.')
    return {str(k): [int(e) for e in v] for k, v in data.items()}
