"""Annotation converters: UODB's released formats -> COCO json, n-shot subsets.

Readers turn a source format into :class:`ImageRecord` objects
(:mod:`.voc_xml`, :mod:`.kitti_txt`, :mod:`.wider_txt`);
:class:`CocoBuilder` applies the format-independent rules (class mapping by
name, ignored classes, clipping, zero-area boxes); :func:`convert_uodb_split`
ties them to the UODB dataset specs and :func:`convert_voc_folder` to any
VOC-layout folder of your own; :func:`select_nshot` draws n-shot subsets. The
command-line front ends are ``tools/dataset_converters/uodb_to_coco.py``,
``tools/dataset_converters/voc_to_coco.py`` and ``tools/misc/make_nshot.py``.
"""
from .coco_builder import DIFFICULT_POLICIES, CocoBuilder
from .convert import (SOURCE_FORMATS, convert_uodb_split, merge_name_rules,
                      write_coco_json)
from .kitti_txt import load_kitti_image, parse_kitti_label
from .nshot import nshot_counts, select_nshot
from .records import (ImageRecord, MissingImageError, ObjectRecord,
                      find_split_file, read_image_size, read_split_file)
from .stats import ConversionStats
from .voc_folder import convert_voc_folder, voc_folder_classes, voc_folder_splits
from .voc_xml import load_voc_image, parse_voc_xml
from .wider_txt import parse_wider_gt, wider_gt_file, wider_image_record

__all__ = [
    'CocoBuilder', 'ConversionStats', 'DIFFICULT_POLICIES', 'ImageRecord',
    'MissingImageError', 'ObjectRecord', 'SOURCE_FORMATS',
    'convert_uodb_split', 'convert_voc_folder', 'find_split_file', 'load_kitti_image',
    'load_voc_image', 'merge_name_rules', 'nshot_counts', 'parse_kitti_label',
    'parse_voc_xml', 'parse_wider_gt', 'read_image_size', 'read_split_file',
    'select_nshot', 'voc_folder_classes', 'voc_folder_splits', 'wider_gt_file',
    'wider_image_record', 'write_coco_json'
]
