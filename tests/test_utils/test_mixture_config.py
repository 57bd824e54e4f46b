"""make_mixture_config's library: the written config builds the mixture it describes."""
import json

import pytest
from mmengine.config import Config

from damex_mmdet.utils.mixture_config import (MIXTURE_METHODS, MixtureDataset, load_expert_map,
                                              mixture_config_text, parse_dataset_arg)


def _coco_folder(root, classes):
    (root / 'annotations').mkdir(parents=True)
    for split in ('train', 'test'):
        coco = dict(images=[], annotations=[],
                    categories=[dict(id=i + 1, name=c) for i, c in enumerate(classes)])
        (root / 'annotations' / f'{split}.json').write_text(json.dumps(coco))
    return str(root)


@pytest.fixture
def datasets(tmp_path):
    return [MixtureDataset('roofs', _coco_folder(tmp_path / 'Roofs', ['roof'])),
            MixtureDataset('cells', _coco_folder(tmp_path / 'Cells', ['cell', 'debris']))]


@pytest.mark.parametrize('method', MIXTURE_METHODS)
def test_config_inherits_the_method_and_replaces_data_and_map(datasets, method, tmp_path):
    path = tmp_path / f'{method}.py'
    path.write_text(mixture_config_text(datasets, method))
    cfg = Config.fromfile(str(path))
    assert set(cfg.train_dataloader.dataset.datasets) == {'roofs', 'cells'}  # base's replaced
    assert cfg.test_dataloader.dataset.pipeline  # DetInferencer's pipeline
    assert cfg.model.bbox_head.num_classes == 3
    assert cfg.train_dataloader.dataset.datasets.cells.metainfo.classes == ('cell', 'debris')
    if method == 'dense':
        assert 'moe_cfg' not in cfg.model
    else:
        # one expert per dataset in sorted order; the base's six datasets are gone
        assert dict(cfg.model.moe_cfg.expert_map) == {'cells': [0], 'roofs': [1]}
        assert cfg.model.moe_cfg.num_experts == 2
    if method == 'gem':
        assert cfg.model.moe_cfg.router.type == 'FixedMapRouter'
    routers = dict(remoe='ReLURouter', softmoe='SoftMoERouter', moepp='MoEPlusPlusRouter')
    if method in routers:
        assert cfg.model.moe_cfg.router.type == routers[method]


def test_errors(datasets, tmp_path):
    with pytest.raises(ValueError, match='one entry per dataset'):
        mixture_config_text(datasets, 'damex', expert_map={'cells': [0]})
    with pytest.raises(ValueError, match='uses expert 3'):
        mixture_config_text(datasets, 'gem', expert_map={'cells': [0], 'roofs': [3]},
                            num_experts=2)
    with pytest.raises(ValueError, match='dense detector has no experts'):
        mixture_config_text(datasets, 'dense', num_experts=2)
    with pytest.raises(FileNotFoundError, match='voc_to_coco.py'):
        MixtureDataset('x', str(tmp_path))
    with pytest.raises(ValueError, match='dataset name'):
        MixtureDataset('a/b', str(tmp_path))
    assert parse_dataset_arg('data/My_Set/') == ('my_set', 'data/My_Set/')
    assert parse_dataset_arg('x=data/y') == ('x', 'data/y')
    assert load_expert_map('{"a": [0], "b": [1, 2]}') == {'a': [0], 'b': [1, 2]}
    with pytest.raises(ValueError, match='neither a file nor JSON'):
        load_expert_map('a=0')
