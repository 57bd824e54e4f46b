"""Keep the record of finished runs (not their checkpoints) in a folder git can track.

    python tools/misc/archive_runs.py work_dirs/add_dataset docs/results/add_dataset/runs

Copies ``summary.json``, ``run_config.py``, the fingerprint and the routing tables
of every finished ``<variant>/seed<k>`` run into the same layout under the
destination, so the reports read the archive with ``--work-dir`` after the work
dir (and its checkpoints) is gone. Stops, copying nothing, when the destination
holds another run of a (variant, seed).
"""
import argparse
import sys

from damex_mmdet.experiments.archive import archive_runs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dir', help="the comparison tool's --work-dir")
    parser.add_argument('dest', help='the archive folder (same <variant>/seed<k> layout)')
    parser.add_argument('--variants', nargs='+', default=None, help='only these variants')
    parser.add_argument('--seeds', type=int, nargs='+', default=None, help='only these seeds')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        archived = archive_runs(args.work_dir, args.dest, args.variants, args.seeds)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f'archive_runs.py: {err}') from None
    for target in archived:
        print(f'archived {target}')
    if not archived:
        raise SystemExit(f'archive_runs.py: no finished run (summary.json with a fingerprint) '
                         f'under {args.work_dir}.')
    print(f'{len(archived)} run(s) archived in {args.dest}')


if __name__ == '__main__':
    main(sys.argv[1:])
