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
