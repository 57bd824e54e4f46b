"""The main job and the multi-seed method comparison on the built-in benchmark.

Without options: generates the synthetic benchmark if missing (seconds, no
download), trains the tiny DAMEX-DINO config at seed 0, evaluates every
dataset on its own label slice, writes the per-dataset AP table, draws the
expert-utilization heatmaps, prints the router accuracy at inference and where
the result sits in the recorded multi-seed spread.

``--compare --seeds N`` trains dense DINO, vanilla MoE, DAMEX and GEM for seeds
0..N-1 from matched starts and reports mean ± std over seeds and the paired
difference to the dense baseline with a 95% interval. ``--variants`` picks
any named variant (``damex_mmdet/experiments/variants.py``), ``--variant
NAME=CONFIG [KEY=VALUE ...]`` adds one of your own, trained on the data its
config names. Runs are resumable (docs/comparing.md).

    python tools/run_default_benchmark.py [--compare] [--seeds 3] [--jobs 2]
        [--variants dense damex ...] [--variant mine=configs/x.py model.moe_cfg.num_experts=8]
"""
import argparse

from mmengine.config import DictAction

from damex_mmdet.datasets.synthetic import DEFAULT_ROOTS

from damex_mmdet.experiments import (COMPARE, DEFAULT_DATA_ROOT, VARIANTS, ComparisonSettings,
                                     custom_variants, run_comparison)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--compare', action='store_true',
                        help=f'train {", ".join(COMPARE)} (default without it: damex)')
    parser.add_argument('--variants', nargs='+', choices=sorted(VARIANTS), default=None,
                        help='named variants to train (damex_mmdet/experiments/variants.py)')
    parser.add_argument('--variant', nargs='+', action='append', default=[],
                        metavar='NAME=CONFIG [KEY=VALUE]',
                        help='a variant of your own: a config (path, or relative to the '
                        'package configs) and cfg options of it, on its own data; repeatable')
    parser.add_argument('--seeds', type=int, default=1, help='seeds 0..N-1 (default 1)')
    parser.add_argument('--seed-list', type=int, nargs='+', default=None,
                        help='explicit seeds (instead of --seeds)')
    parser.add_argument('--baseline', default='dense',
                        help='variant the paired differences are taken to (default dense)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs in parallel; torch threads are split between them')
    parser.add_argument('--work-dir', default='work_dirs/default_benchmark')
    parser.add_argument('--benchmark-version', type=int, choices=sorted(DEFAULT_ROOTS),
                        default=1, help='built-in benchmark version (default 1, every recorded '
                        'result; 2: unannotated co-occurring objects, two annotation policies, '
                        'clutter)')
    parser.add_argument('--data-root', default=None,
                        help='where the synthetic benchmark is for the named variants '
                        f'(generated if missing; default {DEFAULT_DATA_ROOT}, v2: '
                        f'{DEFAULT_ROOTS[2]}); your own variants keep their data roots')
    parser.add_argument('--max-iters', type=int, default=None,
                        help='override the schedule length of every variant (iterations)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys of every variant, as in tools/train.py')
    parser.add_argument('--target-diff', type=float, default=2.0,
                        help='mean AP difference (x 100) to plan seeds for (default 2.0, '
                        'DAMEX minus dense DINO on UODB in the paper)')
    parser.add_argument('--checkpoint-interval', type=int, default=300,
                        help='checkpoint every N iterations (the last one kept): an '
                        'interrupted run resumes from it, bit for bit (default 300; one save '
                        'of a tiny config costs ~11 s on 2 CPU cores)')
    parser.add_argument('--archive', default=None, metavar='DIR',
                        help="copy each finished run's summary, config and routing tables to "
                        'DIR/<variant>/seed<k>/ as soon as it finishes (a folder git can keep; '
                        'see tools/misc/archive_runs.py)')
    parser.add_argument('--report-only', action='store_true',
                        help='train nothing: report the finished runs (e.g. while others run)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        own = custom_variants(args.variant)
    except ValueError as error:
        raise SystemExit(str(error))
    chosen = args.variants or (COMPARE if args.compare else [])
    chosen = list(dict.fromkeys(chosen + list(own) or ['damex']))
    variants = {name: own.get(name) or VARIANTS[name] for name in chosen}
    settings = ComparisonSettings(
        work_dir=args.work_dir, data_root=args.data_root or DEFAULT_ROOTS[args.benchmark_version],
        benchmark_version=args.benchmark_version, max_iters=args.max_iters,
        cfg_options=args.cfg_options, checkpoint_interval=args.checkpoint_interval,
        jobs=args.jobs, report_only=args.report_only, archive_dir=args.archive)
    try:
        run_comparison(settings, variants, args.seed_list or list(range(args.seeds)),
                       args.baseline, args.target_diff, log=lambda msg: print(msg, flush=True))
    except (ValueError, RuntimeError) as error:
        raise SystemExit(str(error))


if __name__ == '__main__':
    main()
