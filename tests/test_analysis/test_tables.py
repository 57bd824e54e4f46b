"""Results table in the paper's Table 1 layout from per-dataset files."""
import json

import pytest

from damex_mmdet.analysis import (gather_method_results, load_ap_results, parse_result_spec,
                                  results_table_rows, write_results_table)


@pytest.fixture
def two_csvs(tmp_path):
    dino = tmp_path / 'dino.csv'
    dino.write_text('metric,kitti,voc,mean\nAP,58.43,53.91,56.17\nAP50,80.00,75.00,77.50\n'
                    'AP75,60.00,55.00,57.50\n')
    damex = tmp_path / 'damex.csv'
    damex.write_text('metric,kitti,voc,mean\nAP,61.80,n/a,61.80\nAP50,82.00,n/a,82.00\n'
                     'AP75,63.00,n/a,63.00\n')
    return str(dino), str(damex)


def test_markdown_rows_from_two_csvs(two_csvs, tmp_path):
    dino, damex = two_csvs
    methods = gather_method_results([f'DINO mixed={dino}', f'DAMEX={damex}'])
    rows = results_table_rows(methods)
    paths = write_results_table(rows, str(tmp_path / 'out'))
    lines = open(paths['md']).read().splitlines()
    assert lines[0] == '| method     | kitti | voc  | mean |'
    assert lines[2] == '| DINO mixed | 58.4  | 53.9 | 56.2 |'
    assert lines[3] == '| DAMEX      | 61.8  | n/a  | n/a  |'  # no voc -> no comparable mean
    assert open(paths['csv']).read().splitlines()[1] == 'DINO mixed,58.4,53.9,56.2'
    ap50 = results_table_rows(gather_method_results([f'd={dino}'], 'AP50'), ['voc', 'kitti'])
    assert ap50 == [['method', 'voc', 'kitti', 'mean'], ['d', '75.0', '80.0', '77.5']]


def test_json_logs_last_evaluation_wins_and_single_dataset_files_can_be_named(tmp_path):
    scalars = tmp_path / 'scalars.json'
    scalars.write_text('\n'.join(json.dumps(r) for r in [
        {'loss': 1.0, 'step': 1},
        {'kitti/bbox_mAP': 0.5, 'voc/bbox_mAP': 0.4, 'mean/bbox_mAP': 0.45, 'step': 1},
        {'loss': 0.5, 'step': 2},
        {'kitti/bbox_mAP': 0.618, 'voc/bbox_mAP': 0.56, 'voc/bbox_mAP_50': 0.8, 'step': 2},
    ]) + '\n')
    assert load_ap_results(str(scalars)) == pytest.approx(dict(kitti=61.8, voc=56.0))
    test_run = tmp_path / '20240101_000000.json'
    test_run.write_text(json.dumps({'coco/bbox_mAP': 0.351, 'coco/bbox_mAP_50': 0.5}))
    methods = gather_method_results([f'single={test_run}#widerface', f'single={scalars}'])
    assert methods['single'] == pytest.approx(dict(widerface=35.1, kitti=61.8, voc=56.0))


def test_bad_inputs_fail_with_clear_errors(two_csvs, tmp_path):
    dino, _ = two_csvs
    with pytest.raises(ValueError, match='is not NAME=PATH'):
        parse_result_spec('no-equals-sign')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_ap_results(str(tmp_path / 'missing.csv'))
    with pytest.raises(ValueError, match="gets dataset\\(s\\) \\['kitti', 'voc'\\]"):
        gather_method_results([f'a={dino}', f'a={dino}'])
    with pytest.raises(ValueError, match='renaming needs a file with one dataset'):
        load_ap_results(dino, dataset='kitti')
    log = tmp_path / 'log.json'
    log.write_text('{"loss": 1.0}\n')
    with pytest.raises(ValueError, match='holds no key like "<dataset>/bbox_mAP"'):
        load_ap_results(str(log))
    with pytest.raises(ValueError, match="metric='mAP'"):
        load_ap_results(dino, metric='mAP')
