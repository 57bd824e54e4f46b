"""Archiving finished runs: what is kept, what is refused, and the machine record."""
import json
import os

import pytest

from damex_mmdet.experiments.archive import archive_runs, machine_label, machine_record
from damex_mmdet.experiments.runs import load_summaries


def _run(root, variant, seed, fingerprint=None, ap=0.5, checkpoint=True):
    folder = root / variant / f'seed{seed}'
    (folder / 'routing').mkdir(parents=True)
    summary = dict(metrics={'mean/bbox_mAP': ap}, train_seconds=10.0)
    if fingerprint:
        summary['fingerprint'] = fingerprint
        (folder / 'fingerprint').write_text(fingerprint)
    (folder / 'summary.json').write_text(json.dumps(summary))
    (folder / 'run_config.py').write_text(f'seed = {seed}\n')
    (folder / 'routing' / 'top1_share.csv').write_text('layer,dataset,e0\nL0,a,1.0\n')
    (folder / 'routing' / 'expert_utilization.png').write_bytes(b'\x89PNG')
    if checkpoint:
        (folder / 'iter_10.pth').write_bytes(b'weights')
    return folder


def test_the_archive_reads_like_the_work_dir_without_checkpoints_or_unfinished_runs(tmp_path):
    work, dest = tmp_path / 'work', tmp_path / 'archive'
    _run(work, 'dense', 0, 'aaa', ap=0.61)
    _run(work, 'damex', 0, 'bbb', ap=0.72)
    _run(work, 'damex', 1, None)  # still training: no fingerprint stamped yet
    (work / 'damex' / 'seed0' / 'superseded' / 'old').mkdir(parents=True)

    archived = archive_runs(str(work), str(dest))

    assert archived == [str(dest / 'damex' / 'seed0'), str(dest / 'dense' / 'seed0')]
    assert load_summaries(str(dest), ['dense', 'damex'], [0, 1]) == \
        load_summaries(str(work), ['dense', 'damex'], [0])
    kept = sorted(str(p.relative_to(dest)) for p in dest.rglob('*') if p.is_file())
    assert kept == sorted(f'{v}/seed0/{f}' for v in ('damex', 'dense') for f in
                          ('summary.json', 'run_config.py', 'fingerprint',
                           'routing/top1_share.csv'))


def test_archiving_again_is_idempotent_and_another_run_is_refused_whole(tmp_path):
    work, dest = tmp_path / 'work', tmp_path / 'archive'
    _run(work, 'dense', 0, 'aaa', ap=0.61)
    archive_runs(str(work), str(dest))
    assert archive_runs(str(work), str(dest)) == [str(dest / 'dense' / 'seed0')]

    other = tmp_path / 'other'
    _run(other, 'dense', 0, 'ccc', ap=0.30)  # the same (variant, seed), another config
    _run(other, 'moe', 0, 'ddd')
    with pytest.raises(ValueError, match=r'dense/seed0 \(archived aaa, now ccc\)'):
        archive_runs(str(other), str(dest))
    assert json.loads((dest / 'dense' / 'seed0' / 'summary.json').read_text())[
        'metrics']['mean/bbox_mAP'] == 0.61
    assert not (dest / 'moe').exists()  # nothing of a refused archive is copied


def test_only_the_asked_variants_and_seeds_are_archived(tmp_path):
    work, dest = tmp_path / 'work', tmp_path / 'archive'
    for variant in ('dense', 'moe'):
        for seed in (0, 1):
            _run(work, variant, seed, f'{variant}{seed}')
    archived = archive_runs(str(work), str(dest), variants=['moe'], seeds=[1])
    assert archived == [str(dest / 'moe' / 'seed1')]
    with pytest.raises(FileNotFoundError, match='missing'):
        archive_runs(str(tmp_path / 'missing'), str(dest))


def test_the_machine_record_names_this_machine():
    import torch
    record = machine_record()
    assert record['cores'] == os.cpu_count()
    assert record['torch'] == torch.__version__
    assert record['cpu'] and record['cpu'] != 'unknown'
    assert machine_label({'machine': record}) == f"{record['cpu']}, {record['cores']} cores"
    assert machine_label({'metrics': {}}) == 'not recorded'
