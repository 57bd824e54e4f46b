"""A mixture config without one of its datasets (the "before" detector of adding a dataset).

:func:`leave_dataset_out` removes a dataset from every ``MultiDataset``
loader of a config, its classes from ``bbox_head.num_classes`` and its entry
from the expert map. Experts left without a dataset are dropped and the rest
renumbered in order, so the detector has the experts its datasets use:
the human prior ``{comic, watercolor: 0; signs, street: 1; kitchen: 2;
xray: 3}`` without ``kitchen`` becomes ``{...: 0; ...: 1; xray: 2}`` with 3
experts.
"""
__all__ = ['leave_dataset_out']

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def leave_dataset_out(cfg, name: str) -> None:
    """Remove dataset ``name`` from ``cfg`` in place (see the module docstring).

    Args:
        cfg (Config): a config whose loaders hold ``MultiDataset``\\ s.
        name (str): the dataset to leave out.

    Raises:
        ValueError: ``name`` is not in the training ``MultiDataset``, or it is
            the only dataset.
    """
    train = cfg.train_dataloader.dataset
    if train.get('type') != 'MultiDataset' or name not in train.datasets:
        raise ValueError(f'leave_out={name!r}: not a dataset of the training MultiDataset '
                         f'({sorted(train.get("datasets", {}))}).')
    if len(train.datasets) == 1:
        raise ValueError(f'leave_out={name!r}: it is the only dataset.')
    classes = len(train.datasets[name].metainfo.classes)
    for key in _LOADERS:
        loader = cfg.get(key)
        if loader and loader.dataset.get('type') == 'MultiDataset':
            loader.dataset.datasets.pop(name, None)
    cfg.model.bbox_head.num_classes -= classes
    moe_cfg = cfg.model.get('moe_cfg')
    if moe_cfg and moe_cfg.get('expert_map'):
        expert_map = {k: list(v) for k, v in moe_cfg.expert_map.items() if k != name}
        used = sorted({e for experts in expert_map.values() for e in experts})
        renumber = {old: new for new, old in enumerate(used)}
        moe_cfg.expert_map = {k: [renumber[e] for e in v] for k, v in expert_map.items()}
        moe_cfg.num_experts = len(used)
