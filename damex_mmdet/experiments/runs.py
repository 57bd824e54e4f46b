"""Planning and executing the (variant, seed) runs of a comparison.

Every run is trained, tested and (MoE variants) analysed in a subprocess of
its own (``python -m damex_mmdet.experiments.runs RUN_CONFIG THREADS``), so
runs can go in parallel and a crash stays in its run. A run whose
``summary.json`` carries the fingerprint of its config is not trained again;
an interrupted one continues from its last checkpoint and ends bit for bit
where an uninterrupted run would. A run of another config found in a run's
folder is moved to ``superseded/<its fingerprint>/`` there, never deleted.
"""
import dataclasses
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from .leave_out import leave_dataset_out
from .variants import Variant

__all__ = ['ComparisonSettings', 'RunPlan', 'build_config', 'execute', 'run_one', 'run_dir',
           'training_seconds', 'with_run_hooks', 'RUN_HOOKS', 'load_summaries',
           'final_checkpoint', 'fingerprint', 'DEFAULT_DATA_ROOT']

DEFAULT_DATA_ROOT = 'data/damex_default'
Run = Tuple[str, int]


@dataclass
class ComparisonSettings:
    """What every run of a comparison shares."""

    # folder of the runs (<work_dir>/<variant>/seed<seed>/) and of the report
    work_dir: str = 'work_dirs/default_benchmark'
    # the built-in benchmark (built-in variants only; a user's variant keeps its data roots)
    data_root: str = DEFAULT_DATA_ROOT
    # its version (damex_mmdet.datasets.synthetic.BENCHMARKS), generated there when missing
    benchmark_version: int = 1
    # schedule length of every variant in iterations (None: the configs' own)
    max_iters: Optional[int] = None
    # config keys overridden in every variant, as tools/train.py --cfg-options
    cfg_options: Dict = field(default_factory=dict)
    # checkpoint every N iterations (the last one kept), the resume point of an interrupted run
    checkpoint_interval: int = 300
    # runs in parallel; torch threads are split between them
    jobs: int = 1
    # train nothing: report the finished runs
    report_only: bool = False
    # copy each finished run's record here as soon as it finishes (experiments.archive)
    archive_dir: Optional[str] = None


def set_data_root(cfg: Config, data_root: str) -> None:
    """Point every sub-dataset of the config at ``data_root/<name>/``."""
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        for name, dataset in loader.dataset.datasets.items():
            dataset.data_root = osp.join(data_root, name) + '/'


def set_max_iters(cfg: Config, max_iters: int) -> None:
    """Shorten or lengthen the schedule, scaling the step decay with it."""
    scale = max_iters / cfg.train_cfg.max_iters
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = max_iters
    cfg.default_hooks.checkpoint.interval = max_iters
    for scheduler in cfg.param_scheduler:
        if 'milestones' in scheduler:
            scheduler.milestones = [int(m * scale) for m in scheduler.milestones]
        if scheduler.get('end', 0) > max_iters:
            scheduler.end = max_iters


def config_path(config: str) -> str:
    """``config`` as a path: itself, or under the package's configs.

    Raises:
        ValueError: neither exists.
    """
    from damex_mmdet.utils.config_scope import CONFIG_ROOT
    path = config if osp.exists(config) else osp.join(CONFIG_ROOT, config)
    if not osp.exists(path):
        raise ValueError(f'config {config!r} not found (neither a path nor under {CONFIG_ROOT}).')
    return path


def build_config(name: str, variant: Variant, seed: int,
                 settings: ComparisonSettings) -> Config:
    """The config of one (variant, seed) run (without its start checkpoint).

    An arm that adds a dataset (``variant.adds``) trains the config
    ``tools/add_dataset.py`` writes for the detector its ``starts_from`` arm
    trained at this seed (that run must have finished), on its own schedule.
    """
    if variant.adds:
        return _addition_config(name, variant, seed, settings)
    try:
        cfg = Config.fromfile(config_path(variant.config))
    except ValueError as error:
        raise ValueError(f'variant {name!r}: {error}') from None
    cfg.merge_from_dict(variant.options)
    cfg.merge_from_dict(settings.cfg_options)
    cfg.work_dir = run_dir(settings.work_dir, name, seed)
    cfg.randomness = dict(seed=seed)
    cfg.load_from = None
    if variant.builtin_data:
        set_data_root(cfg, settings.data_root)
        if settings.benchmark_version == 2:  # also score what v2's datasets leave unannotated
            from damex_mmdet.datasets.synthetic import V2_DRAWN_EVALS, benchmark_spec_digest
            cfg.test_evaluator.drawn_evals = {k: list(v) for k, v in V2_DRAWN_EVALS.items()}
            # in the run's fingerprint: a finished run on another draft of v2 is not reused
            # (v1's runs keep their fingerprints: its spec is pinned)
            cfg.benchmark_spec_digest = benchmark_spec_digest(2)
    if variant.leave_out:
        leave_dataset_out(cfg, variant.leave_out)
    # evaluate once, with runner.test() after training
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    if settings.max_iters:
        set_max_iters(cfg, settings.max_iters)
    return cfg


def _addition_config(name: str, variant: Variant, seed: int,
                     settings: ComparisonSettings) -> Config:
    from damex_mmdet.utils.dataset_addition import add_dataset
    parent = run_dir(settings.work_dir, variant.starts_from, seed)
    if not osp.exists(osp.join(parent, 'summary.json')):
        raise ValueError(f'variant {name!r} seed {seed}: adds {variant.adds!r} to the detector '
                         f'of {variant.starts_from!r}, which has not finished ({parent}).')
    # not in the run's own folder: a restarted run clears the checkpoints there
    out = osp.join(settings.work_dir, variant.starts_from, f'seed{seed}_adds', name,
                   'addition.py')
    addition = add_dataset(osp.join(parent, 'run_config.py'), final_checkpoint(parent),
                           variant.adds, osp.join(settings.data_root, variant.adds), out,
                           dataclasses.replace(variant.addition, seed=seed),
                           img_prefix='images/',
                           log=lambda line: print(f'[{name} seed {seed}] {line}'))
    cfg = Config.fromfile(out)
    cfg.work_dir = run_dir(settings.work_dir, name, seed)
    cfg.randomness = dict(seed=seed)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    if variant.addition.mode == 'frozen':
        # tested a second time with the new classes' scores at -inf (the second way the
        # old datasets can move, docs/results/add_dataset/PLAN.md); metrics 'shut/...'
        cfg.shut_new_classes_from = addition.trainable_rows['bbox_head.cls_branches.0.bias']
    return cfg


def enable_resume(cfg: Config, interval: int, directory: str) -> Optional[str]:
    """Checkpoint every ``interval`` iterations and continue from this run's last checkpoint.

    Neither changes what the run computes, so they are applied after the
    fingerprint is taken.

    Returns:
        str or None: the checkpoint the run resumes from.
    """
    cfg.default_hooks.checkpoint.interval = min(interval, cfg.train_cfg.max_iters)
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    if not osp.exists(osp.join(directory, 'last_checkpoint')):
        return None
    resume_from = final_checkpoint(directory)
    if not osp.exists(resume_from):
        return None
    # load_from names this run's own checkpoint: a continuation variant's start
    # (its parent's checkpoint) must not be taken for a resume point
    cfg.load_from, cfg.resume = resume_from, True
    return resume_from


def run_dir(work_dir: str, variant: str, seed: int) -> str:
    return osp.join(work_dir, variant, f'seed{seed}')


def load_summaries(work_dir: str, variants: Sequence[str], seeds: Sequence[int]
                   ) -> Dict[str, Dict[int, dict]]:
    """``variant -> seed -> summary.json`` of the finished runs under ``work_dir``."""
    out: Dict[str, Dict[int, dict]] = {}
    for variant in variants:
        for seed in seeds:
            path = osp.join(run_dir(work_dir, variant, seed), 'summary.json')
            if osp.exists(path):
                with open(path) as f:
                    out.setdefault(variant, {})[seed] = json.load(f)
    return out


def fingerprint(cfg: Config) -> str:
    return hashlib.sha256(cfg.pretty_text.encode()).hexdigest()[:16]


def final_checkpoint(directory: str) -> str:
    """Path in mmengine's ``last_checkpoint`` file of a run."""
    with open(osp.join(directory, 'last_checkpoint')) as f:
        return f.read().strip()


def training_seconds(summary: dict) -> Optional[float]:
    """A run's training seconds over all its processes, or None when they are not all known.

    None for a run resumed from a checkpoint that does not store the seconds spent before it
    (``summary.json``'s ``train_seconds_complete`` is False): its ``train_seconds`` counts the
    last process only, and averaging it with whole runs would understate the cost.
    """
    if summary.get('train_seconds_complete', True) is False:
        return None
    return summary.get('train_seconds')


def _read_text(path: str) -> Optional[str]:
    if not osp.exists(path):
        return None
    with open(path) as f:
        return f.read()


def _set_aside(directory: str, log: Callable[[str], None]) -> None:
    """Move another config's run out of ``directory`` into ``superseded/<its fingerprint>/``.

    Its checkpoints, summary and logs are kept, not deleted: a run whose config
    changed (a new option, another code version's config text) is trained
    afresh, and what the earlier one measured stays readable.
    """
    old_key = _read_text(osp.join(directory, 'fingerprint')) or 'unknown'
    names = [n for n in os.listdir(directory) if n != 'superseded']
    if not names:
        return
    target = osp.join(directory, 'superseded', old_key.strip())
    os.makedirs(target, exist_ok=True)
    for name in names:
        os.replace(osp.join(directory, name), osp.join(target, name))
    log(f'{directory}: its config changed since the run there (fingerprint {old_key.strip()}); '
        f'that run is kept in {target}, this one starts afresh')


def _load_summary(directory: str, expected: str) -> Optional[dict]:
    path = osp.join(directory, 'summary.json')
    if not osp.exists(path):
        return None
    with open(path) as f:
        summary = json.load(f)
    return summary if summary.get('fingerprint') == expected else None


class RunPlan:
    """The (variant, seed) runs to do, continuation runs after the runs they start from.

    Raises:
        ValueError: a variant starts from one that is not in the plan.
    """

    def __init__(self, settings: ComparisonSettings, variants: Dict[str, Variant],
                 seeds: List[int]):
        self.settings, self.variants, self.seeds = settings, variants, list(seeds)
        missing = {v.starts_from for v in variants.values() if v.starts_from} - set(variants)
        if missing:
            needing = sorted(n for n, v in variants.items() if v.starts_from in missing)
            raise ValueError(f'variants {needing} start from {sorted(missing)}: add it to '
                             '--variants.')
        order = sorted(variants, key=lambda v: variants[v].starts_from is not None)
        self.runs: List[Run] = [(name, seed) for name in order for seed in self.seeds]

    def config(self, variant: str, seed: int) -> Config:
        return build_config(variant, self.variants[variant], seed, self.settings)


def execute(plan: RunPlan, log: Callable[[str], None]) -> Dict[Run, dict]:
    """Run every pending (variant, seed) in subprocesses, ``settings.jobs`` at a time.

    Returns:
        dict: ``(variant, seed) -> summary`` of the finished runs (with
        ``report_only``, runs not finished yet are left out).
    """
    settings, jobs = plan.settings, plan.settings.jobs
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else 0
    total, done = len(plan.runs), []
    # mmengine's config parsing (its pkg_resources look-up) and yapf are not thread-safe
    config_lock = threading.Lock()

    def task(variant, seed, parent_future):
        directory = run_dir(settings.work_dir, variant, seed)
        if parent_future is not None and parent_future.result() is None:
            return None  # report only, and the run it continues from is not there
        with config_lock:
            cfg = plan.config(variant, seed)
        if parent_future is not None and not plan.variants[variant].adds:
            cfg.load_from = final_checkpoint(
                run_dir(settings.work_dir, plan.variants[variant].starts_from, seed))
        with config_lock:
            key = fingerprint(cfg)
        summary = _load_summary(directory, key)
        if summary is not None:
            done.append((variant, seed))
            log(f'[{len(done)}/{total}] {variant} seed {seed}: finished before, not retrained '
                f"(mean AP {100 * summary['metrics'].get('mean/bbox_mAP', float('nan')):.1f})")
            _archive(settings, variant, seed, log)
            return summary
        if settings.report_only:
            log(f'{variant} seed {seed}: not finished, left out of the report')
            return None
        start = time.time()
        summary = _train(cfg, key, directory, threads, jobs, config_lock, log, (variant, seed),
                         settings.checkpoint_interval)
        done.append((variant, seed))
        log(f'[{len(done)}/{total}] {variant} seed {seed}: {time.time() - start:.0f} s, mean AP '
            f"{100 * summary['metrics'].get('mean/bbox_mAP', float('nan')):.1f}")
        _archive(settings, variant, seed, log)
        return summary

    futures = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for variant, seed in plan.runs:
            parent = plan.variants[variant].starts_from
            futures[(variant, seed)] = pool.submit(
                task, variant, seed, futures[(parent, seed)] if parent else None)
        results = {run: future.result() for run, future in futures.items()}
    return {run: summary for run, summary in results.items() if summary is not None}


def _archive(settings: ComparisonSettings, variant: str, seed: int,
             log: Callable[[str], None]) -> None:
    """Copy a finished run's record to ``settings.archive_dir`` (a refusal is logged)."""
    if not settings.archive_dir:
        return
    from .archive import archive_runs
    try:
        (target, ) = archive_runs(settings.work_dir, settings.archive_dir, [variant], [seed])
    except ValueError as err:  # the archive holds another run: keep it, say so, go on
        log(f'{variant} seed {seed}: not archived: {err}')
        return
    log(f'{variant} seed {seed}: archived in {target}')


def _train(cfg, key, directory, threads, jobs, config_lock, log, run,
           checkpoint_interval) -> dict:
    """Train one run in a subprocess (resuming its own checkpoint); its summary."""
    variant, seed = run
    os.makedirs(directory, exist_ok=True)
    started = osp.join(directory, 'fingerprint')  # of the run that wrote the checkpoints
    if _read_text(started) != key:
        _set_aside(directory, log)  # another config's run (or none): start afresh
    with open(started, 'w') as f:
        f.write(key)
    resume_from = enable_resume(cfg, checkpoint_interval, directory)
    config_file = osp.join(directory, 'run_config.py')
    with config_lock:
        cfg.dump(config_file)
    if resume_from:
        log(f'{variant} seed {seed}: resuming from {resume_from} ({directory}/run.log)')
    else:
        log(f'{variant} seed {seed}: training ({directory}/run.log)')
    command = [sys.executable, '-m', 'damex_mmdet.experiments.runs', config_file, str(threads)]
    with open(osp.join(directory, 'run.log'), 'a' if resume_from else 'w') as out:
        if jobs == 1:  # show the run's own progress, and keep it in run.log
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
            for line in proc.stdout:  # flushed: `tail -f run.log` follows the run
                sys.stdout.write(line)
                sys.stdout.flush()
                out.write(line)
                out.flush()
            code = proc.wait()
        else:
            code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        raise RuntimeError(f'{variant} seed {seed} failed (exit {code}); see {directory}/run.log')
    with open(osp.join(directory, 'summary.json')) as f:
        summary = json.load(f)
    summary['fingerprint'] = key
    with open(osp.join(directory, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    return summary


RUN_HOOKS = ('TimeEstimateHook', 'TrainingClockHook')


def with_run_hooks(custom_hooks: Optional[list]) -> list:
    """``custom_hooks`` plus the hooks every run gets, each once.

    They say early how long the run takes here and count its training time across resumes;
    they change no result, so they are not written into ``run_config.py``. A config derived
    from a run's dumped config (an addition's) already holds them and keeps one of each.
    """
    hooks = list(custom_hooks or [])
    present = {h.get('type') for h in hooks}
    return hooks + [dict(type=t) for t in RUN_HOOKS if t not in present]


def run_one(config_file: str, threads: int = 0) -> dict:
    """Train, test and (MoE variants) analyse routing; write and return ``summary.json``."""
    import torch
    from mmengine.logging import print_log
    from mmengine.runner import Runner

    import damex_mmdet  # noqa: F401  (registers modules)
    from damex_mmdet.analysis import collect_routing, plot_utilization
    from damex_mmdet.engine import TrainingClockHook

    from .archive import machine_record

    if threads:
        torch.set_num_threads(threads)
    cfg = Config.fromfile(config_file)
    cfg.custom_hooks = with_run_hooks(cfg.get('custom_hooks'))
    runner = Runner.from_cfg(cfg)
    (clock, ) = [h for h in runner.hooks if isinstance(h, TrainingClockHook)]
    start = time.time()
    runner.train()
    metrics = {k: float(v) for k, v in runner.test().items()}
    summary = dict(
        # seconds of training over every process of the run (resumes included); only this
        # process's when it resumed from a checkpoint that does not store them
        train_seconds=round(clock.seconds(), 1),
        train_seconds_this_process=round(clock.seconds_this_process(), 1),
        train_seconds_complete=clock.complete,
        max_iters=cfg.train_cfg.get('max_iters'), threads=torch.get_num_threads(),
        machine=machine_record(),  # the last process's: a resumed run says where it ended
        metrics=metrics, resumed_from=cfg.load_from if cfg.get('resume') else None)
    layers = getattr(runner.model, 'moe_layers', None)  # MoE detectors have the property
    if layers:
        stats = collect_routing(runner.model, runner.test_dataloader)
        out_dir = osp.join(cfg.work_dir, 'routing')
        stats.to_csv(out_dir)
        plot_utilization(stats, osp.join(out_dir, 'expert_utilization.png'))
        summary['routing_dir'] = out_dir
        if stats.expert_map:
            accuracy = stats.router_accuracy()
            summary['router_accuracy'] = accuracy
            for layer, values in accuracy.items():
                metrics[f'router_acc/{layer}'] = values['mean']
        print_log(f'router accuracy at inference (top-1 == h(d)):\n{stats.to_markdown()}',
                  logger='current')
    shut = cfg.get('shut_new_classes_from')
    if shut is not None:  # last: the routing statistics above are of the detector as trained
        from damex_mmdet.models.grow import shut_class_rows
        from mmengine.model import is_model_wrapper
        shut_class_rows(runner.model.module if is_model_wrapper(runner.model) else
                        runner.model, shut)
        metrics.update({f'shut/{k}': float(v) for k, v in runner.test().items()})
    summary['wall_seconds'] = round(time.time() - start, 1)
    with open(osp.join(osp.dirname(config_file), 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    return summary


if __name__ == '__main__':
    run_one(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
