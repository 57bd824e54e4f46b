"""Tables and figure of adding a dataset (docs/results/add_dataset/PLAN.md).

    python tools/analysis/addition_report.py --work-dir docs/results/add_dataset/runs \\
        --dataset kitchen --joint-results docs/results/map_fit/results.json \\
        --joint-iters 1800 --seeds 0 1 2 --out-dir docs/results/add_dataset/kitchen

Reads the finished runs of the arms of ``--dataset`` (``damex-no-L``,
``dense-no-L``, ``add-L-...``; a work dir or its archive, see
``tools/misc/archive_runs.py``) and of the joint reference (its runs with
``--joint-dir``, or a committed report's per-seed metrics with
``--joint-results``), and writes
``results.md``, ``results.json`` and ``results.png`` to ``--out-dir``.
"""
import argparse
import json
import os
import os.path as osp
import sys

from damex_mmdet.analysis.plots import plot_addition
from damex_mmdet.experiments.addition_report import addition_report
from damex_mmdet.experiments.archive import summaries_from_results
from damex_mmdet.experiments.runs import load_summaries
from damex_mmdet.experiments.variants import VARIANTS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', required=True, help="the comparison tool's --work-dir")
    parser.add_argument('--dataset', required=True, help='the added dataset')
    parser.add_argument('--joint-dir', default=None,
                        help='folder of the joint reference runs (<dir>/seed<s>/summary.json)')
    parser.add_argument('--joint-results', default=None,
                        help="or a report's results.json holding the joint reference's per-seed "
                        'metrics')
    parser.add_argument('--joint-variant', default='damex',
                        help='the joint reference in --joint-results (default: damex)')
    parser.add_argument('--joint-iters', type=int, default=None,
                        help="the joint reference's training iterations, for the compute "
                        'target (default: read from its run summaries; a results.json does '
                        'not record them)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--out-dir', required=True)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.joint_iters is not None and args.joint_iters < 1:
        raise SystemExit(f'addition_report.py: --joint-iters {args.joint_iters}: give the '
                         "joint reference's training iterations, a positive number.")
    arms = [name for name in VARIANTS if name.endswith(f'-no-{args.dataset}') or
            name.startswith(f'add-{args.dataset}-')]
    summaries = load_summaries(args.work_dir, arms, args.seeds)
    joint = None
    if args.joint_dir and args.joint_results:
        raise SystemExit('addition_report.py: give --joint-dir or --joint-results, not both.')
    if args.joint_results:
        try:
            joint = {seed: summary for seed, summary in
                     summaries_from_results(args.joint_results, args.joint_variant).items()
                     if seed in args.seeds}
        except (OSError, ValueError) as err:
            raise SystemExit(f'addition_report.py: {err}') from None
    if args.joint_dir:
        joint = load_summaries(osp.dirname(args.joint_dir), [osp.basename(args.joint_dir)],
                               args.seeds).get(osp.basename(args.joint_dir))
    dirs = {arm: {s: osp.join(args.work_dir, arm, f'seed{s}') for s in args.seeds}
            for arm in arms}
    try:
        out = addition_report(summaries, args.dataset, joint, dirs, args.joint_iters)
    except ValueError as err:
        raise SystemExit(f'addition_report.py: {err}') from None
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'results.md'), 'w') as f:
        f.write(out['markdown'])
    with open(osp.join(args.out_dir, 'results.json'), 'w') as f:
        json.dump(out['data'], f, indent=2)
    plot_addition(out['data'], osp.join(args.out_dir, 'results.png'))
    print(out['markdown'])
    print(f'written to {args.out_dir}/results.{{md,json,png}}')


if __name__ == '__main__':
    main(sys.argv[1:])
