"""Assemble a COCO detection json from :class:`ImageRecord` objects.

:class:`CocoBuilder` owns every decision that does not depend on the source
format, so that all readers behave alike:

* class names are mapped **by name** (case-insensitive): a class of the
  dataset, an alias of one (KITTI ``van`` -> ``vehicle``), an ignored name
  (dropped and counted; COCO has no class-less ignore region, so ignored boxes
  are not written as ``iscrowd``), or unknown (an error listing every unknown
  name at :meth:`CocoBuilder.finish`, or a counted skip);
* boxes are clipped to the image and dropped when their clipped width or
  height is not positive (``zero_area``, which also covers inverted boxes and
  boxes lying outside the image);
* ``difficult`` boxes are kept (as UODB and DAMEX train on them), written with
  ``iscrowd=1`` (mmdet then ignores them in training and COCO evaluation
  treats them as ignore regions) or dropped;
* images without boxes are kept unless ``drop_empty``;
* ``file_name`` must be unique; ids are ``1..N`` in insertion order and the
  category ids are ``1..len(classes)`` in class order.

Everything skipped is counted in a
:class:`~damex_mmdet.datasets.converters.stats.ConversionStats`.
"""
import math
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

from .records import ImageRecord
from .stats import ConversionStats

__all__ = ['CocoBuilder', 'DIFFICULT_POLICIES']

#: What to do with VOC ``difficult`` boxes.
DIFFICULT_POLICIES = ('keep', 'crowd', 'drop')


class CocoBuilder:
    """Collect images and boxes into a COCO detection dictionary.

    Args:
        classes (Sequence[str]): Class names; category ids are their 1-based
            positions.
        aliases (Mapping[str, str], optional): Raw name -> class name.
        ignored (Iterable[str]): Raw names dropped on purpose.
        skip_unknown (bool): Count and drop unknown names instead of raising
            at :meth:`finish`. Defaults to False.
        difficult (str): One of :data:`DIFFICULT_POLICIES`. Defaults to
            ``'keep'``.
        drop_empty (bool): Drop images left without boxes. Defaults to False.
        stats (ConversionStats, optional): Counter to update (a reader may
            share it to count its own skips); a new one by default.
        info (dict, optional): Written as the json's ``info`` entry.
    """

    def __init__(self,
                 classes: Sequence[str],
                 aliases: Optional[Mapping[str, str]] = None,
                 ignored: Iterable[str] = (),
                 skip_unknown: bool = False,
                 difficult: str = 'keep',
                 drop_empty: bool = False,
                 stats: Optional[ConversionStats] = None,
                 info: Optional[dict] = None):
        self.classes = tuple(classes)
        self._label = {c.lower(): i for i, c in enumerate(self.classes)}
        if len(self._label) != len(self.classes) or not self.classes:
            raise ValueError('classes must be non-empty and unique ignoring '
                             f'case, got {self.classes}.')
        self._aliases = {}
        for src, dst in (aliases or {}).items():
            if dst.lower() not in self._label:
                raise ValueError(f'Alias {src!r} -> {dst!r} points to a name '
                                 f'that is not a class of {self.classes}.')
            self._aliases[src.strip().lower()] = self._label[dst.lower()]
        self._ignored = {name.strip().lower() for name in ignored}
        clash = (self._ignored | set(self._aliases)) & set(self._label)
        if clash:
            raise ValueError(f'{sorted(clash)} are classes; they cannot also '
                             'be ignored or aliased.')
        if difficult not in DIFFICULT_POLICIES:
            raise ValueError(f'difficult must be one of {DIFFICULT_POLICIES},'
                             f' got {difficult!r}.')
        self.skip_unknown = skip_unknown
        self.difficult = difficult
        self.drop_empty = drop_empty
        self.stats = stats if stats is not None else ConversionStats()
        self.info = dict(info or {})
        self._images: List[dict] = []
        self._annotations: List[dict] = []
        self._sources: Dict[str, str] = {}

    def _label_of(self, name: str, source: str) -> Optional[int]:
        """0-based label of a raw name, or None when it is not written."""
        key = name.strip().lower()
        if key in self._label:
            return self._label[key]
        if key in self._aliases:
            return self._aliases[key]
        if key in self._ignored:
            self.stats.skipped['ignored_class'] += 1
            self.stats.ignored_names[key] += 1
            return None
        self.stats.skipped['unknown_class'] += 1
        self.stats.unknown_names[key] += 1
        self.stats.unknown_sources.setdefault(key, source)
        return None

    def add(self, record: ImageRecord) -> Optional[int]:
        """Add one image and the boxes that survive the rules.

        Args:
            record (ImageRecord): The image.

        Returns:
            int | None: The image id, or None when the image was dropped.

        Raises:
            ValueError: On a non-positive image size, a non-finite box
                coordinate or a ``file_name`` added before.
        """
        width, height = record.width, record.height
        if width <= 0 or height <= 0:
            raise ValueError(f'{record.source}: image size {width}x{height} '
                             'is not positive; fix the size or the image.')
        if record.file_name in self._sources:
            raise ValueError(
                f'file_name {record.file_name!r} of {record.source} was '
                f'already added from {self._sources[record.file_name]}; '
                'every image of a split needs a unique file name.')
        image_id = len(self._images) + 1
        anns = []
        for obj in record.objects:
            if not all(math.isfinite(v) for v in obj.bbox):
                raise ValueError(f'{record.source}: box {obj.bbox} of '
                                 f'{obj.name!r} has a non-finite coordinate.')
            if obj.invalid:
                self.stats.skipped['invalid'] += 1
                continue
            label = self._label_of(obj.name, record.source)
            if label is None:
                continue
            crowd = 0
            if obj.difficult and self.difficult == 'drop':
                self.stats.skipped['difficult'] += 1
                continue
            if obj.difficult and self.difficult == 'crowd':
                crowd = 1
            ann = self._clipped_annotation(obj.bbox, width, height)
            if ann is None:
                continue
            ann.update(image_id=image_id, category_id=label + 1, iscrowd=crowd)
            anns.append((label, ann))
        if not anns and self.drop_empty:
            self.stats.skipped['empty_image'] += 1
            return None
        self._sources[record.file_name] = record.source
        self._images.append(
            dict(id=image_id, file_name=record.file_name, width=width,
                 height=height))
        for label, ann in anns:
            ann['id'] = len(self._annotations) + 1
            self._annotations.append(ann)
            self.stats.per_class[self.classes[label]] += 1
            if ann['iscrowd']:
                self.stats.notes['crowd'] += 1
        if record.size_from_image:
            self.stats.notes['size_from_image'] += 1
        self.stats.images += 1
        self.stats.boxes += len(anns)
        return image_id

    def _clipped_annotation(self, bbox, width, height) -> Optional[dict]:
        """Clip ``(x1, y1, x2, y2)`` to the image; None if nothing is left."""
        x1, y1, x2, y2 = (float(v) for v in bbox)
        cx1, cx2 = min(max(x1, 0.), width), min(max(x2, 0.), width)
        cy1, cy2 = min(max(y1, 0.), height), min(max(y2, 0.), height)
        w, h = cx2 - cx1, cy2 - cy1
        if w <= 0 or h <= 0:
            self.stats.skipped['zero_area'] += 1
            return None
        if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
            self.stats.notes['clipped'] += 1
        return dict(bbox=[cx1, cy1, w, h], area=w * h)

    def finish(self) -> dict:
        """Return the COCO dictionary.

        Raises:
            ValueError: If unknown class names were met and ``skip_unknown``
                is False; the message lists each name, its count and the
                first file it appears in.
        """
        if self.stats.unknown_names and not self.skip_unknown:
            found = ', '.join(
                f'{name!r} ({count} boxes, first in '
                f'{self.stats.unknown_sources[name]})'
                for name, count in sorted(self.stats.unknown_names.items()))
            raise ValueError(
                f'Unknown class names: {found}. They are neither classes '
                f'{self.classes} nor aliases nor ignored names. Map them to a '
                'class (--alias NAME=CLASS), drop them (--ignore NAME) or '
                'skip them (--skip-unknown).')
        categories = [
            dict(id=i + 1, name=name, supercategory='none')
            for i, name in enumerate(self.classes)
        ]
        return dict(
            info=self.info,
            licenses=[],
            images=list(self._images),
            annotations=list(self._annotations),
            categories=categories)
