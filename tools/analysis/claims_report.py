"""The papers' claims judged on finished runs (docs/results/benchmark_v2/PLAN.md).

    python tools/analysis/claims_report.py --work-dir work_dirs/benchmark_v2 --seeds 0 1 2 \\
        --out-dir docs/results/benchmark_v2

Reads ``<work-dir>/<variant>/seed<s>/summary.json`` of the variants the claims
name and writes ``claims.md``, ``claims.json`` and ``claims.png`` to
``--out-dir``: per claim the paired difference of mean AP with its 95%
interval, whether it excludes 0, the smallest detectable difference and the
verdict (supported, contradicted, not resolvable here).
"""
import argparse
import json
import os
import os.path as osp
import sys

from damex_mmdet.analysis.plots import plot_claims
from damex_mmdet.experiments.claims import V2_CLAIMS, claims_report
from damex_mmdet.experiments.runs import load_summaries


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', required=True, help="the comparison tool's --work-dir")
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--out-dir', required=True)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    variants = sorted({v for c in V2_CLAIMS for v in (c.variant, c.reference)})
    summaries = load_summaries(args.work_dir, variants, args.seeds)
    if not summaries:
        raise SystemExit(f'claims_report.py: no finished run of {variants} under '
                         f'{args.work_dir!r} (seeds {args.seeds}): run the comparison first.')
    out = claims_report(summaries, V2_CLAIMS)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'claims.md'), 'w') as f:
        f.write(out['markdown'])
    with open(osp.join(args.out_dir, 'claims.json'), 'w') as f:
        json.dump(dict(seeds=args.seeds, **out['data']), f, indent=2)
    plot_claims(out['data'], osp.join(args.out_dir, 'claims.png'))
    print(out['markdown'])
    print(f'written to {args.out_dir}/claims.{{md,json,png}}')


if __name__ == '__main__':
    main(sys.argv[1:])
