"""Concatenate detection datasets with a dataset-aware label space.

``MultiDataset`` takes a mapping ``name -> dataset`` and serves every sample with
``dataset_name`` in its data info and its ``bbox_label`` moved into the
combined label space, *before* the sub-dataset's pipeline runs. The
sub-datasets' (possibly serialized) data lists are never modified: the
stamping happens on the copy that ``get_data_info`` returns. After the
pipeline, ``dataset_name`` is also put into the packed sample's metainfo, so
the pipelines' ``meta_keys`` need not list it.

``dataset_name`` is the one key that says where a sample comes from, end to
end: the expert map, the routing targets, the per-dataset metric, the
routing statistics and the checkpoint's label space all name datasets. (A
dataset's position in the sorted names is internal: it changes when a
dataset is added, a name does not.)

Dataset ids follow the **sorted** names, whatever the order of the mapping:
mmengine writes configs with sorted dict keys (``work_dir/<config>.py``, the
config stored in checkpoints, the configs a launcher re-reads), so an
order-sensitive mapping would give a config and its dump different label
spaces, and a checkpoint would be scored with permuted labels.
``dataset_order`` overrides the sorted order: a detector that grew by a
dataset keeps the order it was trained with (``meta['dataset_meta']
['dataset_names']`` of its checkpoint) and lists the new dataset last, so no
old dataset's labels move, whatever the new name.

Label spaces (``D`` datasets, dataset ``d`` with ``n_d`` classes):

- ``'partitioned'`` (default): dataset ``d`` owns labels
  ``[offset_d, offset_d + n_d)`` with ``offset_d = n_0 + ... + n_{d-1}``;
  classes are named ``'<dataset>/<class>'``.
- ``'unified'``: equal class names share one label; classes keep their raw
  names, in order of first appearance.
"""
import bisect
import copy
import logging
from collections.abc import Mapping
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.fileio import load
from mmengine.logging import print_log
from torch.utils.data import Dataset

from mmdet.registry import DATASETS

from damex_mmdet.utils.random_state import seeded_random_state
from .label_space import build_label_space, class_palette
from .samplers import SeededIndex

__all__ = ['MultiDataset']
_RESERVED_NAMES = ('mean', )


def _check_coco_categories(name: str, dataset: BaseDataset) -> None:
    """Check a COCO-style sub-dataset's classes against its annotation file.

    mmdet's ``CocoDataset`` silently drops annotations of categories that are
    not in ``classes`` and numbers labels in the *file's* category order, so a
    missing or reordered name would corrupt labels without any error. Also
    logs how many images of the file survived ``filter_cfg``/``indices``.
    """
    ann_file = dataset.ann_file
    coco = load(ann_file, backend_args=getattr(dataset, 'backend_args', None))
    file_names = [cat['name'] for cat in coco.get('categories', [])]
    classes = tuple(dataset.metainfo['classes'])
    missing = [cls for cls in classes if cls not in file_names]
    if missing:
        raise ValueError(
            f'MultiDataset: classes {missing} of dataset {name!r} are not '
            f'categories of its annotation file {ann_file} (it has '
            f'{file_names}); fix metainfo.classes of {name!r} or the file.')
    in_file_order = [cls for cls in file_names if cls in classes]
    if tuple(in_file_order) != classes:
        raise ValueError(
            f'MultiDataset: dataset {name!r} lists classes {classes} but its '
            f'annotation file {ann_file} orders (or repeats) them as '
            f'{tuple(in_file_order)}; CocoDataset numbers labels in file '
            'order, so labels would point at the wrong names. List '
            'metainfo.classes in the file order.')
    print_log(
        f'MultiDataset: {name!r} keeps {len(dataset)} of '
        f'{len(coco.get("images", []))} images of {ann_file} '
        f'({len(coco.get("images", [])) - len(dataset)} skipped by '
        f'filter_cfg={dataset.filter_cfg} / indices).',
        logger='current')


@DATASETS.register_module()
class MultiDataset(Dataset):
    """Several detection datasets behind one index with per-sample source.

    Args:
        datasets (Mapping[str, dict | BaseDataset]): Mapping from dataset
            name to a dataset config or a built dataset (``BaseDataset``
            subclass, e.g. ``CocoDataset``). The sorted names define
            ``dataset_id`` and label offsets (see the module docstring).
            Names must be unique, non-empty, without ``'/'`` and not
            ``'mean'``.
        label_space (str): ``'partitioned'`` (default) or ``'unified'``.
        pipeline (list[dict], optional): Pipeline given to the dataset configs
            that have none. In a test dataloader it is also the pipeline
            mmdet's ``DetInferencer`` / ``inference_detector`` apply to images
            of unknown dataset (they read ``test_dataloader.dataset.pipeline``);
            the shipped configs set it. Defaults to None.
        test_mode (bool, optional): Set on every dataset config; built
            datasets and configs must agree with it. None keeps each
            dataset's own value (they must all be equal). Defaults to None.
        lazy_init (bool): Defer loading annotations to :meth:`full_init`.
            Datasets given as configs are always built lazily and loaded by
            :meth:`full_init`. Defaults to False.
        check_categories (bool): For COCO-style datasets (with ``cat_ids``),
            read the annotation file's categories once more and fail if a
            configured class is missing or out of file order. Defaults to
            True.
        dataset_order (Sequence[str], optional): the order of the datasets
            (label offsets, sample indices) instead of the sorted names: every
            name once. A detector that grew by a dataset keeps the order its
            checkpoint was trained with and lists the new dataset last, so
            every old dataset keeps its labels. Defaults to None (sorted).
    """

    _fully_initialized: bool = False

    def __init__(self,
                 datasets: Mapping,
                 label_space: str = 'partitioned',
                 pipeline: Optional[List[dict]] = None,
                 test_mode: Optional[bool] = None,
                 lazy_init: bool = False,
                 check_categories: bool = True,
                 dataset_order: Optional[Sequence[str]] = None) -> None:
        if not isinstance(datasets, Mapping):
            raise ValueError(
                'MultiDataset: `datasets` must be an ordered mapping from '
                "dataset name to config, e.g. datasets=dict(kitti=dict(type="
                f"'CocoDataset', ...), voc=dict(...)); got "
                f'{type(datasets).__name__}.')
        if len(datasets) == 0:
            raise ValueError('MultiDataset: `datasets` is empty; give at '
                             'least one name -> dataset entry.')
        self._check_names([str(name) for name in datasets.keys()])
        by_name = {str(name): cfg for name, cfg in datasets.items()}
        order = sorted(by_name) if dataset_order is None else [str(n) for n in dataset_order]
        if sorted(order) != sorted(by_name):
            missing = sorted(set(by_name) - set(order))
            extra = sorted(set(order) - set(by_name))
            repeated = sorted({n for n in order if order.count(n) > 1})
            raise ValueError(
                f'MultiDataset: dataset_order={order} must list every dataset once; missing '
                f'{missing}, unknown {extra}, repeated {repeated} (datasets: {sorted(by_name)}).')
        entries = [(name, by_name[name]) for name in order]
        names = [name for name, _ in entries]
        self.dataset_names: Tuple[str, ...] = tuple(names)
        self.label_space = label_space
        self.check_categories = check_categories
        self.datasets: List[BaseDataset] = [
            self._build(name, cfg, pipeline, test_mode)
            for name, cfg in entries
        ]
        modes = {bool(ds.test_mode) for ds in self.datasets}
        if len(modes) > 1:
            raise ValueError(
                'MultiDataset: datasets disagree on test_mode '
                f'({dict(zip(names, (d.test_mode for d in self.datasets)))}); '
                'set test_mode on the MultiDataset.')
        self.test_mode = modes.pop()
        self._metainfo = self._combined_metainfo()
        # plain tuples: indexing them is faster than numpy on the hot path
        self._label_maps = [
            tuple(self._metainfo['dataset_label_maps'][name])
            for name in self.dataset_names
        ]
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @staticmethod
    def _check_names(names: Sequence[str]) -> None:
        """Names must be unique, non-empty, '/'-free and not reserved."""
        seen = set()
        for name in names:
            if not name or '/' in name or name in _RESERVED_NAMES:
                raise ValueError(
                    f'MultiDataset: invalid dataset name {name!r}; names must '
                    "be non-empty, contain no '/' and not be one of "
                    f'{_RESERVED_NAMES}. Rename the key in `datasets`.')
            if name in seen:
                raise ValueError(f'MultiDataset: dataset name {name!r} appears '
                                 'twice in `datasets`; names must be unique.')
            seen.add(name)

    @staticmethod
    def _build(name: str, cfg: Union[dict, BaseDataset],
               pipeline: Optional[List[dict]],
               test_mode: Optional[bool]) -> BaseDataset:
        """Build (or check) the sub-dataset registered under ``name``."""
        if isinstance(cfg, Mapping):
            cfg = dict(cfg)
            if test_mode is not None:
                if cfg.get('test_mode', test_mode) != test_mode:
                    raise ValueError(
                        f'MultiDataset: datasets.{name}.test_mode='
                        f'{cfg["test_mode"]} contradicts test_mode='
                        f'{test_mode}; drop one of them.')
                cfg['test_mode'] = test_mode
            if pipeline is not None:
                cfg.setdefault('pipeline', pipeline)
            # loaded by MultiDataset.full_init, which names the dataset in
            # loading errors and honours MultiDataset's own lazy_init
            cfg['lazy_init'] = True
            dataset = DATASETS.build(cfg)
        else:
            dataset = cfg
        if not isinstance(dataset, BaseDataset):
            raise ValueError(
                f'MultiDataset: datasets.{name} must be a BaseDataset (e.g. '
                f'CocoDataset), got {type(dataset).__name__}; wrappers such as '
                'ConcatDataset/RepeatDataset have no pipeline to stamp the '
                'dataset id before. Merge their annotation files instead.')
        if test_mode is not None and bool(dataset.test_mode) != test_mode:
            raise ValueError(
                f'MultiDataset: built dataset {name!r} has test_mode='
                f'{dataset.test_mode} but test_mode={test_mode} was asked.')
        if not dataset.metainfo.get('classes'):
            raise ValueError(
                f'MultiDataset: dataset {name!r} has no `classes` in its '
                'metainfo; set metainfo=dict(classes=(...)) in its config.')
        classes = tuple(dataset.metainfo['classes'])
        if len(set(classes)) != len(classes):
            raise ValueError(f'MultiDataset: dataset {name!r} repeats class '
                             f'names in {classes}; class names must be unique.')
        return dataset

    def _combined_metainfo(self) -> dict:
        """Metainfo of the combined label space (see class docstring)."""
        dataset_classes = {
            name: tuple(ds.metainfo['classes'])
            for name, ds in zip(self.dataset_names, self.datasets)
        }
        space = build_label_space(dataset_classes, self.label_space)
        palette = class_palette(len(space['classes']))
        for name, ds in zip(self.dataset_names, self.datasets):
            own = ds.metainfo.get('palette')
            if own is not None and len(own) == len(dataset_classes[name]):
                for local, label in enumerate(space['label_maps'][name]):
                    palette[label] = tuple(own[local])
        metainfo = dict(
            classes=space['classes'],
            palette=palette,
            dataset_names=self.dataset_names,
            dataset_classes=dataset_classes,
            dataset_label_maps=space['label_maps'],
            label_space=self.label_space,
            ann_files={
                name: getattr(ds, 'ann_file', None) or None
                for name, ds in zip(self.dataset_names, self.datasets)
            })
        if 'class_ranges' in space:
            metainfo['dataset_class_ranges'] = space['class_ranges']
        return metainfo

    @property
    def metainfo(self) -> dict:
        """dict: Combined metainfo (a copy): ``classes``, ``palette``,
        ``dataset_names``, ``dataset_classes``, ``dataset_label_maps``,
        ``dataset_class_ranges`` (partitioned only), ``label_space`` and
        ``ann_files`` (``{name: path or None}``)."""
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        """Fully initialise every sub-dataset and validate it once."""
        if self._fully_initialized:
            return
        for name, dataset in zip(self.dataset_names, self.datasets):
            where = (f'ann_file={getattr(dataset, "ann_file", None)}, '
                     f'filter_cfg={getattr(dataset, "filter_cfg", None)}')
            try:
                dataset.full_init()
            except ValueError as err:
                # mmengine cannot serialize an empty data list and fails
                # with 'need at least one array to concatenate'.
                raise ValueError(
                    f'MultiDataset: loading dataset {name!r} ({where}) '
                    f'failed: {err}. If the dataset is empty after '
                    'filtering, check the file, its classes and '
                    'filter_cfg.') from err
            if len(dataset) == 0:
                raise ValueError(
                    f'MultiDataset: dataset {name!r} is empty ({where}); '
                    'check the annotation file, its classes and filter_cfg.')
            if self.check_categories and hasattr(dataset, 'cat_ids'):
                _check_coco_categories(name, dataset)
            else:
                print_log(f'MultiDataset: {name!r} has {len(dataset)} samples.',
                          logger='current')
        self._ends: List[int] = np.cumsum(
            [len(ds) for ds in self.datasets]).tolist()
        self._starts = [0, *self._ends[:-1]]
        self._fully_initialized = True

    @property
    @force_full_init
    def dataset_sizes(self) -> Tuple[int, ...]:
        """tuple[int]: Number of samples of each dataset, dataset-id order."""
        return tuple(len(ds) for ds in self.datasets)

    @property
    @force_full_init
    def cumulative_sizes(self) -> List[int]:
        """list[int]: End (exclusive) of each dataset in the global index."""
        return list(self._ends)

    @force_full_init
    def __len__(self) -> int:
        return self._ends[-1]

    @force_full_init
    def _locate(self, idx: int) -> Tuple[int, int]:
        """Map a global index to ``(dataset_id, local index)``."""
        total = self._ends[-1]
        if not -total <= idx < total:
            raise IndexError(f'MultiDataset index {idx} is out of range for '
                             f'{total} samples.')
        idx = idx % total
        dataset_id = bisect.bisect_right(self._ends, idx)
        return dataset_id, idx - self._starts[dataset_id]

    def get_dataset_source(self, idx: int) -> int:
        """Return the ``dataset_id`` of global index ``idx``."""
        return self._locate(idx)[0]

    def _stamped_info(self, dataset_id: int, local_idx: int) -> dict:
        """Sub-dataset data info with source stamps and combined labels."""
        info = self.datasets[dataset_id].get_data_info(local_idx)
        info['dataset_name'] = self.dataset_names[dataset_id]
        info['sample_idx'] = self._starts[dataset_id] + local_idx
        label_map = self._label_maps[dataset_id]
        for instance in info.get('instances', ()):
            label = instance.get('bbox_label', -1)
            if label >= 0:
                instance['bbox_label'] = label_map[label]
        return info

    def get_data_info(self, idx: int) -> dict:
        """Data info of global index ``idx``, stamped as the pipeline sees it.

        Returns:
            dict: The sub-dataset's data info plus ``dataset_name`` (str),
            ``sample_idx`` (global index), with each
            instance's ``bbox_label`` in the combined label space.
        """
        return self._stamped_info(*self._locate(idx))

    def get_cat_ids(self, idx: int) -> List[int]:
        """Combined labels of the instances of ``idx`` (for class-balanced
        wrappers)."""
        instances = self.get_data_info(idx).get('instances', [])
        return [int(inst['bbox_label']) for inst in instances]

    def __getitem__(self, idx: int) -> dict:
        """Run the owning sub-dataset's pipeline on the stamped data info.

        The packed sample's metainfo gets ``dataset_name`` whatever the
        pipeline's ``meta_keys``.

        An index of ``MultiDatasetSampler(per_sample_seeds=True)`` (a
        :class:`~damex_mmdet.datasets.samplers.SeededIndex`) runs the pipeline
        under its own seed.

        In training, when the pipeline returns None (e.g. every box was
        cropped away) another random sample *of the same dataset* is tried,
        up to that dataset's ``max_refetch`` times, so refetching never
        changes the sampled dataset ratios.
        """
        if not self._fully_initialized:
            print_log('MultiDataset: call full_init() before building the '
                      'dataloader to avoid loading annotations per worker.',
                      logger='current', level=logging.WARNING)
            self.full_init()
        if isinstance(idx, SeededIndex):  # MultiDatasetSampler(per_sample_seeds=True)
            with seeded_random_state(idx.seed):
                return self._prepare(int(idx))
        return self._prepare(idx)

    def _prepare(self, idx: int) -> dict:
        """The pipeline's output for global index ``idx`` (see :meth:`__getitem__`)."""
        dataset_id, local_idx = self._locate(idx)
        dataset = self.datasets[dataset_id]
        for _ in range(dataset.max_refetch + 1):
            data = dataset.pipeline(self._stamped_info(dataset_id, local_idx))
            if data is not None:
                return self._stamp_packed(data, dataset_id)
            if self.test_mode:
                raise RuntimeError(
                    f'MultiDataset: the test pipeline of dataset '
                    f'{self.dataset_names[dataset_id]!r} returned None for '
                    f'sample {local_idx}; test pipelines must not drop data.')
            local_idx = np.random.randint(0, len(dataset))
        raise RuntimeError(
            f'MultiDataset: no valid sample of dataset '
            f'{self.dataset_names[dataset_id]!r} after '
            f'{dataset.max_refetch} refetches; check its images and pipeline.')

    def _stamp_packed(self, data, dataset_id: int):
        """Put ``dataset_name`` into the packed sample's metainfo.

        The routers (training targets), the per-dataset metric and the routing
        statistics read it there, so a pipeline's ``PackDetInputs(meta_keys=...)``
        need not list it (listing it is harmless: the value is the same).
        """
        samples = data.get('data_samples') if isinstance(data, dict) else None
        if hasattr(samples, 'set_metainfo'):
            samples.set_metainfo(dict(dataset_name=self.dataset_names[dataset_id]))
        return data

    def __repr__(self) -> str:
        sizes = (f'{self.dataset_sizes}'
                 if self._fully_initialized else 'not loaded')
        return (f'{type(self).__name__}(names={self.dataset_names}, '
                f'label_space={self.label_space!r}, sizes={sizes}, '
                f'num_classes={len(self._metainfo["classes"])})')
