"""Write (or check) the UODB dataset and mixture configs rendered from the spec.

The per-dataset files, ``uodb_datasets.py`` and the paper's mixtures under
``configs/_base_/datasets/uodb/`` are generated from
``damex_mmdet/datasets/uodb.py`` (see ``damex_mmdet/datasets/uodb_configs.py``)::

    python tools/misc/generate_uodb_configs.py           # rewrite them
    python tools/misc/generate_uodb_configs.py --check   # exit 1 if one is stale
"""
import argparse
import os.path as osp
import sys

from damex_mmdet.datasets.uodb_configs import stale_uodb_configs, write_uodb_configs

CONFIG_DIR = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'configs', '_base_',
                      'datasets', 'uodb')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config-dir', default=osp.normpath(CONFIG_DIR),
                        help='where the configs live (default: the repository\'s)')
    parser.add_argument('--check', action='store_true',
                        help='write nothing; exit 1 and name the files that differ')
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_uodb_configs(args.config_dir)
        for path in stale:
            print(f'stale: {path} (run tools/misc/generate_uodb_configs.py)')
        return 1 if stale else 0
    for path in write_uodb_configs(args.config_dir):
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
