"""Drawing helpers of the synthetic multi-domain benchmark (numpy + Pillow).

Every class is drawn as a *glyph*: a few primitives in box-normalised
coordinates ``(u, v)`` in ``[0, 1]^2`` whose union touches all four edges of
the box, so that the annotated box is the tight box of the drawn object.
A *style* turns the same glyphs into different domains: it owns the
background, the colour tone (pastel, vivid, natural), outlines, blur and
grain. Everything is a pure function of a ``numpy.random.Generator``, so the
same seed gives the same pixels.

Shapes: an image is ``W`` pixels wide and ``H`` high; a box is
``(x0, y0, x1, y1)`` in integer pixels with ``x1``/``y1`` exclusive; RGB
arrays are ``uint8`` of shape ``(H, W, 3)``, grayscale ones ``(H, W)``.
"""
import colorsys
from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ['Glyph', 'GLYPHS', 'STYLES', 'draw_glyph', 'render_scene']

RGB = Tuple[int, int, int]
Box = Tuple[int, int, int, int]


class Glyph(NamedTuple):
    """How one class is drawn.

    Attributes:
        aspect (float): Typical width / height of the object.
        parts (tuple): ``(kind, geometry, role[, width])`` primitives drawn in
            order. ``kind`` is ``rect``, ``rrect``, ``ellipse``, ``ring``,
            ``poly`` or ``line``; ``geometry`` is ``(u0, v0, u1, v1)`` or a
            tuple of ``(u, v)`` points; ``role`` names a colour (see
            :func:`_object_colours`); ``width`` (rings and lines) is a
            fraction of the box's shorter side.
        mirror (bool): Whether the glyph may be drawn left-right mirrored.
        aspect_jitter (float): Relative spread of the sampled aspect ratio.
    """
    aspect: float
    parts: tuple
    mirror: bool = False
    aspect_jitter: float = 0.1


_PERSON = (('ellipse', (0.25, 0.0, 0.75, 0.2), 'skin'),
           ('poly', ((0.15, 0.21), (0.85, 0.21), (1.0, 0.58), (0.0, 0.58)), 'main'),
           ('rect', (0.18, 0.56, 0.46, 1.0), 'dark'),
           ('rect', (0.54, 0.56, 0.82, 1.0), 'dark'))
_CAR = (('poly', ((0.25, 0.0), (0.7, 0.0), (0.86, 0.42), (0.12, 0.42)), 'main'),
        ('poly', ((0.3, 0.08), (0.46, 0.08), (0.46, 0.36), (0.22, 0.36)), 'glass'),
        ('poly', ((0.52, 0.08), (0.67, 0.08), (0.77, 0.36), (0.52, 0.36)), 'glass'),
        ('rrect', (0.0, 0.38, 1.0, 0.82), 'main'),
        ('rect', (0.92, 0.47, 1.0, 0.58), 'yellow'),
        ('ellipse', (0.12, 0.6, 0.36, 1.0), 'black'),
        ('ellipse', (0.64, 0.6, 0.88, 1.0), 'black'),
        ('ellipse', (0.19, 0.72, 0.29, 0.88), 'gray'),
        ('ellipse', (0.71, 0.72, 0.81, 0.88), 'gray'))
_SIGN_STOP = (('poly', ((0.3, 0.0), (0.7, 0.0), (1.0, 0.3), (1.0, 0.7), (0.7, 1.0),
                        (0.3, 1.0), (0.0, 0.7), (0.0, 0.3)), 'white'),
              ('poly', ((0.33, 0.06), (0.67, 0.06), (0.94, 0.33), (0.94, 0.67), (0.67, 0.94),
                        (0.33, 0.94), (0.06, 0.67), (0.06, 0.33)), 'red'),
              ('rect', (0.2, 0.42, 0.8, 0.58), 'white'))

GLYPHS: Dict[str, Glyph] = {
    'person': Glyph(0.45, _PERSON),
    'pedestrian': Glyph(0.42, _PERSON),
    'car': Glyph(1.8, _CAR, mirror=True),
    'vehicle': Glyph(1.7, _CAR, mirror=True),
    'dog': Glyph(1.4, (
        ('poly', ((0.84, 0.42), (0.95, 0.0), (1.0, 0.04), (0.92, 0.46)), 'main'),
        ('rect', (0.28, 0.6, 0.36, 1.0), 'main'), ('rect', (0.42, 0.6, 0.5, 1.0), 'main'),
        ('rect', (0.66, 0.6, 0.74, 1.0), 'main'), ('rect', (0.8, 0.6, 0.88, 1.0), 'main'),
        ('ellipse', (0.22, 0.3, 0.92, 0.72), 'main'),
        ('ellipse', (0.0, 0.1, 0.36, 0.55), 'main'),
        ('poly', ((0.05, 0.2), (0.12, 0.0), (0.2, 0.15)), 'dark'),
        ('poly', ((0.2, 0.15), (0.28, 0.0), (0.34, 0.22)), 'dark'),
        ('ellipse', (0.0, 0.34, 0.07, 0.44), 'black')), mirror=True),
    'cyclist': Glyph(0.95, (
        ('ring', (0.0, 0.56, 0.44, 1.0), 'black', 0.07),
        ('ring', (0.56, 0.56, 1.0, 1.0), 'black', 0.07),
        ('line', ((0.22, 0.78), (0.45, 0.56), (0.78, 0.78), (0.22, 0.78)), 'accent', 0.05),
        ('ellipse', (0.42, 0.0, 0.62, 0.18), 'skin'),
        ('poly', ((0.38, 0.18), (0.64, 0.18), (0.62, 0.5), (0.4, 0.56)), 'main'),
        ('poly', ((0.4, 0.5), (0.56, 0.5), (0.6, 0.8), (0.5, 0.8)), 'dark')), mirror=True),
    'stop': Glyph(1.0, _SIGN_STOP),
    'warning': Glyph(1.0, (
        ('poly', ((0.5, 0.0), (1.0, 0.5), (0.5, 1.0), (0.0, 0.5)), 'black'),
        ('poly', ((0.5, 0.08), (0.92, 0.5), (0.5, 0.92), (0.08, 0.5)), 'yellow'),
        ('rect', (0.46, 0.25, 0.54, 0.6), 'black'),
        ('ellipse', (0.45, 0.66, 0.55, 0.76), 'black'))),
    'speedlimit': Glyph(0.8, (
        ('rect', (0.0, 0.0, 1.0, 1.0), 'black'), ('rect', (0.07, 0.05, 0.93, 0.95), 'white'),
        ('rect', (0.2, 0.12, 0.8, 0.22), 'black'),
        ('rect', (0.18, 0.4, 0.46, 0.86), 'black'), ('rect', (0.54, 0.4, 0.82, 0.86), 'black'),
        ('rect', (0.26, 0.5, 0.38, 0.76), 'white'), ('rect', (0.62, 0.5, 0.74, 0.76), 'white'))),
    'noturn': Glyph(1.0, (
        ('rect', (0.0, 0.0, 1.0, 1.0), 'black'), ('rect', (0.06, 0.06, 0.94, 0.94), 'white'),
        ('poly', ((0.28, 0.5), (0.48, 0.3), (0.48, 0.42), (0.68, 0.42), (0.68, 0.8),
                  (0.58, 0.8), (0.58, 0.54), (0.48, 0.54), (0.48, 0.7)), 'black'),
        ('ring', (0.14, 0.14, 0.86, 0.86), 'red', 0.08),
        ('line', ((0.24, 0.24), (0.76, 0.76)), 'red', 0.08)), mirror=True),
    'bottle': Glyph(0.35, (
        ('rect', (0.35, 0.0, 0.65, 0.08), 'accent'), ('rect', (0.38, 0.08, 0.62, 0.3), 'main'),
        ('poly', ((0.38, 0.28), (0.62, 0.28), (1.0, 0.44), (0.0, 0.44)), 'main'),
        ('rrect', (0.0, 0.4, 1.0, 1.0), 'main'), ('rect', (0.0, 0.56, 1.0, 0.8), 'white'))),
    'can': Glyph(0.6, (
        ('rect', (0.0, 0.08, 1.0, 0.92), 'main'), ('ellipse', (0.0, 0.84, 1.0, 1.0), 'main'),
        ('ellipse', (0.0, 0.0, 1.0, 0.16), 'gray'), ('rect', (0.0, 0.4, 1.0, 0.6), 'accent'))),
    'box': Glyph(0.75, (
        ('rect', (0.0, 0.12, 0.8, 1.0), 'main'),
        ('poly', ((0.0, 0.12), (0.2, 0.0), (1.0, 0.0), (0.8, 0.12)), 'white'),
        ('poly', ((0.8, 0.12), (1.0, 0.0), (1.0, 0.88), (0.8, 1.0)), 'dark'),
        ('ellipse', (0.12, 0.35, 0.68, 0.72), 'accent')), mirror=True),
    # Lesions are not line art: the x-ray style paints them as soft blobs.
    'lesion': Glyph(1.0, (), aspect_jitter=0.35),  # no parts: only in the xray style
}

# Base colours per class (one is drawn per object, then jittered).
_PALETTES: Dict[str, Sequence[RGB]] = {
    'person': ((45, 95, 200), ), 'car': ((205, 45, 45), ), 'dog': ((165, 105, 55), ),
    'pedestrian': ((40, 60, 140), (40, 120, 60), (120, 50, 120), (90, 70, 50)),
    'cyclist': ((235, 130, 20), (220, 200, 30)),
    'vehicle': ((200, 30, 30), (30, 70, 190), (230, 230, 230), (60, 60, 70), (160, 165, 170)),
    'bottle': ((40, 150, 70), (120, 70, 30)), 'can': ((200, 30, 40), (30, 90, 200)),
    'box': ((235, 190, 40), (230, 120, 40)),
}
_ACCENTS = ((250, 250, 250), (250, 210, 40), (30, 30, 30), (40, 170, 220), (230, 60, 60))
_FIXED = {'black': (25, 25, 25), 'white': (245, 245, 245), 'red': (205, 30, 35),
          'yellow': (245, 200, 35), 'glass': (185, 215, 240), 'skin': (235, 190, 150),
          'gray': (150, 150, 150)}
_SIGNS = frozenset({'stop', 'warning', 'speedlimit', 'noturn'})


def _jitter(rgb: RGB, rng: np.random.Generator, hue: float = 0.04) -> RGB:
    """Randomly perturb hue, saturation and value of a colour."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))
    h = (h + rng.uniform(-hue, hue)) % 1.0
    s = min(1.0, s * rng.uniform(0.85, 1.1))
    v = min(1.0, v * rng.uniform(0.85, 1.1))
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h, s, v))


def _pastel(rgb: RGB) -> RGB:
    """Watercolour tone: 40 % of the way towards white."""
    return tuple(int(round(0.6 * c + 0.4 * 250)) for c in rgb)


def _vivid(rgb: RGB) -> RGB:
    """Comic tone: saturation boosted, no dull colours."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))
    if s > 0.15:  # leave black, white and grays alone
        s, v = min(1.0, 1.3 * s + 0.1), max(v, 0.6)
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h, s, v))


def _natural(rgb: RGB) -> RGB:
    """Photographic tone: colours as they are."""
    return tuple(rgb)


def _warm(rgb: RGB) -> RGB:
    """Another camera's white balance: slightly warmer."""
    r, g, b = rgb
    return (min(255, r + 8), g, max(0, b - 6))


def _object_colours(name: str, rng: np.random.Generator,
                    tone: Callable[[RGB], RGB]) -> Dict[str, RGB]:
    """Colour per role for one object: ``main``, ``dark``, ``accent`` + fixed ones."""
    palette = _PALETTES.get(name, ((128, 128, 128), ))
    main = _jitter(palette[int(rng.integers(len(palette)))], rng)
    accent = _ACCENTS[int(rng.integers(len(_ACCENTS)))]
    roles = dict(_FIXED, main=main, accent=accent,
                 dark=tuple(int(0.45 * c) for c in main))
    return {role: tone(colour) for role, colour in roles.items()}


def draw_glyph(draw: ImageDraw.ImageDraw, name: str, box: Box, colours: Dict[str, RGB],
               outline: Optional[Tuple[RGB, int]] = None, mirror: bool = False) -> None:
    """Draw the glyph of class ``name`` so that it exactly fills ``box``.

    Args:
        draw: Pillow drawing context of the target image.
        name: Key of :data:`GLYPHS`.
        box: ``(x0, y0, x1, y1)`` pixels, ``x1``/``y1`` exclusive.
        colours: Colour per role used by the glyph's parts.
        outline: ``(colour, width)`` drawn around filled parts, or None.
        mirror: Draw left-right mirrored (ignored for non-mirrorable glyphs).
    """
    glyph = GLYPHS[name]
    x0, y0, x1, y1 = box
    sx, sy = x1 - 1 - x0, y1 - 1 - y0
    flip = mirror and glyph.mirror

    def point(u, v):
        return (x0 + (1.0 - u if flip else u) * sx, y0 + v * sy)

    stroke = dict(outline=outline[0], width=outline[1]) if outline else {}
    for kind, geom, role, *width in glyph.parts:
        fill = colours[role]
        if kind == 'poly' or kind == 'line':
            points = [point(u, v) for u, v in geom]
            if kind == 'poly':
                draw.polygon(points, fill=fill, **stroke)
            else:
                draw.line(points, fill=fill, width=max(1, round(width[0] * min(sx, sy))))
            continue
        (a, b), (c, d) = point(geom[0], geom[1]), point(geom[2], geom[3])
        xy = (min(a, c), b, max(a, c), d)
        if kind == 'rect':
            draw.rectangle(xy, fill=fill, **stroke)
        elif kind == 'rrect':
            draw.rounded_rectangle(xy, radius=0.2 * min(xy[2] - xy[0], d - b), fill=fill, **stroke)
        elif kind == 'ellipse':
            draw.ellipse(xy, fill=fill, **stroke)
        elif kind == 'ring':
            draw.ellipse(xy, outline=fill, width=max(1, round(width[0] * min(sx, sy))))
        else:
            raise ValueError(f'Glyph {name!r} has a part of unknown kind {kind!r}; '
                             'use rect, rrect, ellipse, ring, poly or line.')


def _smooth_noise(rng: np.random.Generator, size: Tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in ``[-1, 1]`` of shape (H, W): a coarse random grid upsampled."""
    grid = rng.uniform(-1.0, 1.0, size=(cells + 1, cells + 1)).astype(np.float32)
    return np.asarray(Image.fromarray(grid, mode='F').resize(size, Image.BICUBIC)).clip(-1, 1)


def _paper(rng: np.random.Generator, size: Tuple[int, int]) -> Image.Image:
    """Watercolour paper: cream with blotchy tint, pale washes and grass strokes."""
    w, h = size
    base = np.array([rng.uniform(235, 248), rng.uniform(228, 240), rng.uniform(208, 225)])
    arr = base + 14.0 * _smooth_noise(rng, size, 5)[..., None] * np.array([1.0, 0.8, 0.5])
    img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 5))):  # pale washes (clutter)
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.1, 0.3) * w
        wash = _pastel(_pastel(tuple(int(c) for c in rng.integers(60, 220, 3))))
        draw.ellipse((cx - r, cy - 0.6 * r, cx + r, cy + 0.6 * r), fill=wash)
    for _ in range(int(rng.integers(3, 8))):  # grass strokes
        x, y = rng.uniform(0, w), rng.uniform(0.7 * h, h)
        draw.line((x, y, x + rng.uniform(-6, 6), y - rng.uniform(6, 14)),
                  fill=_pastel((70, 150, 60)), width=2)
    return img.filter(ImageFilter.GaussianBlur(3))


def _comic(rng: np.random.Generator, size: Tuple[int, int]) -> Image.Image:
    """Comic panel: flat pale fill, halftone dots, an outlined ground and clouds."""
    w, h = size
    fills = ((250, 240, 200), (215, 238, 250), (250, 220, 225), (228, 250, 215))
    sky = fills[int(rng.integers(len(fills)))]
    img = Image.new('RGB', size, sky)
    draw = ImageDraw.Draw(img)
    dot = tuple(int(0.8 * c) for c in sky)
    step = int(rng.integers(5, 8))
    for y in range(step // 2, h, step):
        for x in range(step // 2 + (y // step % 2) * step // 2, w, step):
            draw.ellipse((x - 1, y - 1, x + 1, y + 1), fill=dot)
    ground = int(rng.uniform(0.65, 0.9) * h)
    draw.rectangle((0, ground, w, h), fill=(120, 200, 90), outline=(0, 0, 0), width=2)
    for _ in range(int(rng.integers(0, 3))):  # clouds (clutter)
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, 0.4 * h), rng.uniform(6, 14)
        draw.ellipse((cx - 1.6 * r, cy - r, cx + 1.6 * r, cy + r), fill=(255, 255, 255),
                     outline=(0, 0, 0), width=2)
    return img


def _road(rng: np.random.Generator, size: Tuple[int, int]) -> Image.Image:
    """Street view: sky gradient, buildings and trees on the horizon, asphalt with lanes."""
    w, h = size
    horizon = int(rng.uniform(0.32, 0.45) * h)
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    sky = (1 - t) * np.array([140, 185, 230]) + t * np.array([220, 232, 245])
    arr = np.broadcast_to(sky, (h, w, 3)).copy()
    asphalt = rng.uniform(90, 115) + 8.0 * _smooth_noise(rng, size, 12)
    arr[horizon:] = asphalt[horizon:, :, None]
    img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 6))):  # buildings and trees (clutter)
        x, bw, bh = rng.uniform(-10, w), rng.uniform(12, 40), rng.uniform(0.1, 0.3) * h
        if rng.random() < 0.7:
            tone = int(rng.integers(120, 200))
            draw.rectangle((x, horizon - bh, x + bw, horizon),
                           fill=(tone, tone - int(rng.integers(0, 30)), tone - 30))
        else:
            draw.ellipse((x, horizon - bh, x + 0.6 * bw, horizon + 2), fill=(50, 120, 50))
    vanish, bottom = rng.uniform(0.4, 0.6) * w, rng.uniform(0.3, 0.7) * w
    for k in range(0, 12, 2):  # dashed centre line, denser towards the horizon
        a, b = (k / 12) ** 1.5, ((k + 1) / 12) ** 1.5
        draw.line((vanish + a * (bottom - vanish), horizon + a * (h - horizon),
                   vanish + b * (bottom - vanish), horizon + b * (h - horizon)),
                  fill=(235, 235, 235), width=max(1, round(1 + 3 * b)))
    return img


def _kitchen(rng: np.random.Generator, size: Tuple[int, int]) -> Image.Image:
    """Kitchen counter: tiled wall above a wooden worktop with grain, plates as clutter."""
    w, h = size
    top = int(rng.uniform(0.55, 0.7) * h)
    wall = np.array([rng.uniform(215, 235), rng.uniform(215, 235), rng.uniform(200, 220)])
    arr = np.broadcast_to(wall, (h, w, 3)).copy()
    grain = rng.uniform(-1, 1, size=(h, 1)) * 12 + 6 * _smooth_noise(rng, size, 8)
    arr[top:] = np.array([150, 100, 60]) + grain[top:, :, None]
    tile = int(rng.integers(12, 20))
    arr[:top:tile] -= 40
    arr[:top, ::tile] -= 40
    img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, 3))):  # plates (clutter)
        cx, r = rng.uniform(0, w), rng.uniform(8, 16)
        cy = rng.uniform(top, h)
        draw.ellipse((cx - r, cy - 0.35 * r, cx + r, cy + 0.35 * r), fill=(240, 240, 240),
                     outline=(180, 180, 180))
    return img


class _Style(NamedTuple):
    """How an RGB style renders a scene."""
    background: Callable[[np.random.Generator, Tuple[int, int]], Image.Image]
    tone: Callable[[RGB], RGB]
    outline: float  # outline width as a fraction of the object's shorter side; 0: none
    blur: float  # Gaussian blur radius of the finished scene, pixels
    grain: float  # amplitude of per-pixel noise added last, gray levels


_RGB_STYLES: Dict[str, _Style] = {
    'watercolor': _Style(_paper, _pastel, 0.0, 1.2, 6.0),
    'comic': _Style(_comic, _vivid, 0.06, 0.0, 0.0),
    'road': _Style(_road, _natural, 0.0, 0.5, 4.0),
    'kitchen': _Style(_kitchen, _natural, 0.0, 0.4, 3.0),
    # benchmark v2's signs camera: the street scene of another camera, told apart from
    # 'road' only by a warmer tone, a little more blur and grain
    'road_b': _Style(_road, _warm, 0.0, 0.7, 5.0),
}
#: Names of the rendering styles; ``xray`` is grayscale and paints every
#: object as a soft bright blob instead of a glyph.
STYLES: Tuple[str, ...] = (*_RGB_STYLES, 'xray')


def _render_xray(rng: np.random.Generator, size: Tuple[int, int],
                 objects: Sequence[Tuple[str, Box]]) -> Image.Image:
    """CT-like grayscale slice: body, lungs, spine and ribs; lesions are bright blobs."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    arr = np.full((h, w), 12.0, np.float32)
    cx, cy = w * rng.uniform(0.45, 0.55), h * rng.uniform(0.45, 0.55)
    body = ((xx - cx) / (w * rng.uniform(0.4, 0.48))) ** 2 + ((yy - cy) / (h * 0.46)) ** 2 <= 1
    arr[body] = (95 + 15 * _smooth_noise(rng, size, 6))[body]
    for side in (-1, 1):  # lungs
        lung = ((xx - cx - side * 0.2 * w) / (0.15 * w)) ** 2 + ((yy - cy) / (0.3 * h)) ** 2 <= 1
        arr[lung] = 50 + 6 * rng.standard_normal()
    arr[np.abs(xx - cx) < 0.04 * w] += 45  # spine
    ribs = Image.new('L', size, 0)
    draw = ImageDraw.Draw(ribs)
    for k in range(int(rng.integers(4, 7))):
        y = cy - 0.3 * h + k * 0.12 * h
        draw.arc((cx - 0.42 * w, y, cx + 0.42 * w, y + 0.3 * h), 200, 340, fill=40, width=2)
    arr += np.asarray(ribs, np.float32)
    for _, (x0, y0, x1, y1) in objects:  # lesions: flat top with a soft rim
        rx, ry = (x1 - 1 - x0) / 2.0, (y1 - 1 - y0) / 2.0
        r = np.sqrt(((xx - x0 - rx) / max(rx, 0.5)) ** 2 + ((yy - y0 - ry) / max(ry, 0.5)) ** 2)
        arr += rng.uniform(80, 120) * np.clip((1.0 - r) / 0.3, 0.0, 1.0)
    img = Image.fromarray(arr.clip(0, 255).astype(np.uint8), mode='L')
    arr = np.asarray(img.filter(ImageFilter.GaussianBlur(0.7)), np.float32)
    arr += rng.normal(0.0, 5.0, size=arr.shape)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8), mode='L')


def _draw_clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: Tuple[int, int],
                  count: int, tone: Callable[[RGB], RGB]) -> None:
    """``count`` small distractor shapes (no class): ellipses, bars and triangles."""
    w, h = size
    short = min(w, h)
    for _ in range(count):
        kind = int(rng.integers(3))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        a, b = rng.uniform(0.03, 0.12) * short, rng.uniform(0.03, 0.12) * short
        colour = tone(tuple(int(c) for c in rng.integers(30, 230, 3)))
        if kind == 0:
            draw.ellipse((cx - a, cy - b, cx + a, cy + b), fill=colour)
        elif kind == 1:
            draw.rectangle((cx - a, cy - b / 3, cx + a, cy + b / 3), fill=colour)
        else:
            draw.polygon(((cx, cy - b), (cx + a, cy + b), (cx - a, cy + b)), fill=colour)


def render_scene(style: str, size: Tuple[int, int], objects: Sequence[Tuple[str, Box]],
                 rng: np.random.Generator, clutter: int = 0) -> Image.Image:
    """Draw one image of a style with the given objects.

    Args:
        style: One of :data:`STYLES`.
        size: ``(W, H)`` of the image.
        objects: ``(class name, box)`` pairs; later ones are drawn on top.
        rng: Source of all randomness (background, colours, mirroring).
        clutter: distractor shapes drawn on the background before the
            objects (RGB styles; 0, the default, draws none and takes no
            random number: benchmark v1's images are unchanged).

    Returns:
        PIL.Image.Image: ``RGB`` image, or ``L`` for the grayscale ``xray`` style.
    """
    if style not in STYLES:
        raise ValueError(f'Unknown synthetic style {style!r}; choose one of {STYLES}.')
    if style == 'xray':
        return _render_xray(rng, size, objects)
    blank = sorted({name for name, _ in objects if not GLYPHS[name].parts})
    if blank:
        raise ValueError(f'Classes {blank} have no line-art glyph and would be invisible in '
                         f'style {style!r}; draw them in the xray style.')
    spec = _RGB_STYLES[style]
    img = spec.background(rng, size)
    draw = ImageDraw.Draw(img)
    if clutter:
        _draw_clutter(draw, rng, size, clutter, spec.tone)
    for name, (x0, y0, x1, y1) in objects:
        if name in _SIGNS:  # a pole from the sign down to the ground
            mid, ground = (x0 + x1) / 2.0, max(y1, int(rng.uniform(0.6, 0.95) * size[1]))
            draw.rectangle((mid - 1, y1 - 2, mid + 1, ground), fill=(110, 110, 115))
    for name, box in objects:
        short = min(box[2] - box[0], box[3] - box[1])
        outline = ((0, 0, 0), max(2, round(spec.outline * short))) if spec.outline else None
        colours = _object_colours(name, rng, spec.tone)
        draw_glyph(draw, name, box, colours, outline, mirror=bool(rng.random() < 0.5))
    if spec.blur:
        img = img.filter(ImageFilter.GaussianBlur(spec.blur))
    if spec.grain:
        arr = np.asarray(img, np.float32) + rng.normal(0.0, spec.grain, size=(size[1], size[0], 1))
        img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    return img
