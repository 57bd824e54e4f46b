"""A finished run's record, kept where git can keep it; and the machine that made it.

A comparison's ``work_dir`` holds checkpoints (hundreds of MB) and is lost with the
machine; a multi-seed experiment outlives it. :func:`archive_runs` copies what the
reports read of each finished run (``summary.json``, ``run_config.py``, the
fingerprint and the routing tables, a few kB) into a folder of the same layout,
``<dest>/<variant>/seed<k>/``, so every report that takes a ``--work-dir`` reads
the archive as it reads the work dir. A recorded run is never overwritten by
another run: archiving a different run onto it stops with an error.

:func:`machine_record` is stored in every ``summary.json`` (``machine``), so a
report can say where each pair of runs was made: one (variant, seed) repeats bit
for bit on one machine, not across CPU kinds.
"""
import json
import os
import os.path as osp
import platform
import shutil
from typing import Dict, List, Mapping, Optional, Sequence

__all__ = ['ARCHIVED_FILES', 'ARCHIVED_TABLES', 'machine_record', 'machine_label',
           'runs_by_machine', 'seeds_across_machines', 'archive_runs',
           'summaries_from_results']

ARCHIVED_FILES = ('summary.json', 'run_config.py', 'fingerprint')
# sub-folder of a run -> the suffixes of its files that are archived
ARCHIVED_TABLES = {'routing': ('.csv', '.md')}


def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.lower().startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'unknown'


def machine_record() -> Dict[str, object]:
    """What made a run: CPU model, logical cores, torch and Python versions.

    Returns:
        dict: ``cpu`` (str), ``cores`` (int), ``torch`` (str), ``python`` (str).
    """
    import torch
    return dict(cpu=_cpu_model(), cores=os.cpu_count() or 0, torch=torch.__version__,
                python=platform.python_version())


def machine_label(summary: dict) -> str:
    """``'<cpu>, <cores> cores'`` of a summary, or ``'not recorded'`` for an older one."""
    machine = summary.get('machine')
    if not machine:
        return 'not recorded'
    return f"{machine.get('cpu', 'unknown')}, {machine.get('cores', '?')} cores"


def runs_by_machine(summaries: Mapping[str, Mapping[int, dict]]) -> Dict[str, List[str]]:
    """``machine label -> ['<variant> s<seed>', ...]``, variants and seeds sorted."""
    machines: Dict[str, List[str]] = {}
    for variant in sorted(summaries):
        for seed, summary in sorted(summaries[variant].items()):
            machines.setdefault(machine_label(summary), []).append(f'{variant} s{seed}')
    return machines


def seeds_across_machines(summaries: Mapping[str, Mapping[int, dict]], variant: str,
                          reference: str) -> List[int]:
    """Seeds whose ``variant`` and ``reference`` runs were recorded on two different machines."""
    runs, others = summaries.get(variant, {}), summaries.get(reference, {})
    return sorted(seed for seed in set(runs) & set(others)
                  if runs[seed].get('machine') and others[seed].get('machine') and
                  machine_label(runs[seed]) != machine_label(others[seed]))


def _finished(summary_path: str) -> Optional[dict]:
    """The summary of a finished run (the comparison tool stamps its fingerprint last)."""
    if not osp.exists(summary_path):
        return None
    with open(summary_path) as f:
        summary = json.load(f)
    return summary if summary.get('fingerprint') else None


def archive_runs(work_dir: str, dest: str, variants: Optional[Sequence[str]] = None,
                 seeds: Optional[Sequence[int]] = None) -> List[str]:
    """Copy the record of every finished run under ``work_dir`` to ``dest``.

    Args:
        work_dir (str): a comparison tool's ``--work-dir`` (``<variant>/seed<k>/`` runs).
        dest (str): the archive; the same layout, created when missing.
        variants: only these variants (all by default).
        seeds: only these seeds (all by default).

    Returns:
        list[str]: the archived run folders under ``dest``, sorted.

    Raises:
        FileNotFoundError: ``work_dir`` does not exist.
        ValueError: ``dest`` already holds another run (another fingerprint) of a
            (variant, seed) being archived; nothing is copied then.
    """
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'{work_dir}: no such folder (the --work-dir of the runs to '
                                'archive).')
    runs = []
    for variant in sorted(os.listdir(work_dir)):
        if variants is not None and variant not in variants:
            continue
        variant_dir = osp.join(work_dir, variant)
        if not osp.isdir(variant_dir):
            continue
        for name in sorted(os.listdir(variant_dir)):
            if not (name.startswith('seed') and name[4:].isdigit()):
                continue
            if seeds is not None and int(name[4:]) not in seeds:
                continue
            summary = _finished(osp.join(variant_dir, name, 'summary.json'))
            if summary is not None:
                runs.append((variant, name, summary['fingerprint']))
    conflicts = []
    for variant, name, key in runs:
        kept = _finished(osp.join(dest, variant, name, 'summary.json'))
        if kept is not None and kept['fingerprint'] != key:
            conflicts.append(f"{osp.join(dest, variant, name)} (archived {kept['fingerprint']}, "
                             f'now {key})')
    if conflicts:
        raise ValueError('the archive already holds other runs of: ' + '; '.join(conflicts) +
                         '. Remove those folders to replace them, or archive to another '
                         'folder.')
    archived = []
    for variant, name, _ in runs:
        source, target = osp.join(work_dir, variant, name), osp.join(dest, variant, name)
        os.makedirs(target, exist_ok=True)
        for file in ARCHIVED_FILES:
            if osp.exists(osp.join(source, file)):
                shutil.copyfile(osp.join(source, file), osp.join(target, file))
        for folder, suffixes in ARCHIVED_TABLES.items():
            if not osp.isdir(osp.join(source, folder)):
                continue
            os.makedirs(osp.join(target, folder), exist_ok=True)
            for file in sorted(os.listdir(osp.join(source, folder))):
                if file.endswith(suffixes):
                    shutil.copyfile(osp.join(source, folder, file),
                                    osp.join(target, folder, file))
        archived.append(target)
    return archived


def summaries_from_results(results_json: str, variant: str) -> Dict[int, dict]:
    """A committed comparison report's per-seed metrics of ``variant``, as run summaries.

    For a reference whose runs were reported (``results.json`` of
    ``tools/run_default_benchmark.py``) before run records were archived: only the
    metrics survive, so training time and routing tables are absent.

    Args:
        results_json (str): a report's ``results.json`` (its ``per_seed`` table).
        variant (str): the variant to read.

    Returns:
        dict: ``seed -> {'metrics': {...}, 'source': results_json}``.

    Raises:
        ValueError: the file has no per-seed metrics of ``variant``.
    """
    with open(results_json) as f:
        per_seed = json.load(f).get('per_seed', {})
    if variant not in per_seed:
        raise ValueError(f'{results_json}: no per-seed metrics of {variant!r} (it has '
                         f'{sorted(per_seed)}).')
    return {int(seed): dict(metrics=dict(metrics), source=results_json)
            for seed, metrics in per_seed[variant].items()}
