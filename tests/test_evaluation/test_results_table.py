"""Tests of damex_mmdet.evaluation.results_table."""
from damex_mmdet.evaluation import (ap_table_rows, format_csv_table,
                                    format_markdown_table, write_ap_tables)

METRICS = {
    'kitti/bbox_mAP': 0.6184, 'kitti/bbox_mAP_50': 0.9, 'kitti/bbox_mAP_75':
    0.7051, 'mean/bbox_mAP': 0.6184, 'mean/bbox_mAP_50': 0.9,
    'mean/bbox_mAP_75': 0.7051
}
COLUMNS = ['kitti', 'lisa', 'mean']


def test_rows_are_percentages_with_missing_as_na():
    rows = ap_table_rows(METRICS, COLUMNS)
    assert rows == [
        ['metric', 'kitti', 'lisa', 'mean'],
        ['AP', '61.8', 'n/a', '61.8'],
        ['AP50', '90.0', 'n/a', '90.0'],
        ['AP75', '70.5', 'n/a', '70.5'],
    ]
    assert ap_table_rows(METRICS, COLUMNS, decimals=2)[1][1] == '61.84'


def test_markdown_and_csv_layout():
    rows = [['metric', 'a', 'mean'], ['AP', '1.0', '10.0']]
    assert format_markdown_table(rows) == ('| metric | a   | mean |\n'
                                           '|--------|-----|------|\n'
                                           '| AP     | 1.0 | 10.0 |')
    assert format_csv_table(rows) == 'metric,a,mean\nAP,1.0,10.0\n'


def test_write_tables(tmp_path):
    assert write_ap_tables(METRICS, COLUMNS, None) == {}
    paths = write_ap_tables(METRICS, COLUMNS, str(tmp_path / 'tables'))
    with open(paths['csv']) as handle:
        assert handle.read().splitlines()[1] == 'AP,61.84,n/a,61.84'
    with open(paths['md']) as handle:
        assert handle.read().splitlines()[0] == \
            '| metric | kitti | lisa | mean |'
