"""Resuming a run: time to the first training step, replay vs skip; cost of exact-resume training.

Part 1 - time from ``tools/train.py --resume`` to the first training step,
``resume_data='replay'`` (load every trained batch again, mmengine's way) vs
``'skip'`` (move the sampler, load nothing), at iteration 10 and 5,000 of the
shipped tiny DAMEX config with per-sample seeds (2 data workers, batch 4, as
shipped). The start checkpoint is a 2-iteration run's, relabelled as
iteration N (what the first step costs does not depend on the weights); the
process is killed at the first step (``KillAtHook``), so the figure is pure
start-up. Runs are interleaved.

Part 2 - seconds per training iteration of the same config (without
per-sample seeds, as shipped) with mmengine's ``IterBasedTrainLoop`` +
``CheckpointHook`` vs ``ResumableIterBasedTrainLoop`` +
``ResumableCheckpointHook`` (and the latter with per-sample seeds), a
checkpoint every ``--ckpt-interval`` iterations in all, interleaved runs of
``--iters`` iterations.

    python tools/benchmarks/bench_resume.py [--resume-at 10 5000] [--repeats 2]
        [--iters 30] [--ckpt-interval 10]
"""
import argparse
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from mmengine.config import Config

from damex_mmdet.datasets.synthetic import generate_default_benchmark

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'damex', 'damex-dino-tiny_r18_1xb4-600i_damex-default.py')
TRAIN = osp.join(REPO, 'tools', 'train.py')


def make_config(tmp, name, data_root, max_iters, **train_cfg):
    cfg = Config.fromfile(CONFIG)
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        for dataset_name, dataset in loader.dataset.datasets.items():
            dataset.data_root = osp.join(data_root, dataset_name) + '/'
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_dataloader.sampler.per_sample_seeds = True
    cfg.train_cfg.update(max_iters=max_iters, **train_cfg)
    cfg.randomness = dict(seed=0)
    cfg.work_dir = osp.join(tmp, name)
    cfg.custom_imports = dict(imports=['damex_mmdet', 'damex_mmdet.testing.faults'],
                              allow_failed_imports=False)
    path = osp.join(tmp, f'{name}.py')
    cfg.dump(path)
    return cfg, path


def train(config, *args):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, TRAIN, config, *args], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc.returncode, time.perf_counter() - start, proc.stdout


def relabel(checkpoint, out, iteration):
    """The checkpoint as if written at ``iteration`` (the loop resumes from meta['iter'])."""
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)
    state['meta']['iter'] = iteration
    torch.save(state, out)


def time_to_first_step(tmp, data_root, start_ckpt, iteration, mode):
    cfg, path = make_config(tmp, f'resume-{mode}-{iteration}', data_root, iteration + 10,
                            resume_data=mode)
    cfg.custom_hooks.append(dict(type='KillAtHook', iteration=iteration, phase='before_step'))
    cfg.dump(path)
    os.makedirs(cfg.work_dir, exist_ok=True)
    ckpt = osp.join(cfg.work_dir, f'iter_{iteration}.pth')
    relabel(start_ckpt, ckpt, iteration)
    code, seconds, log = train(path, '--resume', ckpt)
    if code != -9:
        raise RuntimeError(f'{mode} at {iteration}: exit {code}, expected the kill\n{log[-3000:]}')
    return seconds


STEP_VARIANTS = {
    'IterBasedTrainLoop + CheckpointHook (mmengine)': ('IterBasedTrainLoop', 'CheckpointHook',
                                                       False),
    'ResumableIterBasedTrainLoop + ResumableCheckpointHook': (
        'ResumableIterBasedTrainLoop', 'ResumableCheckpointHook', False),
    'the same + per-sample seeds': ('ResumableIterBasedTrainLoop', 'ResumableCheckpointHook',
                                    True),
}


def time_per_iteration(tmp, data_root, variant, iters, interval):
    loop, hook, per_sample_seeds = STEP_VARIANTS[variant]
    name = f'steps-{loop}-{per_sample_seeds}'
    cfg, path = make_config(tmp, name, data_root, iters)
    cfg.train_cfg.type = loop
    cfg.train_dataloader.sampler.per_sample_seeds = per_sample_seeds
    cfg.default_hooks.checkpoint.type = hook
    cfg.default_hooks.checkpoint.interval = interval
    cfg.default_hooks.logger.interval = 1
    cfg.dump(path)
    code, _, log = train(path)
    if code != 0:
        raise RuntimeError(f'{variant}: exit {code}\n{log[-3000:]}')
    # mmengine's logger: "time: X" per iteration; drop the first two (warm-up)
    times = [float(line.split('  time: ')[1].split()[0]) for line in log.splitlines()
             if '  time: ' in line and 'Iter(train)' in line]
    return statistics.median(times[2:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--resume-at', type=int, nargs='+', default=[10, 5000])
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--iters', type=int, default=30)
    parser.add_argument('--ckpt-interval', type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_root = osp.join(tmp, 'data')
        generate_default_benchmark(data_root, progress=False)
        _, path = make_config(tmp, 'start', data_root, 2)
        code, _, log = train(path)
        if code != 0:
            raise RuntimeError(log[-3000:])
        start_ckpt = osp.join(tmp, 'start', 'iter_2.pth')

        print('| resume at iteration | replay: s to first step | skip: s to first step | '
              'replay / skip |')
        print('|---|---|---|---|')
        for iteration in args.resume_at:
            seconds = {'replay': [], 'skip': []}
            for _ in range(args.repeats):
                for mode in seconds:
                    seconds[mode].append(time_to_first_step(tmp, data_root, start_ckpt,
                                                            iteration, mode))
            replay, skip = (statistics.median(seconds[m]) for m in ('replay', 'skip'))
            print(f'| {iteration} | {replay:.1f} | {skip:.1f} | {replay / skip:.2f} |',
                  flush=True)

        per_iter = {variant: [] for variant in STEP_VARIANTS}
        for _ in range(args.repeats):
            for variant in per_iter:
                per_iter[variant].append(time_per_iteration(tmp, data_root, variant,
                                                            args.iters, args.ckpt_interval))
        median = {variant: statistics.median(times) for variant, times in per_iter.items()}
        base = median[next(iter(STEP_VARIANTS))]
        print(f'\ns / iteration ({args.iters} iterations, checkpoint every '
              f'{args.ckpt_interval}, median of {args.repeats} runs each):')
        print('| loop + checkpoint hook | s / iteration | ratio to mmengine |')
        print('|---|---|---|')
        for variant, seconds in median.items():
            print(f'| {variant} | {seconds:.3f} | {seconds / base:.3f} |')


if __name__ == '__main__':
    main()
