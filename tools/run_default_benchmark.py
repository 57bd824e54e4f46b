"""The main job and the multi-seed method comparison on the built-in benchmark.

Without options: generates the synthetic benchmark if missing (seconds, no
download), trains the tiny DAMEX-DINO config at seed 0, evaluates every
dataset on its own label slice, writes the per-dataset AP table, draws the
expert-utilization heatmaps, prints the router accuracy at inference and where
the result sits in the multi-seed spread recorded in
``docs/results/default_benchmark/results.json``.

``--compare --seeds N`` trains dense DINO, vanilla MoE, DAMEX and GEM for seeds
0..N-1 from matched starts (at each seed every variant starts from the dense
detector's weights and sees the same data order and denoising noise) and
reports mean ± std over seeds and the paired difference to the dense baseline
with a 95% interval. ``--variants`` picks any of the named variants below
(controls and continuation runs included), ``--variant NAME=CONFIG [KEY=VALUE
...]`` adds one of your own. Runs are resumable: a (variant, seed) whose
``summary.json`` matches its config is not trained again, and an interrupted
one continues from its last checkpoint (every ``--checkpoint-interval``
iterations) and ends bit for bit where an uninterrupted run would.

    python tools/run_default_benchmark.py [--compare] [--seeds 3] [--jobs 2]
        [--variants dense damex ...] [--variant mine=configs/x.py model.moe_cfg.num_experts=8]
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from mmengine.config import Config, DictAction

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_DATA_ROOT = 'data/damex_default'
RECORDED = osp.join(ROOT, 'docs', 'results', 'default_benchmark', 'results.json')

_DINO = 'dino/dino-tiny_r18_1xb4-600i_damex-default.py'
_MOE = 'moe/dino-moe-tiny_r18_1xb4-600i_damex-default.py'
_DAMEX = 'damex/damex-dino-tiny_r18_1xb4-600i_damex-default.py'
_GEM = 'gem/gem-dino-tiny_r18_1xb4-600i_damex-default.py'
_REMOE = 'remoe/remoe-dino-tiny_r18_1xb4-600i_damex-default.py'
_SOFTMOE = 'softmoe/softmoe-dino-tiny_r18_1xb4-600i_damex-default.py'
_MOEPP = 'moepp/moepp-dino-tiny_r18_1xb4-600i_damex-default.py'
_PER_DATASET_MAP = dict(comic=[0], kitchen=[1], signs=[2], street=[3], watercolor=[4], xray=[5])
_ONE_EXPERT_MAP = dict(watercolor=[0], comic=[0], street=[0], signs=[0], kitchen=[0], xray=[0])

# name -> (config under the package's configs, cfg options, variant whose
# trained checkpoint of the same seed it starts from or None, what it tests).
# Every variant keeps the schedule, data and optimiser of the dense config.
VARIANTS = {
    'dense': (_DINO, {}, None, 'DINO, dense FFNs (baseline)'),
    'moe': (_MOE, {}, None,
            'vanilla MoE: learned top-1, balancing loss 0.1 on foreground, cf 1.25'),
    'damex': (_DAMEX, {}, None,
              'DAMEX: learned top-1, CE 0.1 to the human-prior map, no dropping'),
    'gem': (_GEM, {}, None, 'map-forced dispatch in training (FixedMapRouter), CE-trained gate'),
    # the GEM paper's MoE baselines (issue: one harness for every routing)
    'remoe': (_REMOE, {}, None, 'ReMoE: ReLU router, dropless, L1 steering 1 active expert'),
    'softmoe': (_SOFTMOE, {}, None,
                'Soft MoE: 4 slots per expert, mixing within token groups, no dropping'),
    'moepp': (_MOEPP, {}, None,
              'MoE++: 4 FFN + zero/copy/constant experts, top-2, gating residual'),
    # controls
    'dense-jitter': (_DINO, {'optim_wrapper.optimizer.lr': 4.000004e-4}, None,
                     'control: dense with the learning rate 1e-6 relatively higher (a '
                     'perturbation far below any effect: measures how far training amplifies '
                     'floating-point differences)'),
    'damex-1expert': (_DAMEX, {'model.moe_cfg.num_experts': 1,
                               'model.moe_cfg.expert_map': _ONE_EXPERT_MAP}, None,
                      'control: one expert = dense FFN plus a router (must equal dense)'),
    'damex-one-of-4': (_DAMEX, {'model.moe_cfg.expert_map': _ONE_EXPERT_MAP}, None,
                       'control: 4 experts, every dataset mapped to expert 0'),
    'damex-per-dataset': (_DAMEX, {'model.moe_cfg.num_experts': 6,
                                   'model.moe_cfg.expert_map': _PER_DATASET_MAP}, None,
                          'DAMEX, one expert per dataset (6): splits the same-style '
                          'street/signs pair the human prior puts on one expert'),
    'damex-ce0': (_DAMEX, {'model.moe_cfg.router.ce_weight': 0.0}, None,
                  'control: DAMEX router without the CE (learned, no auxiliary loss)'),
    'damex-ce1': (_DAMEX, {'model.moe_cfg.router.ce_weight': 1.0}, None,
                  'control: DAMEX CE weight 1.0'),
    'moe-bpr': (_MOE, {'model.moe_cfg.batch_prioritized': True}, None,
                'control: vanilla MoE with batch-prioritised dropping (released DAMEX code)'),
    # ablation: experts initialised independently instead of upcycled
    'moe-fresh': (_MOE, {'model.moe_cfg.expert_init': 'fresh'}, None,
                  'ablation: vanilla MoE, experts initialised independently'),
    'damex-fresh': (_DAMEX, {'model.moe_cfg.expert_init': 'fresh'}, None,
                    'ablation: DAMEX, experts initialised independently'),
    # continuation: start from the trained dense detector of the same seed
    'cont-dense': (_DINO, {}, 'dense', 'dense, continued from the trained dense detector'),
    'cont-moe': (_MOE, {}, 'dense', 'vanilla MoE upcycled from the trained dense detector'),
    'cont-damex': (_DAMEX, {}, 'dense', 'DAMEX upcycled from the trained dense detector'),
}
COMPARE = ['dense', 'moe', 'damex', 'gem']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--compare', action='store_true',
                        help=f'train {", ".join(COMPARE)} (default without it: damex)')
    parser.add_argument('--variants', nargs='+', choices=sorted(VARIANTS), default=None,
                        help='named variants to train (see VARIANTS in this file)')
    parser.add_argument('--variant', nargs='+', action='append', default=[],
                        metavar='NAME=CONFIG [KEY=VALUE]',
                        help='a variant of your own: a config (path, or relative to the '
                        'package configs) and cfg options of it; repeatable')
    parser.add_argument('--seeds', type=int, default=1, help='seeds 0..N-1 (default 1)')
    parser.add_argument('--seed-list', type=int, nargs='+', default=None,
                        help='explicit seeds (instead of --seeds)')
    parser.add_argument('--baseline', default='dense',
                        help='variant the paired differences are taken to (default dense)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs in parallel; torch threads are split between them')
    parser.add_argument('--work-dir', default='work_dirs/default_benchmark')
    parser.add_argument('--data-root', default=DEFAULT_DATA_ROOT,
                        help='where the synthetic benchmark is (generated if missing); '
                        'another existing folder is used as it is')
    parser.add_argument('--max-iters', type=int, default=None,
                        help='override the schedule length of every variant (iterations)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys of every variant, as in tools/train.py')
    parser.add_argument('--target-diff', type=float, default=2.0,
                        help='mean AP difference (x 100) to plan seeds for: the report says '
                        'how many paired seeds detect it at 80%% power (default 2.0, DAMEX minus '
                        'dense DINO on UODB in the paper)')
    parser.add_argument('--checkpoint-interval', type=int, default=300,
                        help='write a checkpoint every N iterations (the last one kept): an '
                        'interrupted run resumes from it, bit for bit (default 300; one save '
                        'of a tiny config costs ~11 s on 2 CPU cores, 9 s of it mmengine '
                        'formatting the config text into the file)')
    parser.add_argument('--report-only', action='store_true',
                        help='train nothing: report the finished runs (e.g. while others run)')
    parser.add_argument('--run-config', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--threads', type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ------------------------------------------------------------------ configs
def custom_variants(specs):
    """``[['mine=configs/x.py', 'a.b=1', ...], ...]`` -> VARIANTS-style entries."""
    out = {}
    for spec in specs:
        name, sep, config = spec[0].partition('=')
        if not sep or not name or not config:
            raise SystemExit(f"--variant {' '.join(spec)}: expected NAME=CONFIG [KEY=VALUE ...].")
        if name in VARIANTS:
            raise SystemExit(f'--variant {name}=...: {name!r} is a built-in variant; pick '
                             'another name.')
        options = {}
        for item in spec[1:]:
            key, sep, value = item.partition('=')
            if not sep:
                raise SystemExit(f'--variant {name}: {item!r} is not KEY=VALUE.')
            options[key] = DictAction._parse_iterable(value)
        out[name] = (config, options, None, f'user variant ({config})')
    return out


def set_data_root(cfg, data_root):
    """Point every sub-dataset of the config at ``data_root/<name>/``."""
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        for name, dataset in loader.dataset.datasets.items():
            dataset.data_root = osp.join(data_root, name) + '/'


def set_max_iters(cfg, max_iters):
    scale = max_iters / cfg.train_cfg.max_iters
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = max_iters
    cfg.default_hooks.checkpoint.interval = max_iters
    for scheduler in cfg.param_scheduler:
        if 'milestones' in scheduler:
            scheduler.milestones = [int(m * scale) for m in scheduler.milestones]
        if scheduler.get('end', 0) > max_iters:
            scheduler.end = max_iters


def build_config(variant, spec, seed, args, load_from=None):
    """The config of one (variant, seed) run."""
    from damex_mmdet.utils.config_scope import CONFIG_ROOT
    config, options, _, _ = spec
    path = config if osp.exists(config) else osp.join(CONFIG_ROOT, config)
    if not osp.exists(path):
        raise SystemExit(f'variant {variant!r}: config {config!r} not found (neither a path '
                         f'nor under {CONFIG_ROOT}).')
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options)
    cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = run_dir(args.work_dir, variant, seed)
    cfg.randomness = dict(seed=seed)
    cfg.load_from = load_from
    set_data_root(cfg, args.data_root)
    # evaluate once, with runner.test() after training
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    if args.max_iters:
        set_max_iters(cfg, args.max_iters)
    return cfg


def enable_resume(cfg, interval, directory):
    """Checkpoint every ``interval`` iterations and continue from this run's last checkpoint.

    Neither changes what the run computes (a resumed run ends bit for bit
    where the uninterrupted one ends), so they are applied after the
    fingerprint is taken.

    Returns:
        str or None: the checkpoint the run resumes from.
    """
    cfg.default_hooks.checkpoint.interval = min(interval, cfg.train_cfg.max_iters)
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    resume_from = None
    if osp.exists(osp.join(directory, 'last_checkpoint')):
        resume_from = final_checkpoint(directory)
        if osp.exists(resume_from):
            # load_from names this run's own checkpoint: a continuation variant's
            # start (its parent's checkpoint) must not be taken for a resume point
            cfg.load_from, cfg.resume = resume_from, True
        else:
            resume_from = None
    return resume_from


def read_text(path):
    """The content of ``path``, or None when it does not exist."""
    if not osp.exists(path):
        return None
    with open(path) as f:
        return f.read()


def clear_run_dir(directory):
    """Remove the checkpoints and summary of another config's run in ``directory``."""
    for name in os.listdir(directory):
        if name in ('summary.json', 'last_checkpoint', 'fingerprint') or name.endswith('.pth'):
            os.remove(osp.join(directory, name))


def run_dir(work_dir, variant, seed):
    return osp.join(work_dir, variant, f'seed{seed}')


def fingerprint(cfg) -> str:
    return hashlib.sha256(cfg.pretty_text.encode()).hexdigest()[:16]


def final_checkpoint(directory):
    """Path in mmengine's ``last_checkpoint`` file of a finished run."""
    with open(osp.join(directory, 'last_checkpoint')) as f:
        return f.read().strip()


# ------------------------------------------------------------------ one run
def run_one(config_path, threads):
    """Train, test and (MoE variants) analyse routing; writes ``summary.json``."""
    import torch
    from mmengine.logging import print_log
    from mmengine.runner import Runner

    import damex_mmdet  # noqa: F401  (registers modules)
    from damex_mmdet.analysis import collect_routing, plot_utilization

    if threads:
        torch.set_num_threads(threads)
    cfg = Config.fromfile(config_path)
    # says early how long this run takes here (not in run_config.py: changes no result)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='TimeEstimateHook')]
    runner = Runner.from_cfg(cfg)
    start = time.time()
    runner.train()
    train_s = time.time() - start
    metrics = {k: float(v) for k, v in runner.test().items()}
    summary = dict(train_seconds=round(train_s, 1), threads=torch.get_num_threads(),
                   metrics=metrics, resumed_from=cfg.load_from if cfg.get('resume') else None)
    model = runner.model
    if hasattr(model, 'moe_layers'):
        stats = collect_routing(model, runner.test_dataloader)
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
    summary['wall_seconds'] = round(time.time() - start, 1)
    return summary


# ------------------------------------------------------------------ orchestration
class Plan:
    """The (variant, seed) runs to do, with their configs and dependencies."""

    def __init__(self, args, variants, seeds):
        self.args, self.variants, self.seeds = args, variants, seeds
        self.runs = []  # (variant, seed) in an order where dependencies come first
        for name in sorted(variants, key=lambda v: variants[v][2] is not None):
            for seed in seeds:
                self.runs.append((name, seed))
        missing = {variants[v][2] for v in variants if variants[v][2]} - set(variants)
        if missing:
            raise SystemExit(f'variants {sorted(v for v in variants if variants[v][2] in missing)}'
                             f' start from {sorted(missing)}: add it to --variants.')

    def config(self, variant, seed):
        return build_config(variant, self.variants[variant], seed, self.args)


def load_summary(directory, expected):
    path = osp.join(directory, 'summary.json')
    if not osp.exists(path):
        return None
    with open(path) as f:
        summary = json.load(f)
    return summary if summary.get('fingerprint') == expected else None


def execute(plan, jobs, log, report_only=False):
    """Run every pending (variant, seed) in subprocesses, ``jobs`` at a time.

    Returns:
        dict: ``(variant, seed) -> summary`` of the finished runs (with
        ``report_only``, runs not finished yet are left out).
    """
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else 0
    total = len(plan.runs)
    futures, done = {}, []
    # mmengine's config parsing (its pkg_resources look-up) and yapf are not thread-safe
    config_lock = threading.Lock()

    def task(variant, seed, parent_future):
        directory = run_dir(plan.args.work_dir, variant, seed)
        with config_lock:
            cfg = plan.config(variant, seed)
        if parent_future is not None:
            if parent_future.result() is None:
                return None  # report only, and the run it continues from is not there
            cfg.load_from = final_checkpoint(run_dir(plan.args.work_dir,
                                                     plan.variants[variant][2], seed))
        with config_lock:
            key = fingerprint(cfg)
        summary = load_summary(directory, key)
        if summary is not None:
            done.append((variant, seed))
            log(f'[{len(done)}/{total}] {variant} seed {seed}: finished before, not retrained '
                f"(mean AP {100 * summary['metrics'].get('mean/bbox_mAP', float('nan')):.1f})")
            return summary
        if report_only:
            log(f'{variant} seed {seed}: not finished, left out of the report')
            return None
        os.makedirs(directory, exist_ok=True)
        started = osp.join(directory, 'fingerprint')  # of the run that wrote the checkpoints
        if read_text(started) != key:
            clear_run_dir(directory)  # another config's run (or none): start afresh
        with open(started, 'w') as f:
            f.write(key)
        resume_from = enable_resume(cfg, plan.args.checkpoint_interval, directory)
        config_path = osp.join(directory, 'run_config.py')
        with config_lock:
            cfg.dump(config_path)
        if resume_from:
            log(f'{variant} seed {seed}: resuming from {resume_from} ({directory}/run.log)')
        else:
            log(f'{variant} seed {seed}: training ({directory}/run.log)')
        command = [sys.executable, osp.abspath(__file__), '--run-config', config_path,
                   '--threads', str(threads)]
        start = time.time()
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
            raise RuntimeError(f'{variant} seed {seed} failed (exit {code}); see '
                               f'{directory}/run.log')
        with open(osp.join(directory, 'summary.json')) as f:
            summary = json.load(f)
        summary['fingerprint'] = key
        with open(osp.join(directory, 'summary.json'), 'w') as f:
            json.dump(summary, f, indent=2)
        done.append((variant, seed))
        log(f'[{len(done)}/{total}] {variant} seed {seed}: {time.time() - start:.0f} s, mean AP '
            f"{100 * summary['metrics'].get('mean/bbox_mAP', float('nan')):.1f}")
        return summary

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for variant, seed in plan.runs:
            parent = plan.variants[variant][2]
            parent_future = futures.get((parent, seed)) if parent else None
            if parent and parent_future is None:
                raise SystemExit(f'{variant} needs {parent} seed {seed}')
            futures[(variant, seed)] = pool.submit(task, variant, seed, parent_future)
        results = {run: future.result() for run, future in futures.items()}
    return {run: summary for run, summary in results.items() if summary is not None}


# ------------------------------------------------------------------ report
def dataset_names(config):
    """Source datasets in config order (a dumped config has its keys sorted)."""
    from damex_mmdet.utils.config_scope import CONFIG_ROOT
    path = config if osp.exists(config) else osp.join(CONFIG_ROOT, config)
    return list(Config.fromfile(path).test_dataloader.dataset.datasets)


def report(summaries, variants, baseline, out_dir, target_diff=2.0):
    """Write results.{md,csv,json,png}; return the markdown."""
    from damex_mmdet.analysis.plots import plot_comparison
    from damex_mmdet.evaluation.comparison import (comparison_table_rows, compare_variants,
                                                   difference_table_rows)
    from damex_mmdet.evaluation.power import power_table_rows
    from damex_mmdet.evaluation.results_table import format_csv_table, format_markdown_table

    results = {}
    for (variant, seed), summary in summaries.items():
        results.setdefault(variant, {})[seed] = summary['metrics']
    names = dataset_names(variants[next(iter(summaries))[0]][0])
    ap_metrics = [f'{n}/bbox_mAP_50' for n in names] + ['mean/bbox_mAP_50', 'mean/bbox_mAP']
    ap_labels = [f'{n} AP50' for n in names] + ['mean AP50', 'mean AP']
    acc_metrics = sorted({k for s in summaries.values() for k in s['metrics']
                          if k.startswith('router_acc/')})
    if baseline not in results:
        baseline = next(iter(results))
    comparison = compare_variants(results, ap_metrics + acc_metrics, baseline)
    seeds = sorted({seed for _, seed in summaries})
    paired = len(results) > 1  # a single variant has nothing to pair with
    lines = [f'Seeds {seeds}; AP x 100, mean ± std over seeds.' + (
        f' Paired differences to `{baseline}` per seed, mean [95% t interval]; `*` marks an '
        'interval that excludes 0.' if paired else ''), '']
    lines += [format_markdown_table(comparison_table_rows(comparison, ap_metrics, ap_labels)), '']
    if paired:
        lines += [format_markdown_table(difference_table_rows(comparison, ap_metrics, ap_labels)),
                  '']
    power_rows = power_table_rows(comparison, 'mean/bbox_mAP', target_diff)
    pairs = [entry['mean/bbox_mAP']['difference'] for entry in comparison.values()]
    if any(d is not None and d['n'] >= 2 for d in pairs):  # one pair estimates no noise
        lines += ['How many seeds: power of the paired t test on mean AP (x 100), with the '
                  'standard deviation of the paired differences observed so far as the noise '
                  '(an estimate: it plans the next runs, it is not a result).', '',
                  format_markdown_table(power_rows), '']
    moe_variants = {v: comparison[v] for v in comparison
                    if any(comparison[v][m]['summary']['n'] for m in acc_metrics)}
    if acc_metrics and moe_variants:
        labels = [f"router acc {m.split('/', 1)[1]}" for m in acc_metrics]
        lines += ['Router accuracy at inference (share of tokens whose top-1 expert is h(d), '
                  '%):', '', format_markdown_table(
                      comparison_table_rows(moe_variants, acc_metrics, labels)), '']
    lines += ['Mean AP (x 100) of every run:', '',
              format_markdown_table([['variant', *(f'seed {s}' for s in seeds)]] + [
                  [v, *(f"{100 * r[s]['mean/bbox_mAP']:.1f}" if s in r else '-' for s in seeds)]
                  for v, r in results.items()]), '']
    times = {}
    for (variant, _), summary in summaries.items():
        times.setdefault(variant, []).append(summary['train_seconds'])
    lines += ['| variant | what | training s per run (mean) |', '|---|---|---|']
    lines += [f'| {v} | {variants[v][3]} | {sum(t) / len(t):.0f} |' for v, t in times.items()]
    markdown = '\n'.join(lines) + '\n'
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'results.md'), 'w') as f:
        f.write(markdown)
    csv_rows = [['variant', 'metric', 'n', 'mean', 'std', 'diff_mean', 'diff_ci_low',
                 'diff_ci_high', 'distinguishable']]
    for variant, per_metric in comparison.items():
        for metric, entry in per_metric.items():
            s, d = entry['summary'], entry['difference'] or {}
            values = (s['mean'], s['std'], *(d.get(k, float('nan'))
                                             for k in ('mean', 'ci_low', 'ci_high')))
            csv_rows.append([variant, metric, str(s['n']), *(f'{x:.6f}' for x in values),
                             str(d.get('distinguishable', ''))])
    with open(osp.join(out_dir, 'results.csv'), 'w') as f:
        f.write(format_csv_table(csv_rows))
    with open(osp.join(out_dir, 'results.json'), 'w') as f:
        json.dump(dict(baseline=baseline, seeds=seeds,
                       variants={v: variants[v][3] for v in results},
                       per_seed={v: {str(s): m for s, m in r.items()} for v, r in results.items()},
                       comparison=comparison, power=power_rows), f, indent=2)
    plot_comparison(comparison, ap_metrics, ap_labels, osp.join(out_dir, 'results.png'))
    return markdown


def recorded_spread(variant, metric='mean/bbox_mAP', path=RECORDED):
    """(mean, std, n, min, max) of ``metric`` recorded for ``variant``, or None."""
    if not osp.exists(path):
        return None
    with open(path) as f:
        recorded = json.load(f)
    values = [m[metric] for m in recorded.get('per_seed', {}).get(variant, {}).values()
              if metric in m]
    if not values:
        return None
    summary = recorded['comparison'][variant][metric]['summary']
    return summary['mean'], summary['std'], len(values), min(values), max(values)


def main(argv=None):
    args = parse_args(argv)
    if args.run_config:
        summary = run_one(args.run_config, args.threads)
        with open(osp.join(osp.dirname(args.run_config), 'summary.json'), 'w') as f:
            json.dump(summary, f, indent=2)
        return
    from damex_mmdet.datasets.synthetic import generate_default_benchmark

    variants = dict(VARIANTS)
    variants.update(custom_variants(args.variant))
    chosen = args.variants or (COMPARE if args.compare else [])
    chosen += [spec[0].partition('=')[0] for spec in args.variant]
    chosen = list(dict.fromkeys(chosen or ['damex']))
    seeds = args.seed_list or list(range(args.seeds))
    if args.data_root == DEFAULT_DATA_ROOT or not osp.isdir(args.data_root):
        generate_default_benchmark(args.data_root)  # seconds; skipped when already there
    plan = Plan(args, {v: variants[v] for v in chosen}, seeds)
    start = time.time()
    print(f'{len(plan.runs)} runs: {chosen} x seeds {seeds}, {args.jobs} at a time', flush=True)
    for variant in chosen:
        cfg = plan.config(variant, seeds[0])
        print(f'- {variant}: {variants[variant][3]}; {cfg.train_cfg.max_iters} iterations of '
              f'batch {cfg.train_dataloader.batch_size} on {args.data_root}, then every dataset '
              'tested on its own label slice', flush=True)
    print('Each run prints "time estimate: ..." after its first iterations (the main job: 5-6 '
          'min on a quiet 2-core CPU, ~10 min with other work beside it).', flush=True)
    summaries = execute(plan, args.jobs, lambda msg: print(f'[benchmark] {msg}', flush=True),
                        args.report_only)
    if not summaries:
        raise SystemExit('no finished run to report.')
    markdown = report(summaries, variants, args.baseline, args.work_dir, args.target_diff)
    print('\n' + markdown)
    for (variant, seed), summary in summaries.items():
        directory = run_dir(args.work_dir, variant, seed)
        print(f'[{variant} seed {seed}] {directory} (per_dataset_ap.md/.csv in its log folder)')
        if osp.exists(osp.join(directory, 'last_checkpoint')):
            print(f'[{variant} seed {seed}] checkpoint: {final_checkpoint(directory)}')
        if 'routing_dir' in summary:
            print(f"[{variant} seed {seed}] expert utilization heatmap: "
                  f"{osp.join(summary['routing_dir'], 'expert_utilization.png')}")
        spread = recorded_spread(variant)
        if spread and len(seeds) == 1:
            mean, std, n, low, high = spread
            value = summary['metrics']['mean/bbox_mAP']
            where = 'inside' if low <= value <= high else 'outside'
            print(f'[{variant} seed {seed}] mean AP {100 * value:.1f}; recorded over {n} seeds '
                  f'(README): {100 * mean:.1f} ± {100 * std:.1f}, range {100 * low:.1f}-'
                  f'{100 * high:.1f}: this run is {where} the recorded range. Across machines '
                  'only the spread is reproducible, not the digits.')
    print(f'summary: {args.work_dir}/results.md, results.csv, results.json, results.png '
          f'({time.time() - start:.0f} s)')


if __name__ == '__main__':
    main()
