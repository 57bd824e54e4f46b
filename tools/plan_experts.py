"""Plan a dataset -> expert map with GEM (LP relaxation + hierarchical rounding).

Affinity from a file (a human prior, rows = datasets, columns = experts)::

    python tools/plan_experts.py --affinity prior.csv --capacity 2 --out-dir work_dirs/gem

Affinity from a frozen backbone over the training datasets of a config::

    python tools/plan_experts.py --config CONFIG --num-experts 8 --checkpoint CKPT \\
        --images-per-dataset 32 --out-dir work_dirs/gem

GEM in two commands: ``--write-config OUT.py`` also writes a child config that
inherits ``--base-config`` (default: ``--config``) and sets the planned
``expert_map`` and ``num_experts``, ready for ``tools/train.py OUT.py``::

    python tools/plan_experts.py --config configs/gem/gem-dino-4scale_r50_8xb2-12e_uodb.py \
        --checkpoint CKPT --out-dir work_dirs/gem_plan --write-config work_dirs/gem_plan/gem.py
    python tools/train.py work_dirs/gem_plan/gem.py

Writes ``expert_map.json``, ``expert_map_snippet.py`` (the same lines to paste
by hand) and ``plan.png`` (affinity | fractional plan | compiled mapping) to
``--out-dir`` and prints the mapping with its LP bound and gap.

With ``--config`` the images go through each dataset's own (training)
pipeline, seeded by ``--seed``, are normalised with the model's
``data_preprocessor`` mean/std and the last backbone stage is average-pooled.
With more experts than datasets the datasets are split into class groups
(class-level specialisation); this needs class information and therefore
``--config``: with ``--affinity`` every row is one dataset.
"""
import argparse
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np

from damex_mmdet.analysis import affinity_from_checkpoint, plot_expert_mapping
from damex_mmdet.planning import (AffinityMatrix, PlanningUnit, load_affinity,
                                  plan_expert_mapping, render_child_config,
                                  render_config_snippet, save_mapping, split_demand)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plan a dataset -> expert map with GEM (LP + hierarchical rounding).')
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--affinity', help='CSV/JSON affinity table (rows: datasets, columns: '
                     'experts); see damex_mmdet.planning.affinity_io for the layouts')
    src.add_argument('--config', help='mmdet config whose model.backbone and '
                     'train_dataloader.dataset (a MultiDataset) give the affinities')
    parser.add_argument('--checkpoint', help='detector or backbone checkpoint for --config '
                        '(keys "backbone.*" are used when present); without it the backbone '
                        'is randomly initialised')
    parser.add_argument('--num-experts', type=int, help='experts E (--config: default '
                        'model.moe_cfg.num_experts; --affinity: the number of columns)')
    parser.add_argument('--write-config', metavar='OUT.py', default=None,
                        help='write a config inheriting --base-config with the planned map')
    parser.add_argument('--base-config', default=None,
                        help='config the --write-config child inherits (default: --config)')
    parser.add_argument('--images-per-dataset', type=int, default=32,
                        help='images sampled per dataset for --config (default 32)')
    parser.add_argument('--demand', choices=('count', 'images'), default='count',
                        help='what a dataset costs an expert: 1 (count, default) or its number '
                        'of training images (images; --config, or give --demand-values)')
    parser.add_argument('--demand-values', nargs='+', metavar='NAME=VALUE',
                        help='explicit demand per dataset (overrides --demand)')
    parser.add_argument('--capacity', type=float, nargs='+',
                        help='capacity of every expert (one value) or of each expert (E values),'
                        ' in the unit of the demand; default: ceil-ed capacity-factor * total '
                        'demand / E')
    parser.add_argument('--capacity-factor', type=float, default=1.25,
                        help='slack of the default capacity (default 1.25)')
    parser.add_argument('--min-share', type=float, help='least LP share of every dataset on '
                        'its highest-affinity expert (pins it there in the mapping)')
    parser.add_argument('--compiler', choices=('exact', 'rounding'), default='exact',
                        help="'exact' (default): the optimal integral mapping (assignment or "
                        "MILP, rounding as fallback); 'rounding': the paper's hierarchical "
                        'rounding alone')
    parser.add_argument('--time-limit', type=float, default=10.0,
                        help='seconds for the exact MILP (default 10)')
    parser.add_argument('--refine-fixed', action='store_true',
                        help='rounding compiler: also move LP-integral datasets when that raises '
                        'the value')
    parser.add_argument('--seed', type=int, default=0, help='seed of sampling and centroids')
    parser.add_argument('--device', default='cpu', help='device of the backbone (--config)')
    parser.add_argument('--out-dir', required=True, help='output directory')
    return parser.parse_args(argv)


def parse_demand_values(pairs: List[str], datasets) -> Dict[str, float]:
    """``['kitti=7000', ...]`` -> ``{'kitti': 7000.0}``, names checked against ``datasets``."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition('=')
        try:
            out[name] = float(value)
        except ValueError:
            sep = ''
        if not sep or not name:
            raise ValueError(f'--demand-values entry {pair!r} is not NAME=NUMBER.')
    unknown = sorted(set(out) - set(datasets))
    if unknown:
        raise ValueError(f'--demand-values names unknown datasets {unknown}; known: '
                         f'{list(datasets)}.')
    return out


def resolve_capacity(args, num_experts: int, demand: np.ndarray) -> np.ndarray:
    """Capacity vector (E,) from ``--capacity`` or the default rule."""
    if args.capacity:
        if len(args.capacity) not in (1, num_experts):
            raise ValueError(f'--capacity takes 1 value or one per expert ({num_experts}), got '
                             f'{len(args.capacity)}.')
        return np.broadcast_to(np.asarray(args.capacity, float), (num_experts, )).copy()
    cap = args.capacity_factor * demand.sum() / num_experts
    # Integral mappings need room for the largest unit.
    cap = max(cap, float(demand.max()))
    return np.full(num_experts, float(math.ceil(cap)))


def build_inputs(args) -> Tuple[AffinityMatrix, List[PlanningUnit], np.ndarray]:
    """Affinity, planning units and per-unit demand from the arguments."""
    if args.affinity:
        affinity = load_affinity(args.affinity)
        explicit = (parse_demand_values(args.demand_values, affinity.unit_names)
                    if args.demand_values else None)
        if args.num_experts is not None and args.num_experts != affinity.num_experts:
            raise ValueError(f'--num-experts {args.num_experts} differs from the '
                             f'{affinity.num_experts} columns of {args.affinity}.')
        units = [PlanningUnit(n, n, ()) for n in affinity.unit_names]
        if explicit is None and args.demand == 'images':
            raise ValueError('--demand images needs --config (dataset sizes) or '
                             '--demand-values NAME=VALUE for every dataset.')
        per_dataset = explicit or {n: 1.0 for n in affinity.unit_names}
        return affinity, units, split_demand(units, per_dataset)
    from mmengine.config import Config

    from mmdet.utils import register_all_modules
    register_all_modules()
    import damex_mmdet  # noqa: F401  (registers MultiDataset)
    cfg = Config.fromfile(args.config)
    num_experts = args.num_experts if args.num_experts is not None else \
        config_num_experts(cfg)
    if num_experts is None or int(num_experts) < 1:
        raise ValueError(f'{args.config}: model.moe_cfg.num_experts is {num_experts!r}; use an '
                         'MoE config (e.g. configs/gem/...) or pass --num-experts (>= 1).')
    if args.images_per_dataset < 1:
        raise ValueError(f'--images-per-dataset must be >= 1, got {args.images_per_dataset}.')
    affinity, measured = affinity_from_checkpoint(
        cfg, int(num_experts), args.checkpoint, device=args.device,
        images_per_dataset=args.images_per_dataset, seed=args.seed, config_name=args.config)
    units, sizes = measured.units, measured.sizes
    classes, freq = measured.classes, measured.class_freq
    if args.demand_values:
        per_dataset = parse_demand_values(args.demand_values, sizes)
    elif args.demand == 'images':
        per_dataset = {k: float(v) for k, v in sizes.items()}
    else:
        # Count mode: each unit costs 1, split datasets included.
        return affinity, units, np.ones(len(units))
    return affinity, units, split_demand(units, per_dataset, freq, classes)


def config_num_experts(cfg) -> Optional[int]:
    """``model.moe_cfg.num_experts`` of a config (or a top-level ``num_experts``)."""
    moe_cfg = cfg.get('model', {}).get('moe_cfg') or {}
    value = moe_cfg.get('num_experts', cfg.get('num_experts'))
    return None if value is None else int(value)


def main(argv=None):
    args = parse_args(argv)
    base = args.base_config or args.config
    if args.write_config and not base:
        raise SystemExit('--write-config needs the config to inherit: give --base-config '
                         '(with --affinity) or --config.')
    if args.write_config and not args.write_config.endswith('.py'):
        raise SystemExit(f'--write-config {args.write_config}: a config file ends with .py.')
    affinity, units, demand = build_inputs(args)
    capacity = resolve_capacity(args, affinity.num_experts, demand)
    mapping = plan_expert_mapping(affinity, capacity, demand, args.min_share, units,
                                  refine_fixed=args.refine_fixed, compiler=args.compiler,
                                  time_limit=args.time_limit)
    os.makedirs(args.out_dir, exist_ok=True)
    save_mapping(mapping, osp.join(args.out_dir, 'expert_map.json'))
    snippet = render_config_snippet(mapping)
    with open(osp.join(args.out_dir, 'expert_map_snippet.py'), 'w', encoding='utf-8') as f:
        f.write(snippet)
    plot_expert_mapping(mapping, osp.join(args.out_dir, 'plan.png'))
    print(snippet, end='')
    if args.write_config:
        out = args.write_config
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        with open(out, 'w', encoding='utf-8') as f:
            f.write(render_child_config(mapping, base, osp.dirname(osp.abspath(out))))
        print(f'wrote {out} (inherits {base}); train it: python tools/train.py {out}')
    loads = mapping.loads
    for e in range(mapping.num_experts):
        print(f'expert {e}: load {loads[e]:.6g} / capacity {capacity[e]:.6g}')
    rel = mapping.gap / max(abs(mapping.lp_bound), 1e-12)
    print(f'LP bound {mapping.lp_bound:.6g}, mapping value {mapping.value:.6g}, gap '
          f'{mapping.gap:.4g} ({100 * rel:.2f}% of the bound; {mapping.compiler} compiler, '
          f"{'proven optimal' if mapping.optimal else 'not proven optimal'}); outputs in "
          f'{args.out_dir}')
    return mapping


if __name__ == '__main__':
    main()
