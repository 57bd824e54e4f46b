"""mmdet's inferencer on our configs, tools/infer.py, and the checkpoint/config class check."""
import copy
import glob
import json
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config

import damex_mmdet  # noqa: F401  (registers modules)
from damex_mmdet.apis import (CheckpointClassesError, check_checkpoint_classes,
                              collect_image_paths, image_routing, infer_images, output_names,
                              routing_summary_markdown)
from damex_mmdet.datasets.synthetic import generate_default_benchmark

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs')
DAMEX = osp.join(CONFIGS, 'damex', 'damex-dino-tiny_r18_1xb4-600i_damex-default.py')
DENSE = osp.join(CONFIGS, 'dino', 'dino-tiny_r18_1xb4-600i_damex-default.py')
SHIPPED = sorted(p for p in glob.glob(osp.join(CONFIGS, '*', '*.py')) if '_base_' not in p)


def _config(path, data_root):
    cfg = Config.fromfile(path)
    for loader in ('train_dataloader', 'test_dataloader'):
        for name, ds in cfg[loader].dataset.datasets.items():
            ds.data_root = osp.join(data_root, name) + '/'
    for loader in ('train_dataloader', 'test_dataloader', 'val_dataloader'):
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    return cfg


def _write_checkpoint(cfg, path):
    """A checkpoint as the runner writes one: weights + meta.dataset_meta (+ MoE summary)."""
    from mmdet.registry import DATASETS, MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model))  # DINO edits its head config
    model.init_weights()
    train = cfg.train_dataloader.dataset.copy()
    train['lazy_init'] = True
    meta = dict(dataset_meta=DATASETS.build(train).metainfo)
    if hasattr(model, 'moe_summary'):
        meta['damex_moe'] = model.moe_summary()
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return model


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp('infer')
    data = str(root / 'data')
    generate_default_benchmark(data, scale=0.02, progress=False)
    cfg = _config(DAMEX, data)
    config = str(root / 'damex.py')
    cfg.dump(config)
    ckpt = str(root / 'damex.pth')
    _write_checkpoint(cfg, ckpt)
    return SimpleNamespace(root=root, data=data, cfg=cfg, config=config, ckpt=ckpt)


@pytest.mark.parametrize('path', SHIPPED, ids=lambda p: osp.relpath(p, CONFIGS))
def test_every_shipped_config_has_an_inference_pipeline(path):
    """mmdet's inferencers read test_dataloader.dataset.pipeline and the lazily built
    test dataset's metainfo; both must exist and match the head."""
    from mmdet.registry import DATASETS
    from mmdet.utils import get_test_pipeline_cfg, register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(path)
    pipeline = get_test_pipeline_cfg(cfg)
    assert pipeline[0]['type'] == 'LoadImageFromFile'
    assert pipeline[-1]['type'] == 'PackDetInputs'
    dataset_cfg = cfg.test_dataloader.dataset.copy()
    dataset_cfg['lazy_init'] = True
    classes = DATASETS.build(dataset_cfg).metainfo['classes']
    assert len(classes) == cfg.model.bbox_head.num_classes
    assert all('/' in name for name in classes)


def test_det_inferencer_matches_the_test_loop_without_a_dataset_name(workspace):
    """DetInferencer on a bare image path (no dataset id anywhere) predicts what the
    model predicts for that image through the test dataloader (which carries one)."""
    from mmdet.apis import DetInferencer
    from mmdet.registry import DATASETS
    from mmengine.dataset import pseudo_collate
    inferencer = DetInferencer(model=workspace.config, weights=workspace.ckpt, device='cpu',
                               show_progress=False)
    classes = inferencer.model.dataset_meta['classes']
    assert len(classes) == 17 and classes[0] == 'comic/person'
    assert inferencer.visualizer.dataset_meta['classes'] == classes
    dataset = DATASETS.build(workspace.cfg.test_dataloader.dataset)
    sample = dataset[len(dataset) - 1]  # the last dataset (xray)
    assert sample['data_samples'].metainfo['dataset_name'] == 'xray'
    path = sample['data_samples'].metainfo['img_path']
    got = inferencer(path, return_datasamples=True, no_save_vis=True,
                     no_save_pred=True)['predictions'][0].pred_instances
    model = inferencer.model.eval()
    with torch.no_grad():
        want = model.test_step(pseudo_collate([sample]))[0].pred_instances
    torch.testing.assert_close(got.bboxes, want.bboxes, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(got.scores, want.scores, atol=1e-5, rtol=1e-4)
    assert got.labels.tolist() == want.labels.tolist()
    assert 0 <= int(got.labels.min()) and int(got.labels.max()) < 17


def test_init_and_inference_detector(workspace):
    from mmdet.apis import inference_detector, init_detector
    model = init_detector(workspace.config, workspace.ckpt, device='cpu')
    image = sorted(glob.glob(osp.join(workspace.data, 'street', 'images', 'test', '*.png')))[0]
    result = inference_detector(model, image)
    assert len(result.pred_instances) > 0
    assert model.dataset_meta['classes'][10] == 'street/pedestrian'


def test_infer_tool_writes_boxes_routing_and_drawings(workspace, tmp_path):
    comic = osp.join(workspace.data, 'comic', 'images', 'test')
    xray = osp.join(workspace.data, 'xray', 'images', 'test', '*.png')
    out = tmp_path / 'out'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'infer.py'), workspace.config, workspace.ckpt,
         comic, xray, '--out-dir', str(out), '--score-thr', '0.0', '--batch-size', '2',
         '--no-progress'], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    images = collect_image_paths([comic, xray])
    preds = sorted(glob.glob(str(out / 'preds' / '*.json')))
    drawn = sorted(glob.glob(str(out / 'vis' / '*.png')))
    # one test image per dataset at this scale, both named 000001.png: kept apart
    assert [osp.basename(p) for p in images] == ['000001.png', '000001.png']
    assert len(preds) == len(drawn) == len(images)
    for path in preds:
        with open(path) as f:
            result = json.load(f)
        assert result['predictions'], 'score-thr 0 keeps every query'
        for box in result['predictions']:
            assert box['name'] == f"{box['dataset']}/{box['class_name']}"
        assert set(result['routing']) == {'decoder.layers.0.ffn', 'decoder.layers.2.ffn'}
        for route in result['routing'].values():
            experts = workspace.cfg.model.moe_cfg.expert_map
            assert route['routed_like'] == sorted(d for d, e in experts.items()
                                                  if route['expert'] in e)
    assert 'routing (top-1 expert per MoE layer' in proc.stdout
    assert (out / 'routing.md').read_text().startswith('| image |')


def test_dense_model_has_no_routing(workspace, tmp_path):
    cfg = _config(DENSE, workspace.data)
    ckpt = str(tmp_path / 'dense.pth')
    _write_checkpoint(cfg, ckpt)
    image = sorted(glob.glob(osp.join(workspace.data, 'signs', 'images', 'test', '*.png')))[0]
    results = infer_images(cfg, ckpt, [image], out_dir=str(tmp_path / 'o'), score_thr=0.0,
                           progress=False)
    assert 'routing' not in results[0] and results[0]['predictions']
    assert not (tmp_path / 'o' / 'routing.md').exists()


def test_bad_inputs_name_the_file_and_the_fix(workspace, tmp_path):
    text = tmp_path / 'notes.png'
    text.write_text('not an image')
    with pytest.raises(ValueError, match='notes.png: not an image'):
        collect_image_paths([str(text)])
    with pytest.raises(ValueError, match='no such file or folder'):
        collect_image_paths([str(tmp_path / 'missing' / '*.jpg')])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='folder holds no image'):
        collect_image_paths([str(tmp_path / 'empty')])
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'infer.py'), workspace.config, workspace.ckpt,
         str(text), '--out-dir', str(tmp_path / 'o')], capture_output=True, text=True,
        timeout=300)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith('tools/infer.py: ')
    assert 'notes.png: not an image' in proc.stderr and 'Traceback' not in proc.stderr
    # a MultiDataset test loader without a pipeline cannot serve the inferencer
    cfg = workspace.cfg.copy()
    cfg.test_dataloader = cfg.test_dataloader.copy()
    cfg.test_dataloader.dataset = cfg.test_dataloader.dataset.copy()
    cfg.test_dataloader.dataset.pop('pipeline')
    image = sorted(glob.glob(osp.join(workspace.data, 'comic', 'images', 'test', '*.png')))[0]
    with pytest.raises(ValueError, match='has no `pipeline`'):
        infer_images(cfg, workspace.ckpt, [image], progress=False)


def test_checkpoint_of_another_label_space_is_refused(workspace, tmp_path):
    check_checkpoint_classes(('a/x', 'b/y'), ('a/x', 'b/y'), 'c.pth', 'c.py')  # equal: fine
    check_checkpoint_classes(None, ('a/x', ), 'c.pth', 'c.py')  # unknown: not checked
    with pytest.raises(CheckpointClassesError, match=r"label 0: checkpoint 'b/y' vs config 'a/x'"):
        check_checkpoint_classes(('b/y', 'a/x'), ('a/x', 'b/y'), 'c.pth', 'c.py')
    # a checkpoint of the four road/art datasets against the six-dataset config
    state = torch.load(workspace.ckpt, weights_only=False)
    classes = list(state['meta']['dataset_meta']['classes'])
    state['meta']['dataset_meta']['classes'] = tuple(classes[3:] + classes[:3])
    other = str(tmp_path / 'permuted.pth')
    torch.save(state, other)
    image = sorted(glob.glob(osp.join(workspace.data, 'comic', 'images', 'test', '*.png')))[0]
    with pytest.raises(CheckpointClassesError, match='permuted.pth was trained with 17 classes'):
        infer_images(workspace.config, other, [image], progress=False)
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'test.py'), workspace.config,
                           other], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and 'tools/test.py: ' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_output_names_tell_equal_base_names_apart():
    assert output_names(['/a/x/1.png', '/a/y/1.png', '/a/y/2.png']) == \
        ['x__1.png', 'y__1.png', '2.png']
    assert len(set(output_names(['/a/1.png', '/a/1.png']))) == 2


def test_image_routing_takes_the_majority_expert():
    """Two images of 4 tokens: image 0 sends 3 tokens to expert 2, image 1 all to 0."""
    from damex_mmdet.moe import RoutingRecord
    index = torch.tensor([2, 2, 1, 2, 0, 0, 0, 0])[:, None]
    plan = SimpleNamespace(expert_index=index, probs=torch.zeros(8, 3))
    record = RoutingRecord(layer=None, name='decoder.layers.0.ffn', plan=plan,
                           kept=torch.ones(8, 1, dtype=torch.bool), batch_shape=(2, 4))
    routes = image_routing([record], {'a': [2], 'b': [2], 'c': [0], 'd': [1]})
    assert routes[0]['decoder.layers.0.ffn'] == dict(expert=2, share=0.75, routed_like=['a', 'b'])
    assert routes[1]['decoder.layers.0.ffn'] == dict(expert=0, share=1.0, routed_like=['c'])
    table = routing_summary_markdown([dict(image='/x/0.png', routing=routes[0]),
                                      dict(image='/x/1.png', routing=routes[1])])
    assert '| 0.png | 2 (75%; a, b) |' in table
    assert 'expert 0: 1 (c); expert 2: 1 (a, b)' in table
