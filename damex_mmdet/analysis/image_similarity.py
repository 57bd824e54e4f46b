"""How alike datasets look, from cheap image statistics (no trained model needed).

Per image, two descriptors of what a router sees first, the scene's look:

- **layout**: the image shrunk to 4 x 4 pixels, colour per cell (48 values in
  [0, 1]): where sky, road, walls or a dark background sit;
- **colour histogram**: 8 bins per colour channel (24 values, each
  channel's bins sum to 1): palette and contrast (grayscale, pastel, saturated).

A dataset's descriptor is the mean over ``images`` images drawn with a fixed
seed. Two datasets' similarity is the mean over the descriptors of
``1 - |a - b| / (|a| + |b|)`` (1: identical, 0: nothing in common). On the
built-in benchmark (32 images each) `street` and `signs` (one road style)
score 0.94; every other pair scores 0.79 or less (`xray` at most 0.56).
"""
import json
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np

__all__ = ['image_descriptors', 'dataset_look', 'look_similarity', 'similarity_matrix',
           'coco_image_paths']


def image_descriptors(image: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(48,) colour layout and (24,) colour histogram of an (H, W, 3) uint8 image."""
    import cv2
    pixels = image.astype(np.float32) / 255.0
    layout = cv2.resize(pixels, (4, 4), interpolation=cv2.INTER_AREA).reshape(-1)
    hist = np.concatenate([np.histogram(pixels[..., c], bins=8, range=(0.0, 1.0))[0]
                           for c in range(3)]).astype(np.float64)
    hist /= pixels.shape[0] * pixels.shape[1]
    return layout.astype(np.float64), hist


def coco_image_paths(folder: str, ann_file: str, img_prefix: str = '') -> List[str]:
    """Paths of the images of a COCO json annotation file, in file order."""
    with open(osp.join(folder, ann_file)) as f:
        images = json.load(f).get('images', [])
    return [osp.join(folder, img_prefix, image['file_name']) for image in images]


def dataset_look(paths: Sequence[str], images: int = 32, seed: int = 0) -> np.ndarray:
    """(72,) mean descriptors (layout, then histogram) of up to ``images`` seeded images.

    Raises:
        FileNotFoundError: an image that cannot be read (named).
        ValueError: no image.
    """
    import cv2
    if not paths:
        raise ValueError('a dataset without images has no look; check its annotation file.')
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(paths), min(images, len(paths)), replace=False)
    layouts, hists = [], []
    for index in sorted(chosen.tolist()):
        image = cv2.imread(paths[index], cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f'cannot read image {paths[index]}; check the folder and '
                                    'the file_name entries of the annotation file.')
        layout, hist = image_descriptors(image)
        layouts.append(layout)
        hists.append(hist)
    return np.concatenate([np.mean(layouts, 0), np.mean(hists, 0)])


def look_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over the two descriptors of ``1 - |a - b| / (|a| + |b|)``, in [0, 1]."""
    scores = []
    for part in (slice(0, 48), slice(48, 72)):
        x, y = a[part], b[part]
        scale = np.linalg.norm(x) + np.linalg.norm(y)
        scores.append(1.0 - np.linalg.norm(x - y) / scale if scale > 0 else 1.0)
    return float(np.mean(scores))


def similarity_matrix(looks: Dict[str, np.ndarray]) -> Tuple[List[str], np.ndarray]:
    """Dataset names and their (D, D) look similarity."""
    names = list(looks)
    matrix = np.array([[look_similarity(looks[a], looks[b]) for b in names] for a in names])
    return names, matrix
