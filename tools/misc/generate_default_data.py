"""Generate the synthetic multi-domain benchmark used by the default configs.

Example (from the repository root, where ``configs/_base_/datasets/
damex_default.py`` expects the data)::

    python tools/misc/generate_default_data.py            # data/damex_default
    python tools/misc/generate_default_data.py /tmp/bench --seed 1 --force
    python tools/misc/generate_default_data.py --version 2   # data/damex_default_v2

A second run with the same seed and scale returns at once.
"""
import argparse
import os.path as osp

from damex_mmdet.datasets.synthetic import (BENCHMARKS, DEFAULT_BENCHMARK, DEFAULT_ROOTS,
                                            generate_default_benchmark)

__all__ = ['parse_args', 'main']


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description='Write the synthetic DAMEX benchmark ('
        f'{", ".join(DEFAULT_BENCHMARK)}) as COCO json + PNG images.')
    parser.add_argument(
        'root', nargs='?', default=None,
        help=f'output folder (default: {DEFAULT_ROOTS[1]} for version 1, {DEFAULT_ROOTS[2]} '
        'for version 2, under the current directory: where the configs look)')
    parser.add_argument('--version', type=int, choices=sorted(BENCHMARKS), default=1,
                        help='benchmark version (default 1; 2: co-occurring unannotated '
                        'objects, two annotation policies, clutter)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument(
        '--scale', type=float, default=1.0,
        help='multiply every split\'s image count, e.g. 0.1 for a quick copy (default: 1.0)')
    parser.add_argument(
        '--force', action='store_true',
        help='regenerate even if the folder holds another seed/scale or foreign files')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Generate the benchmark and print one line per dataset."""
    args = parse_args(argv)
    root = args.root or DEFAULT_ROOTS[args.version]
    meta = generate_default_benchmark(root, seed=args.seed, scale=args.scale,
                                      force=args.force, version=args.version)
    print(f'\n{"dataset":<12}{"style":<12}{"train":>7}{"test":>6}  classes')
    for name, info in meta.items():
        print(f'{name:<12}{info["style"]:<12}{info["num_train"]:>7}{info["num_test"]:>6}  '
              f'{", ".join(info["classes"])}')
    print(f'data ready under {osp.abspath(root)}')
    return meta


if __name__ == '__main__':
    main()
