"""Heatmap figures are written as PNG, NaN cells included."""
import numpy as np
from PIL import Image

from damex_mmdet.analysis import RoutingStats, plot_similarity, plot_utilization

PNG = b'\x89PNG\r\n\x1a\n'


def stats(num_layers):
    shape = (num_layers, 2, 3)
    weight = np.ones(shape)
    matched = np.full(shape[:2], 3.0)
    matched[:, 1] = 0  # second dataset has no matched token -> n/a cells
    return RoutingStats([f'decoder.layers.{2 * i}.ffn' for i in range(num_layers)],
                        ['kitti', 'voc'], 3, weight * matched[..., None] / 3, matched,
                        np.ones(shape), np.ones(shape), expert_map=dict(kitti=[0], voc=[2]))


def test_plot_utilization_one_panel_per_layer(tmp_path):
    one = plot_utilization(stats(1), str(tmp_path / 'one.png'))
    three = plot_utilization(stats(3), str(tmp_path / 'sub' / 'three.png'))
    for path in (one, three):
        with open(path, 'rb') as handle:
            assert handle.read(8) == PNG
    # panels side by side: three layers make a wider figure of the same height
    (w1, h1), (w3, h3) = Image.open(one).size, Image.open(three).size
    assert w3 > 2 * w1 * 0.8 and h3 == h1


def test_plot_similarity(tmp_path):
    path = plot_similarity({'dec0': np.eye(3), 'dec2': np.full((3, 3), 0.5)},
                           str(tmp_path / 'sim.png'))
    with open(path, 'rb') as handle:
        assert handle.read(8) == PNG


def test_each_addition_arm_is_drawn_on_its_own_path():
    from damex_mmdet.analysis.plots import _addition_path
    assert _addition_path('add-kitchen-frozen', 'kitchen') == 'frozen'
    assert _addition_path('add-kitchen-frozen-10shot', 'kitchen') == 'frozen'
    assert _addition_path('add-xray-frozen-replay-50shot', 'xray') == 'frozen-replay'
    assert _addition_path('add-xray-replay', 'xray') == 'replay'
    assert _addition_path('add-kitchen-finetune-dense-10shot', 'kitchen') == 'finetune-dense'


def _difference(mean, half):
    return dict(n=2, mean=mean, ci_low=mean - half, ci_high=mean + half)


def test_the_addition_figure_keeps_one_colour_per_path_and_the_possible_range():
    from matplotlib.colors import to_hex

    from damex_mmdet.analysis.plots import addition_figure
    arms = {}
    for arm, new_ap in (('add-kitchen-frozen', 30.0), ('add-kitchen-frozen-10shot', 20.0),
                        ('add-kitchen-replay', 80.0)):
        # two seeds: an interval 12.7 standard errors wide runs far past +-100 AP
        arms[arm] = dict(old_per_dataset_difference={'comic': _difference(-30.0, 250.0)},
                         old_mean_difference=_difference(-30.0, 250.0),
                         new_ap={0: new_ap, 1: new_ap + 2.0})
    fig = addition_figure(dict(dataset='kitchen', old_datasets=['comic'], arms=arms,
                               joint_ap={0: 60.0, 1: 62.0}))
    left, right = fig.axes
    low, high = left.get_ylim()
    assert -106.0 <= low < -100.0 and 100.0 < high <= 106.0
    left_colour = {c.get_label(): to_hex(c.lines[0].get_color()) for c in left.containers}
    right_colour = {c.get_label(): to_hex(c.lines[0].get_color()) for c in right.containers}
    assert left_colour['add-kitchen-frozen'] == left_colour['add-kitchen-frozen-10shot'] \
        == right_colour['frozen']
    assert left_colour['add-kitchen-replay'] == right_colour['replay'] != right_colour['frozen']
    marker = {c.get_label(): c.lines[0].get_marker() for c in left.containers}
    assert marker['add-kitchen-frozen'] != marker['add-kitchen-frozen-10shot']
