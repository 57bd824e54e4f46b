"""Do two variants compute the same detector? Train each a few iterations, compare losses.

Trains every variant of the comparison (``damex_mmdet.experiments``: the
named variants, or ``--variant NAME=CONFIG KEY=VALUE ...``) for
``--iters`` iterations from the matched start of one seed, records each
iteration's losses at full precision (``LossTraceHook``) and reports, per
variant, how many iterations were bit-identical to the baseline and when the
difference first exceeded 1e-4, 1e-2 and 0.1::

    python tools/analysis/loss_divergence.py --variants dense dense-jitter damex-1expert \\
        --iters 40 [--seed 0] [--baseline dense] [--work-dir work_dirs/divergence]

A variant that computes the baseline's detector (e.g. DAMEX with one expert)
stays bit-identical until a last-bit rounding difference appears and then
diverges as fast as ``dense-jitter`` (the baseline with its learning rate
times 1 + 1e-6, a perturbation that changes nothing but rounding); a
variant that computes something else differs from iteration 1. Writes
``divergence.{md,csv,json,png}`` under ``--work-dir``; finished traces with
an unchanged config are reused.
"""
import argparse
import hashlib
import os.path as osp
import time

from mmengine.config import DictAction

from damex_mmdet.experiments import (DEFAULT_DATA_ROOT, VARIANTS, ComparisonSettings,
                                     build_config, custom_variants)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--variants', nargs='+', default=['dense', 'dense-jitter',
                                                          'damex-1expert'],
                        help='named variants (damex_mmdet/experiments/variants.py) '
                        '(default: dense dense-jitter damex-1expert)')
    parser.add_argument('--variant', nargs='+', action='append', default=[],
                        metavar='NAME=CONFIG [KEY=VALUE]',
                        help='a variant of your own, as in run_default_benchmark.py')
    parser.add_argument('--baseline', default='dense')
    parser.add_argument('--iters', type=int, default=40, help='iterations per run (default 40)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work-dir', default='work_dirs/divergence')
    parser.add_argument('--data-root', default=None,
                        help='the benchmark data (default: the comparison tool\'s default, '
                        'generated if missing)')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch threads (0: torch\'s default)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys of every variant')
    return parser.parse_args(argv)


def trace_config(name, variant, args):
    """The comparison's config of (variant, seed), shortened, with the trace hook."""
    if variant.starts_from is not None:
        raise SystemExit(f'variant {name!r} continues from another run\'s checkpoint; trace '
                         'variants that start from the matched initialisation.')
    settings = ComparisonSettings(cfg_options=args.cfg_options, work_dir=args.work_dir,
                                  data_root=args.data_root, max_iters=args.iters)
    cfg = build_config(name, variant, args.seed, settings)
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None  # training only
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='LossTraceHook')]
    return cfg


def trace_one(cfg, log):
    """Train ``cfg`` (in this process) and return its per-iteration total losses."""
    from mmengine.runner import Runner

    import damex_mmdet  # noqa: F401  (registers modules)
    from damex_mmdet.engine import load_loss_trace
    path = osp.join(cfg.work_dir, 'loss_trace.json')
    stamp = osp.join(cfg.work_dir, 'trace_config.sha256')
    key = hashlib.sha256(cfg.pretty_text.encode()).hexdigest()
    if osp.exists(path) and osp.exists(stamp):
        with open(stamp) as f:
            if f.read() == key:
                log(f'{cfg.work_dir}: reusing the finished trace')
                return load_loss_trace(path)['loss']
    start = time.time()
    Runner.from_cfg(cfg).train()
    with open(stamp, 'w') as f:
        f.write(key)
    log(f'{cfg.work_dir}: {cfg.train_cfg.max_iters} iterations in {time.time() - start:.0f} s')
    return load_loss_trace(path)['loss']


def main(argv=None):
    args = parse_args(argv)
    from damex_mmdet.analysis import write_divergence_report
    from damex_mmdet.datasets.synthetic import generate_default_benchmark
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    variants = dict(VARIANTS)
    try:
        variants.update(custom_variants(args.variant))
    except ValueError as error:
        raise SystemExit(str(error))
    chosen = list(dict.fromkeys([args.baseline] + args.variants +
                                [spec[0].partition('=')[0] for spec in args.variant]))
    unknown = [v for v in chosen if v not in variants]
    if unknown:
        raise SystemExit(f'unknown variants {unknown}; named ones: {sorted(VARIANTS)} '
                         '(or add --variant NAME=CONFIG ...).')
    if args.data_root is None:
        args.data_root = DEFAULT_DATA_ROOT
        generate_default_benchmark(args.data_root)  # seconds; skipped when already there
    elif not osp.isdir(args.data_root):
        raise SystemExit(f'--data-root {args.data_root}: no such folder.')
    traces = {}
    for i, name in enumerate(chosen):
        print(f'[divergence] {i + 1}/{len(chosen)}: {name}, seed {args.seed}, {args.iters} '
              'iterations', flush=True)
        traces[name] = trace_one(trace_config(name, variants[name], args),
                                 lambda msg: print(f'[divergence] {msg}', flush=True))
    title = (f'Loss divergence from {args.baseline}, seed {args.seed}, {args.iters} '
             'iterations')
    paths = write_divergence_report(traces, args.baseline, args.work_dir, title=title)
    print(open(paths['md']).read())
    print(f"[divergence] {', '.join(paths.values())}")


if __name__ == '__main__':
    main()
