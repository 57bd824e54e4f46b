"""GEM planning from a config or an affinity file, and the files it writes.

What ``tools/plan_experts.py`` runs: the affinity (a file, or a backbone
over a config's training datasets), the planning units (datasets, or class
groups when there are more experts than datasets) and their demand; then the
planned map is written as ``expert_map.json``, ``expert_map_snippet.py``,
``plan.png`` and, optionally, a child config that trains with it.
"""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np

from damex_mmdet.planning import (AffinityMatrix, ExpertMapping, PlanningUnit, load_affinity,
                                  parse_demand_values, render_child_config,
                                  render_config_snippet, save_mapping, split_demand)

__all__ = ['planning_inputs', 'config_num_experts', 'write_plan']


def config_num_experts(cfg) -> Optional[int]:
    """``model.moe_cfg.num_experts`` of a config (or a top-level ``num_experts``)."""
    moe_cfg = cfg.get('model', {}).get('moe_cfg') or {}
    value = moe_cfg.get('num_experts', cfg.get('num_experts'))
    return None if value is None else int(value)


def planning_inputs(affinity_file: Optional[str] = None, config: Optional[str] = None,
                    num_experts: Optional[int] = None, checkpoint: Optional[str] = None,
                    demand: str = 'count', demand_values: Optional[Sequence[str]] = None,
                    images_per_dataset: int = 32, seed: int = 0, device: str = 'cpu'
                    ) -> Tuple[AffinityMatrix, List[PlanningUnit], np.ndarray]:
    """Affinity (U, E), planning units and their (U,) demand.

    Args:
        affinity_file (str, optional): CSV/JSON affinity (rows datasets); or
        config (str, optional): a config whose backbone (``checkpoint``) and
            training ``MultiDataset`` give the affinity.
        num_experts (int, optional): ``E`` (default: the config's, or the
            file's columns, which it must then equal).
        demand (str): ``'count'`` (1 per unit) or ``'images'`` (training images).
        demand_values (Sequence[str], optional): ``NAME=VALUE`` per dataset
            (overrides ``demand``).
        images_per_dataset, seed, device: of the feature extraction (config).

    Raises:
        ValueError: inconsistent options, named.
    """
    if affinity_file:
        affinity = load_affinity(affinity_file)
        explicit = (parse_demand_values(demand_values, affinity.unit_names)
                    if demand_values else None)
        if num_experts is not None and num_experts != affinity.num_experts:
            raise ValueError(f'--num-experts {num_experts} differs from the '
                             f'{affinity.num_experts} columns of {affinity_file}.')
        units = [PlanningUnit(n, n, ()) for n in affinity.unit_names]
        if explicit is None and demand == 'images':
            raise ValueError('--demand images needs --config (dataset sizes) or '
                             '--demand-values NAME=VALUE for every dataset.')
        per_dataset = explicit or {n: 1.0 for n in affinity.unit_names}
        return affinity, units, split_demand(units, per_dataset)
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    from .dataset_features import affinity_from_checkpoint
    register_all_modules()
    import damex_mmdet  # noqa: F401  (registers MultiDataset)
    cfg = Config.fromfile(config)
    num_experts = num_experts if num_experts is not None else config_num_experts(cfg)
    if num_experts is None or int(num_experts) < 1:
        raise ValueError(f'{config}: model.moe_cfg.num_experts is {num_experts!r}; use an '
                         'MoE config (e.g. configs/gem/...) or pass --num-experts (>= 1).')
    if images_per_dataset < 1:
        raise ValueError(f'--images-per-dataset must be >= 1, got {images_per_dataset}.')
    affinity, measured = affinity_from_checkpoint(
        cfg, int(num_experts), checkpoint, device=device,
        images_per_dataset=images_per_dataset, seed=seed, config_name=config)
    if demand_values:
        per_dataset = parse_demand_values(demand_values, measured.sizes)
    elif demand == 'images':
        per_dataset = {k: float(v) for k, v in measured.sizes.items()}
    else:  # count: each unit costs 1, split datasets included
        return affinity, measured.units, np.ones(len(measured.units))
    return affinity, measured.units, split_demand(measured.units, per_dataset,
                                                  measured.class_freq, measured.classes)


def write_plan(mapping: ExpertMapping, out_dir: str, child_config: Optional[str] = None,
               base_config: Optional[str] = None) -> str:
    """Write the map, its config snippet, the plan figure and (optionally) a child config.

    Returns:
        str: the snippet (the map as config lines).
    """
    from .plots import plot_expert_mapping
    os.makedirs(out_dir, exist_ok=True)
    save_mapping(mapping, osp.join(out_dir, 'expert_map.json'))
    snippet = render_config_snippet(mapping)
    with open(osp.join(out_dir, 'expert_map_snippet.py'), 'w', encoding='utf-8') as f:
        f.write(snippet)
    plot_expert_mapping(mapping, osp.join(out_dir, 'plan.png'))
    if child_config:
        os.makedirs(osp.dirname(osp.abspath(child_config)), exist_ok=True)
        with open(child_config, 'w', encoding='utf-8') as f:
            f.write(render_child_config(mapping, base_config,
                                        osp.dirname(osp.abspath(child_config))))
    return snippet
