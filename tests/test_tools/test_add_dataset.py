"""tools/add_dataset.py: a thin command line; bad input ends with a message, not a traceback."""
import os.path as osp

import pytest

from damex_mmdet.testing.scripts import load_script

add_dataset = load_script(osp.join(osp.dirname(__file__), '..', '..', 'tools', 'add_dataset.py'))


def test_a_missing_checkpoint_is_named(tmp_path):
    config = tmp_path / 'c.py'
    config.write_text('x = 1\n')
    with pytest.raises(SystemExit, match=r'add_dataset.py: checkpoint .*nowhere.pth can not be '
                       'found'):
        add_dataset.main([str(config), str(tmp_path / 'nowhere.pth'), f'new={tmp_path}',
                          '--out', str(tmp_path / 'o.py')])


def test_the_options_reach_the_library(monkeypatch, tmp_path):
    seen = {}

    def fake(config, checkpoint, name, folder, out, options, *files):
        seen.update(name=name, folder=folder, options=options, files=files)
        raise ValueError('stop here')

    monkeypatch.setattr(add_dataset, 'add_dataset', fake)
    with pytest.raises(SystemExit, match='add_dataset.py: stop here'):
        add_dataset.main(['c.py', 'k.pth', 'cells=/data/Cells', '--out', 'o.py', '--mode',
                          'replay', '--expert', 'xray', '--shots', '10', '--max-iters', '600',
                          '--img-prefix', 'images/'])
    assert seen['name'] == 'cells' and seen['folder'] == '/data/Cells'
    options = seen['options']
    assert (options.mode, options.expert, options.shots, options.max_iters) == (
        'replay', 'xray', 10, 600)
    assert seen['files'] == ('annotations/train.json', 'annotations/test.json', 'images/')
