"""Counts of what an annotation conversion wrote, dropped and changed."""
from collections import Counter
from typing import Dict

__all__ = ['ConversionStats']

# Reasons that remove a box or an image (the rest of the counters are notes).
_BOX_SKIPS = ('ignored_class', 'unknown_class', 'zero_area', 'invalid',
              'difficult')
_IMAGE_SKIPS = ('missing_image', 'empty_image')


class ConversionStats:
    """Counts of what a conversion wrote, skipped and noticed.

    Attributes:
        images (int): Images written.
        boxes (int): Boxes written (``iscrowd`` ones included).
        skipped (Counter): Reason -> number of boxes or images removed. Box
            reasons: ``ignored_class``, ``unknown_class``, ``zero_area``,
            ``invalid``, ``difficult``; image reasons: ``missing_image``,
            ``empty_image``.
        notes (Counter): Things kept but changed: ``clipped`` boxes,
            ``crowd`` (difficult written with ``iscrowd=1``),
            ``size_from_image`` (size read from the image file).
        per_class (Counter): Class name -> boxes written.
        ignored_names (Counter): Ignored raw name -> boxes dropped.
        unknown_names (Counter): Unknown raw name -> boxes found.
        unknown_sources (dict[str, str]): Unknown name -> first file with it.
    """

    def __init__(self):
        self.images = 0
        self.boxes = 0
        self.skipped = Counter()
        self.notes = Counter()
        self.per_class = Counter()
        self.ignored_names = Counter()
        self.unknown_names = Counter()
        self.unknown_sources: Dict[str, str] = {}

    def summary(self, title: str = 'conversion') -> str:
        """Multi-line, human-readable report of the counts."""
        lines = [f'{title}: {self.images} images, {self.boxes} boxes']
        for reason in _IMAGE_SKIPS + _BOX_SKIPS:
            if self.skipped[reason]:
                unit = 'images' if reason in _IMAGE_SKIPS else 'boxes'
                lines.append(f'  skipped {reason}: {self.skipped[reason]} '
                             f'{unit}')
        for name, count in sorted(self.ignored_names.items()):
            lines.append(f'    ignored {name!r}: {count}')
        for name, count in sorted(self.unknown_names.items()):
            lines.append(f'    unknown {name!r}: {count}')
        for note, count in sorted(self.notes.items()):
            lines.append(f'  note {note}: {count}')
        for name, count in self.per_class.items():
            lines.append(f'  class {name!r}: {count} boxes')
        return '\n'.join(lines)
