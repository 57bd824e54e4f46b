"""Own VOC folders -> COCO json -> generated mixture config -> train -> test -> infer."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'tools')
SHORT = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
         'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
         'train_dataloader.batch_size=2']
LOADERS = ['test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
           'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False']


def write_voc_folder(root, classes, num_images, seed, lists=None):
    """A VOC tree of ``num_images`` 96x80 jpgs with 1-2 coloured boxes each."""
    rng = np.random.default_rng(seed)
    for sub in ('Annotations', 'JPEGImages'):
        (root / sub).mkdir(parents=True)
    for index in range(num_images):
        image = np.full((80, 96, 3), 200, np.uint8)
        objects = ''
        for _ in range(1 + index % 2):
            x1, y1 = rng.integers(2, 40), rng.integers(2, 30)
            x2, y2 = x1 + rng.integers(20, 50), y1 + rng.integers(20, 45)
            cls = classes[rng.integers(len(classes))]
            image[y1:y2, x1:x2] = rng.integers(0, 255, 3)
            objects += (f'<object><name>{cls}</name><difficult>0</difficult><bndbox>'
                        f'<xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin><xmax>{x2}</xmax>'
                        f'<ymax>{y2}</ymax></bndbox></object>')
        Image.fromarray(image).save(root / 'JPEGImages' / f'{index:04d}.jpg')
        (root / 'Annotations' / f'{index:04d}.xml').write_text(
            f'<annotation><size><width>96</width><height>80</height></size>{objects}'
            '</annotation>')
    if lists:
        (root / 'ImageSets' / 'Main').mkdir(parents=True)
        for split, ids in lists.items():
            (root / 'ImageSets' / 'Main' / f'{split}.txt').write_text(
                ''.join(f'{i:04d}\n' for i in ids))


def _run(args, cwd, ok=True):
    proc = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)
    if ok:
        assert proc.returncode == 0, f'{args}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}'
    return proc


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp('own')
    write_voc_folder(root / 'Cells', ('cell', 'debris'), 8, seed=0)  # no lists: hash split
    write_voc_folder(root / 'Roofs', ('roof', ), 6, seed=1,
                     lists=dict(train=range(4), test=range(4, 6)))
    return root


@pytest.mark.slow  # the tools as subprocesses, ~80 s
def test_convert_config_train_test_infer(folders, tmp_path):
    cells, roofs = str(folders / 'Cells'), str(folders / 'Roofs')
    _run([osp.join(TOOLS, 'dataset_converters', 'voc_to_coco.py'), cells, roofs,
          '--split-ratio', '0.6'], cwd=tmp_path)
    with open(osp.join(roofs, 'annotations', 'train.json')) as f:
        roof_train = json.load(f)
    assert [c['name'] for c in roof_train['categories']] == ['roof']
    # --split-ratio applies to both folders (it overrides Roofs' lists)
    assert osp.isfile(osp.join(cells, 'annotations', 'test.json'))

    config = str(tmp_path / 'cells_roofs_damex.py')
    out = _run([osp.join(TOOLS, 'misc', 'make_mixture_config.py'), cells, f'roofs={roofs}',
                '--method', 'damex', '--out', config], cwd=tmp_path).stdout
    assert '3 classes' in out
    work_dir = str(tmp_path / 'wd')
    _run([osp.join(TOOLS, 'train.py'), config, '--work-dir', work_dir, '--cfg-options', *SHORT,
          *LOADERS], cwd=tmp_path)
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    test = _run([osp.join(TOOLS, 'test.py'), config, ckpt, '--work-dir', str(tmp_path / 'wt'),
                 '--cfg-options', *LOADERS], cwd=tmp_path)
    assert 'cells/bbox_mAP' in test.stdout + test.stderr
    assert 'roofs/bbox_mAP' in test.stdout + test.stderr
    infer = _run([osp.join(TOOLS, 'infer.py'), config, ckpt, osp.join(roofs, 'JPEGImages'),
                  '--out-dir', str(tmp_path / 'inf'), '--score-thr', '0', '--no-progress'],
                 cwd=tmp_path)
    with open(tmp_path / 'inf' / 'preds' / '0000.json') as f:
        result = json.load(f)
    names = {box['name'] for box in result['predictions']}
    assert names <= {'cells/cell', 'cells/debris', 'roofs/roof'} and names
    # one expert per dataset by default, sorted names: cells -> 0, roofs -> 1
    assert {r['expert'] for r in result['routing'].values()} <= {0, 1}
    assert 'routed like' in infer.stdout


@pytest.mark.slow  # the tools as subprocesses, ~80 s
def test_errors_name_the_file_and_the_fix(folders, tmp_path):
    plain = tmp_path / 'plain'
    plain.mkdir()
    proc = _run([osp.join(TOOLS, 'dataset_converters', 'voc_to_coco.py'), str(plain)],
                cwd=tmp_path, ok=False)
    assert proc.returncode != 0 and 'no Annotations/ folder' in proc.stderr
    assert 'Traceback' not in proc.stderr
    proc = _run([osp.join(TOOLS, 'dataset_converters', 'voc_to_coco.py'),
                 str(folders / 'Cells'), '--classes', 'cell'], cwd=tmp_path, ok=False)
    assert "Unknown class names: 'debris'" in proc.stderr and '.xml' in proc.stderr
    assert '--classes' in proc.stderr and 'Traceback' not in proc.stderr
    proc = _run([osp.join(TOOLS, 'misc', 'make_mixture_config.py'), str(plain), '--method',
                 'gem', '--out', str(tmp_path / 'x.py')], cwd=tmp_path, ok=False)
    assert 'annotations/train.json: no such annotation file' in proc.stderr
    assert 'voc_to_coco.py' in proc.stderr and 'Traceback' not in proc.stderr
