"""RoutingStats: derived quantities from hand-made sums and counts."""
import numpy as np
import pytest

from damex_mmdet.analysis import RoutingStats


def make_stats(expert_map=dict(a=[0], b=[1, 2])):
    """1 layer, datasets a, b, c; 3 experts."""
    weight_sum = np.array([[[3.0, 1.0, 0.0], [0.5, 1.0, 0.5], [0.0, 0.0, 0.0]]])
    matched = np.array([[4.0, 2.0, 0.0]])
    top1_all = np.array([[[6.0, 2.0, 0.0], [1.0, 3.0, 4.0], [5.0, 5.0, 0.0]]])
    top1_matched = np.array([[[3.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]]])
    return RoutingStats(['decoder.layers.0.ffn'], ['a', 'b', 'c'], 3, weight_sum, matched,
                        top1_all, top1_matched, token_count=np.array([[8.0, 8.0, 10.0]]),
                        num_images=np.array([1.0, 1.0, 1.0]), expert_map=expert_map)


def test_utilization_is_average_weight_and_nan_without_tokens():
    util = make_stats().utilization()
    np.testing.assert_allclose(util[0, 0], [0.75, 0.25, 0.0])
    np.testing.assert_allclose(util[0, 1], [0.25, 0.5, 0.25])
    assert np.isnan(util[0, 2]).all()  # dataset c has no matched token


def test_top1_share():
    share = make_stats().top1_share('all')
    np.testing.assert_allclose(share[0, 1], [0.125, 0.375, 0.5])
    np.testing.assert_allclose(make_stats().top1_share('matched')[0, 1], [0.0, 0.5, 0.5])


def test_router_accuracy_counts_any_mapped_expert_and_skips_unmapped_datasets():
    acc = make_stats().router_accuracy()['decoder.layers.0.ffn']
    # a: 6 of 8 on e0; b: 3 + 4 of 8 on e1 or e2 (one-to-many); c is not in the map
    assert acc == pytest.approx(dict(a=0.75, b=0.875, mean=0.8125))
    matched = make_stats().router_accuracy('matched')['decoder.layers.0.ffn']
    assert matched == pytest.approx(dict(a=0.75, b=1.0, mean=0.875))


def test_router_accuracy_with_an_explicit_map_and_errors():
    stats = make_stats(expert_map=None)
    with pytest.raises(ValueError, match='needs a dataset->expert map'):
        stats.router_accuracy()
    acc = stats.router_accuracy(expert_map=dict(c=[1]))['decoder.layers.0.ffn']
    assert acc == pytest.approx(dict(c=0.5, mean=0.5))
    with pytest.raises(ValueError, match='no dataset is both in the expert map'):
        stats.router_accuracy(expert_map=dict(kitti=[0]))
    with pytest.raises(ValueError, match="tokens='some'"):
        stats.utilization('some')


def test_shape_validation_names_the_array():
    with pytest.raises(ValueError, match=r'RoutingStats.matched_count has shape \(1, 3, 3\)'):
        RoutingStats(['l'], ['a', 'b', 'c'], 3, np.zeros((1, 3, 3)), np.zeros((1, 3, 3)),
                     np.zeros((1, 3, 3)), np.zeros((1, 3, 3)))


def test_csv_and_markdown_outputs(tmp_path):
    stats = make_stats()
    paths = stats.to_csv(str(tmp_path))
    lines = open(paths['utilization']).read().splitlines()
    assert lines[0] == 'layer,dataset,matched_tokens,e0,e1,e2'
    assert lines[1] == 'decoder.layers.0.ffn,a,4,0.7500,0.2500,0.0000'
    assert lines[3] == 'decoder.layers.0.ffn,c,0,n/a,n/a,n/a'
    assert open(paths['router_accuracy']).read().splitlines() == [
        'layer,a,b,mean', 'decoder.layers.0.ffn,75.00,87.50,81.25']
    assert open(paths['top1_share']).read().splitlines()[2] == \
        'decoder.layers.0.ffn,b,8,0.1250,0.3750,0.5000'
    markdown = stats.to_markdown()
    assert '| a       | 0.75 | 0.25 | 0.00 | 4       |' in markdown
    assert '| decoder.layers.0.ffn | 75.0 | 87.5 | 81.2 |' in markdown
    assert 'router_accuracy' not in make_stats(expert_map=None).to_csv(str(tmp_path / 'x'))


def test_save_load_and_merge(tmp_path):
    stats = make_stats()
    loaded = RoutingStats.load(stats.save(str(tmp_path / 'stats.json')))
    np.testing.assert_array_equal(loaded.top1_count_all, stats.top1_count_all)
    assert loaded.expert_map == stats.expert_map and loaded.layers == stats.layers
    merged = stats.merge(loaded)
    np.testing.assert_allclose(merged.utilization(), stats.utilization())  # ratios unchanged
    np.testing.assert_array_equal(merged.matched_count, 2 * stats.matched_count)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        RoutingStats.load(str(tmp_path / 'missing.json'))
