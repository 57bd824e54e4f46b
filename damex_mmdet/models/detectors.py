"""Registered MoE detectors: DAMEX-DINO and MoE versions of any DETR-family model.

``DAMEXDINO``, ``MoEDeformableDETR`` and ``MoEDETR`` are ready-made classes;
``MoEDetector`` wraps any registered DETR-family detector by name, so a config
inheriting an mmdet config only changes the model type::

    model = dict(type='MoEDetector', detector='ConditionalDETR', moe_cfg=dict(...))
"""
from mmdet.models.detectors import DETR, DINO, DeformableDETR
from mmdet.models.detectors.base_detr import DetectionTransformer
from mmdet.registry import MODELS

from .moe_detector import MoEDetectorMixin

__all__ = ['DAMEXDINO', 'MoEDeformableDETR', 'MoEDETR', 'MoEDetector', 'moe_detector_class']

_CLASSES = {}


def moe_detector_class(detector_cls: type) -> type:
    """The (cached) ``MoEDetectorMixin`` subclass of a DETR-family detector class.

    Raises:
        TypeError: when ``detector_cls`` is not a ``DetectionTransformer``.
    """
    if not (isinstance(detector_cls, type) and issubclass(detector_cls, DetectionTransformer)):
        raise TypeError(f'MoE conversion supports mmdet DETR-family detectors (subclasses of '
                        f'DetectionTransformer); got {detector_cls!r}.')
    if issubclass(detector_cls, MoEDetectorMixin):
        return detector_cls
    if detector_cls not in _CLASSES:
        _CLASSES[detector_cls] = type(f'MoE{detector_cls.__name__}',
                                      (MoEDetectorMixin, detector_cls),
                                      {'__module__': __name__})
    return _CLASSES[detector_cls]


@MODELS.register_module()
class DAMEXDINO(MoEDetectorMixin, DINO):
    """DINO whose alternate decoder FFNs are dataset-aware MoEs (DAMEX).

    Takes DINO's arguments plus ``moe_cfg`` (see
    :mod:`damex_mmdet.models.moe_detector`); its defaults follow the paper:
    decoder layers 0, 2, 4, 8 experts, ``DatasetAwareRouter`` with CE weight 0.1.
    """


@MODELS.register_module()
class MoEDeformableDETR(MoEDetectorMixin, DeformableDETR):
    """Deformable DETR with MoE FFNs (same ``moe_cfg`` as :class:`DAMEXDINO`)."""


@MODELS.register_module()
class MoEDETR(MoEDetectorMixin, DETR):
    """DETR with MoE FFNs (same ``moe_cfg`` as :class:`DAMEXDINO`)."""


@MODELS.register_module(name='MoEDetector')
def build_moe_detector(detector: str, moe_cfg: dict = None, **kwargs):
    """Build registered detector ``detector`` with MoE FFNs.

    Args:
        detector (str): a registered DETR-family detector, e.g. ``'DINO'``.
        moe_cfg (dict): see :mod:`damex_mmdet.models.moe_detector`.
        **kwargs: the detector's own arguments.
    """
    detector_cls = MODELS.get(detector)
    if detector_cls is None:
        raise ValueError(f"MoEDetector: detector={detector!r} is not registered in mmdet's "
                         'MODELS; use a DETR-family type such as DINO or DeformableDETR.')
    return moe_detector_class(detector_cls)(moe_cfg=moe_cfg, **kwargs)


MoEDetector = build_moe_detector
