"""Run a trained mixture detector on any images, with mmdet's own ``DetInferencer``.

No dataset label is needed or read: the shipped configs put a test pipeline
on the test ``MultiDataset`` (``test_dataloader.dataset.pipeline``, where
mmdet's inferencers look for it), and the model predicts in the combined
label space whose class names are ``'<dataset>/<class>'``.

For MoE detectors, :func:`image_routing` reads the routing records of the last
forward and tells, for every image and MoE layer, the expert most of its
tokens went to and the datasets the expert map assigns to that expert ("routed
like: watercolor, comic").

Shape shorthand: ``B`` images per batch, ``T`` tokens per image, ``E`` experts.
"""
import glob
import json
import os
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence

import torch

from damex_mmdet.moe import RoutingRecorder

__all__ = [
    'IMAGE_EXTENSIONS', 'CheckpointClassesError', 'check_checkpoint_classes',
    'check_config_matches_checkpoint', 'collect_image_paths', 'image_routing', 'infer_images',
    'output_names',
    'routing_summary_markdown'
]

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


class CheckpointClassesError(ValueError):
    """The checkpoint's label space differs from the config's."""


def _is_image_file(path: str) -> bool:
    from PIL import Image
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception:  # PIL raises many types for unreadable files
        return False
    return True


def collect_image_paths(inputs: Sequence[str]) -> List[str]:
    """Expand files, folders (their images, recursively) and glob patterns.

    Args:
        inputs (Sequence[str]): paths, folders or patterns such as
            ``'data/*.jpg'``.

    Returns:
        list[str]: image paths, in the order given (folders and globs sorted).

    Raises:
        ValueError: an input that matches nothing, a folder without images,
            or a file that is not a readable image (the message names it).
    """
    paths = []
    for item in inputs:
        if osp.isdir(item):
            found = sorted(
                osp.join(root, name) for root, _, names in os.walk(item) for name in names
                if name.lower().endswith(IMAGE_EXTENSIONS))
            if not found:
                raise ValueError(f'{item}: folder holds no image ({", ".join(IMAGE_EXTENSIONS)}); '
                                 'give a folder of images, image files or a glob.')
            paths += found
        elif osp.isfile(item):
            paths.append(item)
        else:
            found = sorted(p for p in glob.glob(item, recursive=True) if osp.isfile(p))
            if not found:
                raise ValueError(f'{item}: no such file or folder, and no file matches it as a '
                                 'glob pattern.')
            paths += found
    for path in paths:
        if not _is_image_file(path):
            raise ValueError(f'{path}: not an image that can be read (PIL cannot decode it); '
                             'remove it from the inputs.')
    return paths


def output_names(paths: Sequence[str]) -> List[str]:
    """Unique file names for outputs: the base name, with as many parent folders
    (joined by ``'__'``) as it takes to tell equal base names apart."""
    parts = [osp.normpath(osp.abspath(p)).split(os.sep) for p in paths]
    depth = [1] * len(paths)
    while True:
        names = ['__'.join(p[-d:]) for p, d in zip(parts, depth)]
        counts = Counter(names)
        clashes = [i for i, name in enumerate(names) if counts[name] > 1]
        if not clashes:
            return names
        grown = False
        for i in clashes:
            if depth[i] < len(parts[i]):
                depth[i] += 1
                grown = True
        if not grown:  # the same file given twice
            return [f'{i:06d}__{name}' if counts[name] > 1 else name
                    for i, name in enumerate(names)]


def check_checkpoint_classes(checkpoint_classes: Optional[Sequence[str]],
                             config_classes: Sequence[str], checkpoint: str,
                             config: str) -> None:
    """Refuse a checkpoint whose class names differ from the config's label space.

    Raises:
        CheckpointClassesError: naming both files, the first differing
            position and the fix.
    """
    if checkpoint_classes is None:
        return
    got, want = tuple(checkpoint_classes), tuple(config_classes)
    if got == want:
        return
    where = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    first = (f'label {where}: checkpoint {got[where]!r} vs config {want[where]!r}'
             if where < min(len(got), len(want)) else 'one list is a prefix of the other')
    raise CheckpointClassesError(
        f'{checkpoint} was trained with {len(got)} classes, {config} defines {len(want)} '
        f'({first}); predictions would carry wrong names. Use the config the checkpoint was '
        'trained with (its copy in the work_dir).')


def check_config_matches_checkpoint(config, checkpoint: str,
                                    config_name: Optional[str] = None) -> None:
    """:func:`check_checkpoint_classes` of a config (path or ``Config``) and a checkpoint file.

    The config's classes are those of its test dataset, built lazily (no
    annotation file is read); a checkpoint without ``meta.dataset_meta`` or
    a config without a test dataset is not checked.
    """
    from mmengine.config import Config

    from damex_mmdet.utils.safe_checkpoint import load_checkpoint_file
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if config_name is None:
        config_name = config if isinstance(config, str) else 'the config'
    config_classes = _config_classes(cfg)
    if config_classes is None:
        return
    meta = load_checkpoint_file(checkpoint, map_location='cpu').get('meta', {}) or {}
    check_checkpoint_classes((meta.get('dataset_meta') or {}).get('classes'), config_classes,
                             checkpoint, config_name)


def image_routing(records, expert_map: Optional[Dict[str, Sequence[int]]] = None) -> List[dict]:
    """Per image and MoE layer: the expert that most of its tokens chose (top-1).

    Args:
        records (list[RoutingRecord]): the routing records of one forward of
            ``B`` images (batch-first tokens, ``batch_shape = (B, T)``).
        expert_map (dict[str, Sequence[int]], optional): dataset -> experts;
            gives the ``routed_like`` datasets.

    Returns:
        list[dict]: ``B`` entries ``{layer: {'expert': int, 'share': float,
        'routed_like': [dataset, ...]}}``, ``share`` being the fraction of the
        image's ``T`` tokens whose top-1 choice is ``expert``.
    """
    if not records:
        return []
    batch = records[0].batch_shape[0]
    out = [dict() for _ in range(batch)]
    for record in records:
        b, t = record.batch_shape
        top1 = record.plan.expert_index[:, 0].reshape(b, t).cpu()
        num_experts = int(record.plan.probs.shape[-1])
        counts = torch.stack([torch.bincount(row, minlength=num_experts) for row in top1])
        for image, row in enumerate(counts):
            expert = int(row.argmax())
            routed_like = sorted(name for name, experts in (expert_map or {}).items()
                                 if expert in experts)
            out[image][record.name] = dict(expert=expert, share=float(row[expert]) / t,
                                           routed_like=routed_like)
    return out


def routing_summary_markdown(results: Sequence[dict]) -> str:
    """Markdown tables of the routing of :func:`infer_images` results.

    One row per image (the expert of each MoE layer and the datasets mapped to
    it), then per layer how many images each expert took.
    """
    layers = sorted({layer for result in results for layer in result.get('routing', {})})
    if not layers:
        return ''

    def cell(route):
        like = ', '.join(route['routed_like']) or 'no dataset'
        return f"{route['expert']} ({100 * route['share']:.0f}%; {like})"

    lines = ['| image | ' + ' | '.join(layers) + ' |', '|---' * (len(layers) + 1) + '|']
    for result in results:
        routes = result.get('routing', {})
        lines.append(f"| {result.get('name') or osp.basename(result['image'])} | " +
                     ' | '.join(cell(routes[layer]) if layer in routes else '-'
                                for layer in layers) + ' |')
    lines += ['', '| layer | images per expert (routed like) |', '|---|---|']
    for layer in layers:
        counter = Counter((r['routing'][layer]['expert'],
                           ', '.join(r['routing'][layer]['routed_like']))
                          for r in results if layer in r.get('routing', {}))
        text = '; '.join(f'expert {e}: {n} ({like or "no dataset"})'
                         for (e, like), n in sorted(counter.items()))
        lines.append(f'| {layer} | {text} |')
    return '\n'.join(lines) + '\n'


def _prediction_entries(pred, classes: Sequence[str], score_thr: float) -> List[dict]:
    instances = pred.pred_instances
    keep = instances.scores >= score_thr
    boxes = instances.bboxes[keep].cpu().numpy().tolist()
    scores = instances.scores[keep].cpu().numpy().tolist()
    labels = instances.labels[keep].cpu().numpy().tolist()
    entries = []
    for box, score, label in zip(boxes, scores, labels):
        name = classes[label] if 0 <= label < len(classes) else str(label)
        dataset, _, cls = name.rpartition('/')
        entries.append(dict(bbox=[round(v, 2) for v in box], score=round(score, 4),
                            label=int(label), name=name, dataset=dataset or None,
                            class_name=cls))
    return entries


def infer_images(config, checkpoint: str, inputs: Sequence[str], out_dir: Optional[str] = None,
                 score_thr: float = 0.3, device: str = 'cpu', batch_size: int = 1,
                 progress: bool = True, draw: bool = True) -> List[dict]:
    """Detect objects in images with ``mmdet.apis.DetInferencer``; record MoE routing.

    Args:
        config (str | Config): the model's config (a shipped one or its copy
            in the work_dir).
        checkpoint (str): weights; loaded with the safe loader of
            :mod:`damex_mmdet.utils.safe_checkpoint`.
        inputs (Sequence[str]): files, folders or globs
            (:func:`collect_image_paths`).
        out_dir (str, optional): writes ``vis/<image>`` (drawn boxes with
            ``dataset/class`` names), ``preds/<image>.json`` and, for MoE
            models, ``routing.md``. None writes nothing.
        score_thr (float): boxes below this score are neither drawn nor
            written.
        device (str): e.g. ``'cpu'``, ``'cuda:0'``.
        batch_size (int): images per forward.
        progress (bool): show a progress bar.
        draw (bool): write the drawn images (needs ``out_dir``).

    Returns:
        list[dict]: one entry per image: ``image`` (path), ``name`` (its
        output file name, unique among the inputs), ``predictions``
        (``bbox`` x1 y1 x2 y2 in image pixels, ``score``, ``label``,
        ``name`` ``'dataset/class'``, ``dataset``, ``class_name``) and, for
        MoE models, ``routing`` (see :func:`image_routing`).
    """
    from mmdet.apis import DetInferencer
    from mmengine.config import Config
    from mmengine.utils import ProgressBar

    paths = collect_image_paths(inputs)
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    config_name = config if isinstance(config, str) else 'the config'
    _check_inference_pipeline(cfg, config_name)
    check_config_matches_checkpoint(cfg, checkpoint, config_name)
    inferencer = DetInferencer(model=cfg, weights=checkpoint, device=device, show_progress=False)
    model = inferencer.model
    moe = hasattr(model, 'moe_summary')
    expert_map = model.expert_map.to_dict() if getattr(model, 'expert_map', None) else None
    classes = tuple(model.dataset_meta.get('classes', ()))
    if out_dir:
        os.makedirs(osp.join(out_dir, 'preds'), exist_ok=True)
    bar = ProgressBar(len(paths)) if progress else None
    names = dict(zip(paths, output_names(paths)))
    results = []
    for images, data in inferencer.preprocess(paths, batch_size=batch_size):
        with RoutingRecorder() as recorder:
            preds = inferencer.forward(data)
        sessions = recorder.pop()
        routes = image_routing(sessions[-1].records, expert_map) if moe and sessions else []
        for index, (path, pred) in enumerate(zip(images, preds)):
            result = dict(image=path, name=names[path],
                          predictions=_prediction_entries(pred, classes, score_thr))
            if moe:
                result['routing'] = routes[index] if index < len(routes) else {}
            results.append(result)
            if out_dir:
                name = result['name']
                with open(osp.join(out_dir, 'preds', osp.splitext(name)[0] + '.json'), 'w') as f:
                    json.dump(result, f, indent=1)
                if draw:
                    _draw(inferencer.visualizer, path, pred, score_thr,
                          osp.join(out_dir, 'vis', name))
            if bar is not None:
                bar.update()
    if bar is not None:
        print(flush=True)
    if out_dir and moe:
        with open(osp.join(out_dir, 'routing.md'), 'w') as f:
            f.write(routing_summary_markdown(results))
    return results


def _draw(visualizer, path: str, pred, score_thr: float, out_file: str) -> None:
    """Draw the boxes with mmdet's visualiser (``dataset/class`` labels)."""
    import mmcv
    image = mmcv.imconvert(mmcv.imread(path), 'bgr', 'rgb')
    visualizer.add_datasample(osp.basename(path), image, pred, draw_gt=False, show=False,
                              pred_score_thr=score_thr, out_file=out_file)


def _config_classes(cfg) -> Optional[tuple]:
    """Classes of the config's test dataset (built lazily: no annotation is read)."""
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    dataset_cfg = cfg.get('test_dataloader', {}).get('dataset')
    if dataset_cfg is None:
        return None
    dataset_cfg = dataset_cfg.copy()
    dataset_cfg['lazy_init'] = True
    classes = DATASETS.build(dataset_cfg).metainfo.get('classes')
    return tuple(classes) if classes is not None else None


def _check_inference_pipeline(cfg, config_name: str) -> None:
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    if dataset.get('type') in ('MultiDataset', 'damex_mmdet.MultiDataset') and \
            not dataset.get('pipeline'):
        raise ValueError(
            f'{config_name}: test_dataloader.dataset (MultiDataset) has no `pipeline`; mmdet\'s '
            'inferencer applies that one to images of unknown dataset. Add e.g. '
            'pipeline=<your test pipeline> next to `datasets` (the shipped configs do).')
