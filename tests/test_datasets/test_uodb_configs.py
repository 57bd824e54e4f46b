"""The UODB configs are the spec's rendering: regenerate and diff."""
import os.path as osp
import shutil
from dataclasses import replace

import pytest
from mmengine.config import Config

from damex_mmdet.datasets.uodb import UODB_DATASETS
from damex_mmdet.datasets.uodb_configs import (UODB_MIXTURES, UODBMixture, render_dataset_config,
                                               render_mixture_config, render_uodb_configs,
                                               stale_uodb_configs)
from damex_mmdet.testing.scripts import load_script

REPO = osp.join(osp.dirname(__file__), '..', '..')
CONFIG_DIR = osp.join(REPO, 'configs', '_base_', 'datasets', 'uodb')
TOOL = osp.join(REPO, 'tools', 'misc', 'generate_uodb_configs.py')


def test_committed_configs_are_what_the_spec_renders():
    stale = stale_uodb_configs(CONFIG_DIR)
    assert stale == [], f'regenerate with python {TOOL}: {stale}'


def test_every_dataset_and_mixture_has_a_file():
    files = render_uodb_configs()
    assert {f'{name}.py' for name in UODB_DATASETS} <= set(files)
    assert {f'{stem}.py' for stem in UODB_MIXTURES} <= set(files)


def test_a_spec_change_reaches_the_rendered_config(tmp_path):
    spec = replace(UODB_DATASETS['kitti'], classes=('pedestrian', 'cyclist', 'car'),
                   aliases=(), short_side=512)
    path = tmp_path / 'kitti.py'
    path.write_text(render_dataset_config(spec))
    cfg = Config.fromfile(str(path))
    assert cfg.uodb_kitti_classes == ('pedestrian', 'cyclist', 'car')
    assert cfg.uodb_kitti_train.metainfo.classes == cfg.uodb_kitti_classes
    assert cfg.uodb_kitti_test.ann_file == 'annotations/val.json' and cfg.uodb_kitti_test.test_mode
    assert 'uodb_{train,test}_pipeline_s512' in path.read_text()


def test_mixture_names_only_uodb_datasets():
    with pytest.raises(ValueError, match=r"\['mnist'\].*not UODB datasets"):
        render_mixture_config(UODBMixture(('kitti', 'mnist'), ('bad', )))


def test_check_mode_names_stale_files(tmp_path):
    tool = load_script(TOOL)
    copy = tmp_path / 'uodb'
    shutil.copytree(CONFIG_DIR, copy)
    assert tool.main(['--config-dir', str(copy), '--check']) == 0
    edited = copy / 'lisa.py'
    edited.write_text(edited.read_text().replace("'stop'", "'halt'"))
    (copy / 'voc.py').unlink()
    assert sorted(stale_uodb_configs(str(copy))) == [str(copy / 'lisa.py'), str(copy / 'voc.py')]
    assert tool.main(['--config-dir', str(copy), '--check']) == 1
    assert tool.main(['--config-dir', str(copy)]) == 0  # rewrite
    assert stale_uodb_configs(str(copy)) == []
