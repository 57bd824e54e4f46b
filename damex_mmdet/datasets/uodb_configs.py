"""The UODB dataset and mixture configs, rendered from the one spec.

``configs/_base_/datasets/uodb/`` holds one file per UODB dataset, the
mapping file ``uodb_datasets.py`` and the paper's mixtures. All of them are
generated from :data:`~damex_mmdet.datasets.uodb.UODB_DATASETS` and
:data:`UODB_MIXTURES` by :func:`render_uodb_configs`; nobody edits them by
hand. ``python tools/misc/generate_uodb_configs.py`` rewrites them,
``--check`` (and ``tests/test_datasets/test_uodb_configs.py``) fails when a
committed file differs from what the spec renders. ``uodb_pipelines.py`` (the
pipelines of each UODB input size) and the n-shot mixtures, which only
replace an annotation file, stay hand-written.
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

from .uodb import UODB_DATASETS, UODBDatasetSpec

__all__ = [
    'UODBMixture', 'UODB_MIXTURES', 'render_dataset_config', 'render_datasets_config',
    'render_mixture_config', 'render_uodb_configs', 'write_uodb_configs', 'stale_uodb_configs'
]

_WIDTH = 79
_GENERATED = ('# Generated from damex_mmdet/datasets/uodb.py by '
              'tools/misc/generate_uodb_configs.py;\n# edit the spec there, not this file.\n')


@dataclass(frozen=True)
class UODBMixture:
    """A mixture config of UODB datasets.

    Attributes:
        datasets (tuple[str]): UODB dataset names, in the order listed.
        header (tuple[str]): comment lines at the top of the file.
    """
    datasets: Tuple[str, ...]
    header: Tuple[str, ...]


#: file stem -> mixture (the DAMEX paper's benchmarks).
UODB_MIXTURES: Mapping[str, UODBMixture] = {
    'uodb_11': UODBMixture(tuple(UODB_DATASETS), (
        'Mixture of all 11 UODB datasets (DAMEX paper, Table 1): one training run',
        'over the 11 training splits, evaluated on each test split separately.',
        'Prepare the data with tools/dataset_converters/uodb_to_coco.py (docs/data.md,',
        '"UODB").')),
    'uodb_clipart_dota_kitti_voc': UODBMixture(('clipart', 'dota', 'kitti', 'voc'), (
        'Clipart + DOTA + KITTI + VOC (DAMEX paper, Table 6, expert-count study):',
        'four domains, two of them (Clipart, VOC) with the same 20 classes.')),
    'uodb_kitti_kitchen': UODBMixture(('kitti', 'kitchen'), (
        'KITTI + Kitchen (DAMEX paper, Table 2, "full" column): two datasets whose',
        'scenes differ completely. The n-shot variants (uodb_kitti-<n>shot_kitchen.py)',
        "only replace KITTI's training annotations.")),
    'uodb_kitti_lisa': UODBMixture(('kitti', 'lisa'), (
        'KITTI + LISA (DAMEX paper, Table 4): two driving datasets with disjoint',
        'classes (road users vs. traffic signs).')),
    'uodb_watercolor_comic': UODBMixture(('watercolor', 'comic'), (
        'Watercolor + Comic (DAMEX paper, Table 3): two small artistic domains that',
        'share their 6 classes (kept as separate label slices).')),
}


def _comment(lines: Sequence[str]) -> str:
    return ''.join(f'# {line}\n' for line in lines)


def _tuple_lines(name: str, values: Sequence[str]) -> str:
    """``name = ('a', 'b')`` on one line when it fits, else wrapped at 79 columns."""
    one_line = f'{name} = {tuple(values)!r}\n'
    if len(one_line) <= _WIDTH + 1:
        return one_line
    lines, line = [], '   '
    for value in values:
        item = f' {value!r},'
        if len(line) + len(item) > _WIDTH:
            lines.append(line)
            line = '   '
        line += item
    lines.append(line[:-1] + ')')
    return f'{name} = (\n' + '\n'.join(lines) + '\n'


def render_dataset_config(spec: UODBDatasetSpec) -> str:
    """The config file text of one UODB dataset (``<name>.py``)."""
    prefix = f'uodb_{spec.name}'
    converted = spec.source_format == 'voc'
    size = spec.short_side
    text = _GENERATED
    text += f"# UODB dataset '{spec.name}' (dataset folder {spec.data_root()}).\n"
    text += _comment(spec.note)
    if converted:
        text += '# Annotations: COCO json written by tools/dataset_converters/uodb_to_coco.py.\n'
    text += (f'# UODB resizes it to a short side of {size}: uodb_datasets.py attaches\n'
             f'# uodb_{{train,test}}_pipeline_s{size} to the dicts below.\n\n')
    text += ('# dataset folder; ann_file and data_prefix are relative to it\n'
             f"{prefix}_data_root = '{spec.data_root()}'\n"
             f'# the {spec.num_classes} class names in label order (= COCO category ids '
             '1, 2, ...)\n')
    text += _tuple_lines(f'{prefix}_classes', spec.classes)
    text += (f'\n{prefix}_train = dict(\n'
             "    type='CocoDataset',  # mmdet's COCO-json dataset\n"
             f'    data_root={prefix}_data_root,\n'
             f"    # annotation file of UODB's training split '{spec.train_split}'\n"
             f"    ann_file='{spec.ann_file(spec.train_split)}',\n"
             "    # image folder joined with json file_name ('' = file_name is relative to\n"
             '    # data_root)\n'
             f"    data_prefix=dict(img='{spec.img_prefix}'),\n"
             '    # classes to load, matched by name; other json categories are ignored\n'
             "    # (default: COCO's 80)\n"
             f'    metainfo=dict(classes={prefix}_classes),\n'
             '    # drop images without boxes and images smaller than 32 px (default: None)\n'
             '    filter_cfg=dict(filter_empty_gt=True, min_size=32),\n'
             '    backend_args=None)  # file backend (None: local disk, the default)\n'
             f'{prefix}_test = dict(\n'
             "    type='CocoDataset',\n"
             f'    data_root={prefix}_data_root,\n'
             f"    # annotation file of UODB's test split '{spec.test_split}'\n"
             f"    ann_file='{spec.ann_file(spec.test_split)}',\n"
             f"    data_prefix=dict(img='{spec.img_prefix}'),\n"
             f'    metainfo=dict(classes={prefix}_classes),\n'
             '    test_mode=True,  # keep every image, no filtering (default: False)\n'
             '    backend_args=None)\n')
    return text


def render_datasets_config(specs: Sequence[UODBDatasetSpec]) -> str:
    """``uodb_datasets.py``: every dataset with its pipeline, and the shared loaders."""
    text = _GENERATED + _comment((
        f'The {len(specs)} UODB datasets with their pipelines, as two ordered mappings',
        'name -> mmdet dataset config, ready for MultiDataset:',
        '  uodb_train_datasets.<name>: UODB training split, training pipeline',
        '  uodb_test_datasets.<name>:  UODB test split, test pipeline',
        'and the dataloader settings the mixture configs share. Names are the',
        'canonical lower-case ones of damex_mmdet.datasets.uodb.UODB_DATASETS; the',
        "order is the DAMEX paper's (Table 1). Inherit this file (no dataloader keys,",
        'all names prefixed `uodb_`) to compose a mixture of your own, e.g.',
        '  train_dataloader = dict(',
        '      _base_.uodb_train_loader,',
        "      dataset=dict(type='MultiDataset', datasets=dict(",
        '          kitti=_base_.uodb_train_datasets.kitti,',
        '          lisa=_base_.uodb_train_datasets.lisa)))'))
    bases = ['./uodb_pipelines.py'] + [f'./{spec.name}.py' for spec in specs]
    text += _tuple_lines('_base_', bases).replace('(', '[', 1)[:-2] + ']\n'
    for split in ('train', 'test'):
        text += ('\n# each dataset with the pipeline of its UODB input size (short side)\n'
                 if split == 'train' else '')
        entries = [f'    {spec.name}=dict(_base_.uodb_{spec.name}_{split},\n'
                   + ' ' * (len(spec.name) + 10)
                   + f'pipeline=_base_.uodb_{split}_pipeline_s{spec.short_side})'
                   for spec in specs]
        text += f'uodb_{split}_datasets = dict(\n' + ',\n'.join(entries) + ')\n'
    text += '''
# Dataloader settings of the mixtures (everything but `dataset`).
uodb_train_loader = dict(
    batch_size=2,  # images per GPU (DAMEX: 2 per GPU on 8 GPUs)
    num_workers=2,  # loading processes per GPU
    persistent_workers=True,  # keep the workers between epochs
    # draws from the datasets with probability ~ size (mode='natural', i.e.
    # plain concatenation as in DAMEX); 'uniform' or 'temperature' (with
    # temperature=T, p ~ size**T) rebalance small datasets
    sampler=dict(type='MultiDatasetSampler', mode='natural', shuffle=True),
    # batches images of similar aspect ratio (less padding)
    batch_sampler=dict(type='AspectRatioBatchSampler'))
uodb_test_loader = dict(
    batch_size=1,  # images per GPU
    num_workers=2,
    persistent_workers=True,
    drop_last=False,  # evaluate every image
    sampler=dict(type='DefaultSampler', shuffle=False))  # fixed order
'''
    return text


def render_mixture_config(mixture: UODBMixture) -> str:
    """The config file text of one mixture (train / val / test loaders and metric)."""
    unknown = sorted(set(mixture.datasets) - set(UODB_DATASETS))
    if unknown:
        raise ValueError(f'UODB mixture names {unknown}, which are not UODB datasets '
                         f'({sorted(UODB_DATASETS)}).')

    def datasets(split):
        if mixture.datasets == tuple(UODB_DATASETS):
            return f'_base_.uodb_{split}_datasets'
        entries = ',\n'.join(f'            {name}=_base_.uodb_{split}_datasets.{name}'
                             for name in mixture.datasets)
        return f'dict(\n{entries})'

    return (_GENERATED + _comment(mixture.header) + f'''_base_ = ['./uodb_datasets.py']

# registers MultiDataset, MultiDatasetSampler and MultiDatasetCocoMetric
custom_imports = dict(imports=['damex_mmdet'], allow_failed_imports=False)

train_dataloader = dict(
    _base_.uodb_train_loader,  # batch size, workers, samplers
    dataset=dict(
        # concatenates the datasets; their sorted names fix the dataset ids and
        # the label offsets (partitioned label space)
        type='MultiDataset',
        datasets={datasets('train')}))
val_dataloader = dict(
    _base_.uodb_test_loader,
    dataset=dict(
        type='MultiDataset',
        pipeline=_base_.uodb_infer_pipeline,  # for DetInferencer; datasets keep theirs
        datasets={datasets('test')}))
test_dataloader = val_dataloader

# COCO-style AP of every dataset on its own label slice, plus their mean
val_evaluator = dict(type='MultiDatasetCocoMetric', metric='bbox')
test_evaluator = val_evaluator
''')


def render_uodb_configs(specs: Sequence[UODBDatasetSpec] = None,
                        mixtures: Mapping[str, UODBMixture] = None) -> Dict[str, str]:
    """File name (in ``configs/_base_/datasets/uodb/``) -> rendered text.

    Args:
        specs (Sequence[UODBDatasetSpec], optional): default the 11 UODB datasets.
        mixtures (Mapping[str, UODBMixture], optional): default :data:`UODB_MIXTURES`.
    """
    specs = list(UODB_DATASETS.values()) if specs is None else list(specs)
    mixtures = UODB_MIXTURES if mixtures is None else mixtures
    files = {f'{spec.name}.py': render_dataset_config(spec) for spec in specs}
    files['uodb_datasets.py'] = render_datasets_config(specs)
    files.update({f'{stem}.py': render_mixture_config(m) for stem, m in mixtures.items()})
    return files


def write_uodb_configs(config_dir: str) -> List[str]:
    """Write every rendered file into ``config_dir``; returns the paths written."""
    os.makedirs(config_dir, exist_ok=True)
    written = []
    for name, text in render_uodb_configs().items():
        path = osp.join(config_dir, name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        written.append(path)
    return written


def stale_uodb_configs(config_dir: str) -> List[str]:
    """Files of ``config_dir`` that are missing or differ from what the spec renders."""
    stale = []
    for name, text in render_uodb_configs().items():
        path = osp.join(config_dir, name)
        if not osp.isfile(path):
            stale.append(path)
            continue
        with open(path, encoding='utf-8') as f:
            if f.read() != text:
                stale.append(path)
    return stale
