"""Plan a dataset -> expert map with GEM (LP relaxation + hierarchical rounding).

    python tools/plan_experts.py --affinity prior.csv --capacity 2 --out-dir work_dirs/gem
    python tools/plan_experts.py --config CONFIG --checkpoint CKPT --out-dir work_dirs/gem \\
        [--write-config work_dirs/gem/gem.py]     # then: python tools/train.py work_dirs/gem/gem.py

Writes ``expert_map.json``, ``expert_map_snippet.py`` and ``plan.png``
(affinity | plan | mapping) and prints the map with its LP bound and gap
(docs/gem_planning.md). With more experts than datasets, ``--config`` splits
datasets into class groups.
"""
import argparse

from damex_mmdet.analysis.expert_planning import planning_inputs, write_plan
from damex_mmdet.planning import capacity_vector, plan_expert_mapping


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--affinity', help='CSV/JSON affinity table (rows: datasets, columns: '
                     'experts); see damex_mmdet.planning.affinity_io for the layouts')
    src.add_argument('--config', help='config whose model.backbone and train_dataloader.dataset '
                     '(a MultiDataset) give the affinities')
    parser.add_argument('--checkpoint', help='detector or backbone checkpoint for --config; '
                        'without it the backbone is randomly initialised')
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
                        'of training images')
    parser.add_argument('--demand-values', nargs='+', metavar='NAME=VALUE',
                        help='explicit demand per dataset (overrides --demand)')
    parser.add_argument('--capacity', type=float, nargs='+',
                        help='capacity of every expert (one value) or of each (E values), in '
                        'the unit of the demand; default: ceil(factor * total demand / E)')
    parser.add_argument('--capacity-factor', type=float, default=1.25,
                        help='slack of the default capacity (default 1.25)')
    parser.add_argument('--min-share', type=float, help='least LP share of every dataset on '
                        'its highest-affinity expert (pins it there in the mapping)')
    parser.add_argument('--compiler', choices=('exact', 'rounding'), default='exact',
                        help="'exact' (default): the optimal integral mapping; 'rounding': the "
                        "paper's hierarchical rounding alone")
    parser.add_argument('--time-limit', type=float, default=10.0,
                        help='seconds for the exact MILP (default 10)')
    parser.add_argument('--refine-fixed', action='store_true',
                        help='rounding compiler: also move LP-integral datasets')
    parser.add_argument('--seed', type=int, default=0, help='seed of sampling and centroids')
    parser.add_argument('--device', default='cpu', help='device of the backbone (--config)')
    parser.add_argument('--out-dir', required=True, help='output directory')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    base = args.base_config or args.config
    if args.write_config and not base:
        raise SystemExit('--write-config needs the config to inherit: give --base-config '
                         '(with --affinity) or --config.')
    if args.write_config and not args.write_config.endswith('.py'):
        raise SystemExit(f'--write-config {args.write_config}: a config file ends with .py.')
    affinity, units, demand = planning_inputs(
        args.affinity, args.config, args.num_experts, args.checkpoint, args.demand,
        args.demand_values, args.images_per_dataset, args.seed, args.device)
    capacity = capacity_vector(args.capacity, affinity.num_experts, demand, args.capacity_factor)
    mapping = plan_expert_mapping(affinity, capacity, demand, args.min_share, units,
                                  refine_fixed=args.refine_fixed, compiler=args.compiler,
                                  time_limit=args.time_limit)
    print(write_plan(mapping, args.out_dir, args.write_config, base), end='')
    if args.write_config:
        print(f'wrote {args.write_config} (inherits {base}); train it: python tools/train.py '
              f'{args.write_config}')
    for e in range(mapping.num_experts):
        print(f'expert {e}: load {mapping.loads[e]:.6g} / capacity {capacity[e]:.6g}')
    rel = mapping.gap / max(abs(mapping.lp_bound), 1e-12)
    print(f'LP bound {mapping.lp_bound:.6g}, mapping value {mapping.value:.6g}, gap '
          f'{mapping.gap:.4g} ({100 * rel:.2f}% of the bound; {mapping.compiler} compiler, '
          f"{'proven optimal' if mapping.optimal else 'not proven optimal'}); outputs in "
          f'{args.out_dir}')
    return mapping


if __name__ == '__main__':
    main()
