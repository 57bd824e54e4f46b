"""Adding a dataset to a trained DAMEX / GEM detector: labels and trained values kept.

A tiny copy of the built-in benchmark; a DAMEX (and a GEM) detector trained
one iteration on five of its datasets through mmengine's Runner (the
checkpoint carries what a real one does: the trained label order and the
MoE summary), then the sixth is added with the product's code path.
"""
import copy
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from damex_mmdet.datasets.synthetic import generate_default_benchmark
from damex_mmdet.utils import register_all_modules
from damex_mmdet.utils.dataset_addition import (AdditionOptions, add_dataset, old_share,
                                                read_trained_mixture)
from damex_mmdet.utils.mixture_config import MixtureDataset, mixture_config_text
from damex_mmdet.testing.reproducible import short_train_cfg

register_all_modules()
OLD = ('comic', 'signs', 'street', 'watercolor', 'xray')
MAP = {'comic': [0], 'watercolor': [0], 'signs': [1], 'street': [1], 'xray': [2]}


def _train(config: str, work_dir: str, iters: int) -> str:
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    for key in ('val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            cfg[key].update(num_workers=0, persistent_workers=False)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0)
    Runner.from_cfg(cfg).train()
    return osp.join(work_dir, f'iter_{iters}.pth')


def _trained(root, method):
    data = str(root / 'data')
    generate_default_benchmark(data, scale=0.02, progress=False)
    datasets = [MixtureDataset(n, osp.join(data, n), img_prefix='images/') for n in OLD]
    config = str(root / f'{method}5.py')
    with open(config, 'w') as f:
        f.write(mixture_config_text(datasets, method, 'tiny', None if method == 'dense' else MAP))
    cfg = short_train_cfg(config, data, str(root / method), 1, 1)
    run_config = str(root / f'{method}5_run.py')
    cfg.dump(run_config)
    return data, run_config, _train(run_config, str(root / method), 1)


@pytest.fixture(scope='module')
def damex(tmp_path_factory):
    return _trained(tmp_path_factory.mktemp('add'), 'damex')


def test_old_labels_stay_when_the_new_name_sorts_first(damex, tmp_path):
    data, config, ckpt = damex
    trained = read_trained_mixture(ckpt)
    assert trained.dataset_names == OLD and trained.num_experts == 3
    out = str(tmp_path / 'add.py')
    addition = add_dataset(config, ckpt, 'aaa', osp.join(data, 'kitchen'), out,
                           img_prefix='images/', log=lambda *_: None)
    assert addition.dataset_order == (*OLD, 'aaa')
    from mmdet.registry import DATASETS
    grown = Config.fromfile(out)
    for loader in ('train_dataloader', 'test_dataloader'):
        meta = DATASETS.build(dict(grown[loader].dataset, lazy_init=True)).metainfo
        assert meta['dataset_names'] == (*OLD, 'aaa')
        ckpt_meta = torch.load(ckpt, weights_only=False)['meta']['dataset_meta']
        for name in OLD:
            assert list(meta['dataset_label_maps'][name]) == list(
                ckpt_meta['dataset_label_maps'][name]), name
        assert list(meta['dataset_label_maps']['aaa']) == [14, 15, 16]  # appended
    assert grown.model.bbox_head.num_classes == 17
    assert grown.model.moe_cfg.num_experts == 4
    assert addition.expert_map == {**MAP, 'aaa': [3]}
    # the copied expert is one of the trained ones, and its rows are in the new slot
    start = torch.load(addition.checkpoint, weights_only=True)['state_dict']
    old = torch.load(ckpt, weights_only=False)['state_dict']
    w1 = 'decoder.layers.0.ffn.experts.w1'
    assert torch.equal(start[w1][3], old[w1][addition.copied_expert])
    assert torch.equal(start[w1][:3], old[w1])


def test_frozen_training_changes_only_the_new_rows(damex, tmp_path):
    """Weight decay (AdamW 1e-4) and clipping on: every trained value stays bit for bit."""
    data, config, ckpt = damex
    out = str(tmp_path / 'add.py')
    addition = add_dataset(config, ckpt, 'kitchen', osp.join(data, 'kitchen'), out,
                           AdditionOptions(max_iters=2), img_prefix='images/',
                           log=lambda *_: None)
    cfg = Config.fromfile(out)
    assert cfg.optim_wrapper.optimizer.weight_decay > 0 and cfg.optim_wrapper.clip_grad
    assert cfg.train_dataloader.sampler.weights == {**{n: 0.0 for n in OLD}, 'kitchen': 1.0}
    trained_ckpt = _train(out, str(tmp_path / 'wd'), 2)
    end = torch.load(trained_ckpt, weights_only=False)['state_dict']
    start = torch.load(addition.checkpoint, weights_only=True)['state_dict']
    rows = addition.trainable_rows
    assert set(rows) >= {'bbox_head.cls_branches.0.weight', 'bbox_head.cls_branches.3.bias',
                         'dn_query_generator.label_embedding.weight',
                         'decoder.layers.0.ffn.router.gate.weight',
                         'decoder.layers.2.ffn.experts.w2'}
    for key, value in start.items():
        row = rows.get(key)
        if row is None:
            assert torch.equal(end[key], value), key
        else:
            assert torch.equal(end[key][:row], value[:row]), key
            assert not torch.equal(end[key][row:], value[row:]), key  # the new rows train
    # the grown detector infers like any other, in the grown label space
    from damex_mmdet.apis import infer_images
    image = sorted(p for p in __import__('glob').glob(
        osp.join(data, 'kitchen', 'images', '**', '*.png'), recursive=True))[0]
    result = infer_images(out, trained_ckpt, [image], score_thr=0.0, progress=False,
                          draw=False)[0]
    names = {box['name'] for box in result['predictions']}
    assert names and any(n.startswith('kitchen/') for n in names)
    assert {r['expert'] for r in result['routing'].values()} <= {0, 1, 2, 3}


@pytest.mark.slow  # trains its own GEM checkpoint (~40 s)
def test_a_gem_checkpoint_grows_too(tmp_path):
    data, config, ckpt = _trained(tmp_path, 'gem')
    out = str(tmp_path / 'add.py')
    addition = add_dataset(config, ckpt, 'kitchen', osp.join(data, 'kitchen'), out,
                           img_prefix='images/', log=lambda *_: None)
    from mmdet.registry import MODELS
    cfg = Config.fromfile(out)
    assert cfg.model.moe_cfg.router.type == 'FixedMapRouter'
    model = MODELS.build(cfg.model)
    start = torch.load(addition.checkpoint, weights_only=True)['state_dict']
    model.load_state_dict(start, strict=True)
    assert model.expert_map.to_dict()['kitchen'] == [3]


def test_replay_mode_samples_old_datasets_at_the_stated_ratio(damex, tmp_path):
    data, config, ckpt = damex
    out = str(tmp_path / 'replay.py')
    add_dataset(config, ckpt, 'kitchen', osp.join(data, 'kitchen'), out,
                AdditionOptions(mode='replay', replay_ratio=0.25, shots=1),
                img_prefix='images/', log=lambda *_: None)
    cfg = Config.fromfile(out)
    weights = cfg.train_dataloader.sampler.weights
    assert weights['kitchen'] == pytest.approx(0.75)
    assert sum(weights[n] for n in OLD) == pytest.approx(0.25)
    assert not any(h['type'] == 'KeepTrainedValuesHook' for h in cfg.custom_hooks)
    with open(cfg.new_train_dataset.ann_file) as f:
        assert len(json.load(f)['images']) == 1  # --shots 1


def test_frozen_mode_can_show_the_old_datasets_and_still_keeps_every_trained_value(damex,
                                                                                   tmp_path):
    """Old images flow through (their gradients reach old values): those stay bit for bit."""
    data, config, ckpt = damex
    out = str(tmp_path / 'frozen_replay.py')
    addition = add_dataset(config, ckpt, 'kitchen', osp.join(data, 'kitchen'), out,
                           AdditionOptions(replay_ratio=0.5, shots=1, max_iters=2),
                           img_prefix='images/', log=lambda *_: None)
    cfg = Config.fromfile(out)
    weights = cfg.train_dataloader.sampler.weights
    assert weights['kitchen'] == pytest.approx(0.5)
    assert all(weights[n] > 0 for n in OLD) and sum(weights[n] for n in OLD) == \
        pytest.approx(0.5)
    assert 'old datasets replayed at 0.5' in open(out).read()
    trained = torch.load(_train(out, str(tmp_path / 'wd'), 2), weights_only=False)['state_dict']
    start = torch.load(addition.checkpoint, weights_only=True)['state_dict']
    rows = addition.trainable_rows
    assert 'decoder.layers.0.ffn.router.gate.weight' in rows
    for key, value in start.items():
        row = rows.get(key)
        assert torch.equal(trained[key][:row] if row is not None else trained[key],
                           value[:row] if row is not None else value), key
    assert not torch.equal(trained['decoder.layers.0.ffn.router.gate.weight'][3:],
                           start['decoder.layers.0.ffn.router.gate.weight'][3:])


def test_the_old_share_of_each_mode_and_its_refusals():
    assert old_share(AdditionOptions()) == 0.0  # frozen: the new data alone
    assert old_share(AdditionOptions(replay_ratio=0.3)) == 0.3
    assert old_share(AdditionOptions(mode='replay')) == 0.5
    assert old_share(AdditionOptions(mode='finetune')) == 0.0
    with pytest.raises(ValueError, match=r'--replay-ratio 0.0: give a share in \(0, 1\) for '
                       '--mode replay'):
        old_share(AdditionOptions(mode='replay', replay_ratio=0.0))
    with pytest.raises(ValueError, match=r'--replay-ratio 1.0: give a share in \[0, 1\)'):
        old_share(AdditionOptions(replay_ratio=1.0))
    with pytest.raises(ValueError, match='finetune mode trains on the new dataset alone'):
        old_share(AdditionOptions(mode='finetune', replay_ratio=0.5))


def test_sharing_an_expert_keeps_the_expert_count(damex, tmp_path):
    data, config, ckpt = damex
    addition = add_dataset(config, ckpt, 'kitchen', osp.join(data, 'kitchen'),
                           str(tmp_path / 'share.py'), AdditionOptions(expert='xray'),
                           img_prefix='images/', log=lambda *_: None)
    assert addition.num_experts == 3 and addition.expert_map['kitchen'] == [2]
    assert addition.copied_expert is None
    # frozen and shared: only the class rows train, no expert or router row
    assert not any('.ffn.' in key for key in addition.trainable_rows)
    assert 'bbox_head.cls_branches.0.weight' in addition.trainable_rows


def test_bad_input_stops_with_a_clear_message(damex, tmp_path):
    data, config, ckpt = damex
    kitchen = osp.join(data, 'kitchen')
    with pytest.raises(ValueError, match="'street' is already in the model"):
        add_dataset(config, ckpt, 'street', kitchen, str(tmp_path / 'a.py'),
                    img_prefix='images/')
    with pytest.raises(FileNotFoundError, match='no such dataset folder'):
        add_dataset(config, ckpt, 'new', str(tmp_path / 'nowhere'), str(tmp_path / 'a.py'))
    with pytest.raises(ValueError, match="--expert 'kitchen'"):
        add_dataset(config, ckpt, 'new', kitchen, str(tmp_path / 'a.py'),
                    AdditionOptions(expert='kitchen'), img_prefix='images/')
    # a checkpoint without an expert map / a dense one: the message says what to do
    state = torch.load(ckpt, weights_only=False)
    no_map = copy.deepcopy(state)
    no_map['meta']['damex_moe']['expert_map'] = None
    torch.save(no_map, tmp_path / 'no_map.pth')
    with pytest.raises(ValueError, match='no dataset -> expert map'):
        add_dataset(config, str(tmp_path / 'no_map.pth'), 'new', kitchen,
                    str(tmp_path / 'a.py'), img_prefix='images/')
    dense = copy.deepcopy(state)
    del dense['meta']['damex_moe']
    torch.save(dense, tmp_path / 'dense.pth')
    with pytest.raises(ValueError, match='a dense detector.*--mode frozen does not apply.*'
                       'Train a DAMEX or GEM.*--mode finetune'):
        add_dataset(config, str(tmp_path / 'dense.pth'), 'new', kitchen,
                    str(tmp_path / 'a.py'), img_prefix='images/')
    # a config of other datasets than the checkpoint's
    other = Config.fromfile(config)
    other.train_dataloader.dataset.datasets.pop('xray')
    other.dump(str(tmp_path / 'other.py'))
    with pytest.raises(ValueError, match=r"trains \['comic', 'signs', 'street', 'watercolor'\]"):
        add_dataset(str(tmp_path / 'other.py'), ckpt, 'new', kitchen, str(tmp_path / 'a.py'),
                    img_prefix='images/')


@pytest.mark.slow  # trains its own dense checkpoint (~40 s)
def test_a_dense_checkpoint_fine_tunes_in_the_grown_label_space(tmp_path):
    data, config, ckpt = _trained(tmp_path, 'dense')
    out = str(tmp_path / 'add.py')
    addition = add_dataset(config, ckpt, 'kitchen', osp.join(data, 'kitchen'), out,
                           AdditionOptions(mode='finetune'), img_prefix='images/',
                           log=lambda *_: None)
    assert addition.expert_map is None and addition.trainable_rows == {}
    cfg = Config.fromfile(out)
    assert 'moe_cfg' not in cfg.model and cfg.model.bbox_head.num_classes == 17
    assert cfg.train_dataloader.sampler.weights == {**{n: 0.0 for n in OLD}, 'kitchen': 1.0}
    old = torch.load(ckpt, weights_only=False)['state_dict']
    start = torch.load(addition.checkpoint, weights_only=True)['state_dict']
    key = 'bbox_head.cls_branches.0.weight'
    assert start[key].shape[0] == 17 and torch.equal(start[key][:14], old[key])
