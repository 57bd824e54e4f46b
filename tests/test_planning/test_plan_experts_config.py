"""tools/plan_experts.py: --config path with a tiny ResNet-18 on a tiny COCO fixture."""
import json
import os.path as osp

import numpy as np
import pytest
from damex_mmdet.testing.scripts import load_script

torch = pytest.importorskip('torch')
cv2 = pytest.importorskip('cv2')
pytest.importorskip('mmdet')

TOOL = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'plan_experts.py')
CONFIG = """
model = dict(
    type='DINO',
    moe_cfg=dict(num_experts=2),
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ),
                  norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True,
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')))
pipeline = [
    dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(32, 32), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor', 'dataset_name'))]
train_dataloader = dict(batch_size=1, dataset=dict(type='MultiDataset', datasets=dict(
{datasets})))
"""
DATASET = ("    {name}=dict(type='CocoDataset', data_root='{root}', ann_file='ann.json', "
           "data_prefix=dict(img='images/'), metainfo=dict(classes={classes!r}), "
           "pipeline=pipeline),\n")
# name -> (classes, images, BGR base colour); street and road look alike, art does not.
FIXTURE = dict(street=(('car', 'person'), 4, (200, 40, 30)),
               road=(('truck', ), 3, (190, 50, 40)),
               art=(('cat', ), 3, (20, 190, 230)))


def _write_dataset(root, classes, num_images, colour, rng):
    images, anns = [], []
    for i in range(num_images):
        img = np.clip(np.array(colour) + rng.integers(-20, 20, (48, 64, 3)), 0, 255)
        cv2.imwrite(osp.join(root, 'images', f'{i}.png'), img.astype(np.uint8))
        images.append(dict(id=i + 1, file_name=f'{i}.png', width=64, height=48))
        for k in range(2):
            anns.append(dict(id=len(anns) + 1, image_id=i + 1, area=144, iscrowd=0,
                             category_id=(i + k) % len(classes) + 1,
                             bbox=[4 + 20 * k, 4, 12, 12]))
    cats = [dict(id=j + 1, name=c) for j, c in enumerate(classes)]
    with open(osp.join(root, 'ann.json'), 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=cats), f)


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    base = tmp_path_factory.mktemp('gem_fixture')
    rng = np.random.default_rng(0)
    entries = ''
    for name, (classes, num_images, colour) in FIXTURE.items():
        (base / name / 'images').mkdir(parents=True)
        _write_dataset(str(base / name), classes, num_images, colour, rng)
        entries += DATASET.format(name=name, root=base / name, classes=classes)
    path = base / 'cfg.py'
    path.write_text(CONFIG.replace('{datasets}', entries))
    return str(path)


@pytest.fixture(scope='module')
def tool():
    return load_script(TOOL)


def test_similar_datasets_share_an_expert(tool, config, tmp_path):
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type='ResNet', depth=18, out_indices=(3, )))
    ckpt = str(tmp_path / 'detector.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v
                                for k, v in backbone.state_dict().items()}), ckpt)
    out_dir = str(tmp_path / 'out')
    mapping = tool.main(['--config', config, '--checkpoint', ckpt, '--images-per-dataset', '3',
                         '--out-dir', out_dir])
    assert mapping.num_experts == 2  # from model.moe_cfg.num_experts
    # expert numbers are arbitrary (they follow the dataset-id order); the grouping is not
    experts = mapping.expert_map
    assert experts['street'] == experts['road'] and experts['art'] != experts['street']
    assert sorted(experts['street'] + experts['art']) == [0, 1]
    assert mapping.affinity.min() >= 0 and mapping.affinity.max() <= 1
    for name in ('expert_map.json', 'expert_map_snippet.py', 'plan.png'):
        assert osp.getsize(osp.join(out_dir, name)) > 0


def test_more_experts_than_datasets_splits_classes(tool, config, tmp_path):
    # capacity 3 images: no two units (2-3 images each) fit one expert, so every unit
    # gets its own expert whatever the affinities
    mapping = tool.main(['--config', config, '--num-experts', '4', '--demand', 'images',
                         '--capacity', '3', '--images-per-dataset', '2', '--out-dir',
                         str(tmp_path)])
    # street (2 classes, 4 images, 4 instances each) is split into two units of 2 images.
    # units in dataset-id order (sorted names)
    assert [u.name for u in mapping.units] == ['art', 'road', 'street[0]', 'street[1]']
    np.testing.assert_allclose(mapping.demand, [3, 3, 2, 2])
    assert len(mapping.expert_map['street']) == 2
    assert set(mapping.class_expert_map['street']) == {'car', 'person'}
    assert sorted(e for v in mapping.expert_map.values() for e in v) == [0, 1, 2, 3]


def test_config_errors(tool, config, tmp_path):
    with pytest.raises(ValueError, match='only 4 classes'):
        tool.main(['--config', config, '--num-experts', '5', '--out-dir', str(tmp_path)])
    bad = str(tmp_path / 'bad.pth')
    torch.save(dict(state_dict={'head.weight': torch.zeros(1)}), bad)
    with pytest.raises(ValueError, match='no key matches the backbone ResNet'):
        tool.main(['--config', config, '--checkpoint', bad, '--out-dir', str(tmp_path)])


def test_write_config_replaces_the_parents_map(tool, config, tmp_path):
    """plan -> train without editing: the child config inherits the GEM config and its
    expert_map replaces (does not merge into) the inherited one."""
    from mmengine.config import Config
    gem = osp.join(osp.dirname(TOOL), '..', 'configs', 'gem',
                   'gem-dino-tiny_r18_1xb4-600i_damex-default.py')
    child = str(tmp_path / 'sub' / 'gem-planned.py')
    mapping = tool.main(['--config', config, '--images-per-dataset', '2', '--out-dir',
                         str(tmp_path), '--write-config', child, '--base-config', gem])
    cfg = Config.fromfile(child)
    assert dict(cfg.model.moe_cfg.expert_map) == mapping.expert_map  # no watercolor & co.
    assert cfg.model.moe_cfg.num_experts == mapping.num_experts == 2
    assert cfg.model.moe_cfg.router.type == 'FixedMapRouter'  # the rest is inherited
    # a parent without a map: mmengine leaves the _delete_ marker, ExpertMap skips it
    bare = str(tmp_path / 'bare.py')
    tool.main(['--config', config, '--images-per-dataset', '2', '--out-dir', str(tmp_path),
               '--write-config', bare])
    from damex_mmdet.moe import ExpertMap
    raw = Config.fromfile(bare).model.moe_cfg.expert_map
    assert ExpertMap(dict(raw), 2).to_dict() == mapping.expert_map
