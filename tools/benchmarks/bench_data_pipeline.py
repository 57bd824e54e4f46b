"""Benchmark the multi-dataset data layer against a plain CocoDataset.

Both loaders read the *same* images with the *same* pipeline
(LoadImageFromFile, LoadAnnotations, RandomFlip, Resize, PackDetInputs) and
the same ``AspectRatioBatchSampler``:

- ``plain``: one ``CocoDataset`` over all images + mmengine's
  ``DefaultSampler``;
- ``multi``: a ``MultiDataset`` of two ``CocoDataset`` halves of the same
  file (``indices``) + ``MultiDatasetSampler`` (natural mode).

Images are written once with :func:`damex_mmdet.testing.make_coco_fixture`
into a temporary folder. After a warm-up epoch, the two loaders run
``--repeats`` epochs each, alternating batch by batch with ``--workers 0`` (so
that both see the same machine load) and epoch by epoch otherwise; the table
shows the median samples/s of each, by wall clock and by this process's CPU
time (all the work when ``--workers 0``), and the ratio multi / plain (target
>= 0.95; with workers, judge the wall-clock ratio). A second table times
``get_data_info`` alone, where the stamping overhead is not hidden by image
decoding. Build times include MultiDataset's category check (a second read of
the annotation file).

Usage::

    python tools/benchmarks/bench_data_pipeline.py [--num-images 200] \\
        [--repeats 5] [--workers 0] [--batch-size 4]
"""
import argparse
import statistics
import tempfile
import time

from mmengine.runner import Runner
from mmdet.utils import register_all_modules

import damex_mmdet  # noqa: F401  (registers the modules)
from damex_mmdet.testing import make_coco_fixture

TARGET_RATIO = 0.95
META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
             'flip', 'flip_direction', 'dataset_name')
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=(640, 480), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=META_KEYS),
]


def parse_args():
    parser = argparse.ArgumentParser(
        description='MultiDataset + MultiDatasetSampler vs CocoDataset.')
    parser.add_argument('--num-images', type=int, default=200)
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed epochs per loader (median kept)')
    parser.add_argument('--workers', type=int, default=0,
                        help='dataloader workers (0: main process)')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--image-size', type=int, nargs=2,
                        default=(320, 240), metavar=('W', 'H'))
    return parser.parse_args()


def loader_cfgs(fixture, num_images, args):
    """Dataloader configs of the two variants."""
    common = dict(batch_size=args.batch_size, num_workers=args.workers,
                  persistent_workers=args.workers > 0,
                  batch_sampler=dict(type='AspectRatioBatchSampler'))
    half = num_images // 2
    plain = dict(common, sampler=dict(type='DefaultSampler', seed=0),
                 dataset=fixture.dataset_cfg(PIPELINE))
    multi = dict(
        common,
        sampler=dict(type='MultiDatasetSampler', mode='natural', seed=0),
        dataset=dict(
            type='MultiDataset', pipeline=PIPELINE,
            datasets=dict(
                first=fixture.dataset_cfg(indices=list(range(half))),
                second=fixture.dataset_cfg(
                    indices=list(range(half, num_images))))))
    return dict(plain=plain, multi=multi)


def time_epochs(loaders, reverse=False, interleave=True):
    """One epoch of every loader.

    With ``interleave`` the loaders alternate batch by batch, so both see
    the same machine load (which matters on a shared machine); use it only
    with ``num_workers=0``, as background workers would keep prefetching for
    the loader that is not being timed. Otherwise the epochs run one after
    the other. ``reverse`` swaps who goes first.

    Returns:
        dict[str, tuple[float, float, int]]: Per loader: wall seconds, CPU
        seconds of this process (all the work when ``num_workers=0``) and
        samples.
    """
    names = list(loaders)[::-1] if reverse else list(loaders)
    totals = {name: [0.0, 0.0, 0] for name in loaders}
    groups = [names] if interleave else [[name] for name in names]
    for group in groups:
        iterators = {name: iter(loaders[name]) for name in group}
        while iterators:
            for name in list(iterators):
                wall, cpu = time.perf_counter(), time.process_time()
                try:
                    batch = next(iterators[name])
                except StopIteration:
                    del iterators[name]
                    continue
                totals[name][0] += time.perf_counter() - wall
                totals[name][1] += time.process_time() - cpu
                totals[name][2] += len(batch['data_samples'])
    return {name: tuple(values) for name, values in totals.items()}


def time_data_info(datasets, passes=20):
    """Calls of ``get_data_info`` per second, datasets alternating per pass.

    Args:
        datasets (dict[str, Dataset]): Datasets to time.
        passes (int): Passes over each dataset.

    Returns:
        dict[str, float]: Calls per second of each dataset.
    """
    seconds = {name: 0.0 for name in datasets}
    for _ in range(passes):
        for name, dataset in datasets.items():
            start = time.perf_counter()
            for idx in range(len(dataset)):
                dataset.get_data_info(idx)
            seconds[name] += time.perf_counter() - start
    return {
        name: passes * len(datasets[name]) / seconds[name]
        for name in datasets
    }


def print_table(title, header, rows):
    """Print a titled markdown table (header, then rows of cells)."""
    widths = [max(len(str(r[i])) for r in [header, *rows])
              for i in range(len(header))]
    print(f'\n{title}')
    for row in [header, ['-' * w for w in widths], *rows]:
        print('| ' + ' | '.join(str(c).ljust(w) for c, w in zip(row, widths))
              + ' |')


def main():
    args = parse_args()
    register_all_modules(init_default_scope=True)
    with tempfile.TemporaryDirectory() as root:
        width, height = args.image_size
        fixture = make_coco_fixture(
            root, ('car', 'person', 'dog'), num_images=args.num_images,
            boxes_per_image=(1, 6), image_sizes=((width, height),
                                                 (height, width)))
        loaders, build_s = {}, {}
        for name, cfg in loader_cfgs(fixture, args.num_images, args).items():
            start = time.perf_counter()
            loaders[name] = Runner.build_dataloader(cfg)
            build_s[name] = time.perf_counter() - start
        interleave = args.workers == 0
        time_epochs(loaders, interleave=interleave)  # warm-up: cache, workers
        wall = {name: [] for name in loaders}
        cpu = {name: [] for name in loaders}
        for repeat in range(args.repeats):
            for loader in loaders.values():
                loader.batch_sampler.sampler.set_epoch(repeat + 1)
            timings = time_epochs(loaders, reverse=repeat % 2 == 1,
                                  interleave=interleave)
            for name, (w, c, n) in timings.items():
                wall[name].append(n / w)
                cpu[name].append(n / c)
            print(f'epoch {repeat + 1}/{args.repeats}: ' + ', '.join(
                f'{n} {s[-1]:.1f} samples/s' for n, s in wall.items()))
        median = {n: statistics.median(s) for n, s in wall.items()}
        median_cpu = {n: statistics.median(s) for n, s in cpu.items()}
        info_speed = time_data_info(
            {name: loader.dataset for name, loader in loaders.items()})

    ratio = median['multi'] / median['plain']
    ratio_cpu = median_cpu['multi'] / median_cpu['plain']
    # with workers the main process's CPU time is not the pipeline's cost
    judged = ratio if args.workers else min(ratio, ratio_cpu)
    print_table(
        f'Data pipeline, {args.num_images} images {width}x{height}, batch '
        f'{args.batch_size}, {args.workers} workers, median of '
        f'{args.repeats} epochs',
        ['loader', 'build s', 'samples/s (wall)', 'samples/s (CPU)',
         'ratio wall', 'ratio CPU', 'target'],
        [['plain CocoDataset', f'{build_s["plain"]:.2f}',
          f'{median["plain"]:.1f}', f'{median_cpu["plain"]:.1f}', '1.000',
          '1.000', ''],
         ['MultiDataset+Sampler', f'{build_s["multi"]:.2f}',
          f'{median["multi"]:.1f}', f'{median_cpu["multi"]:.1f}',
          f'{ratio:.3f}', f'{ratio_cpu:.3f}', f'>= {TARGET_RATIO} ' +
          ('met' if judged >= TARGET_RATIO else 'MISSED')]])
    print_table(
        'get_data_info alone (calls/s, 20 alternating passes)',
        ['dataset', 'calls/s', 'ratio to plain'],
        [['plain CocoDataset', f'{info_speed["plain"]:.0f}', '1.000'],
         ['MultiDataset', f'{info_speed["multi"]:.0f}',
          f'{info_speed["multi"] / info_speed["plain"]:.3f}']])


if __name__ == '__main__':
    main()
