"""Registered DETR-family decoders whose chosen layers are ``DAMEXDecoderLayer``.

mmdet's decoders build every layer as a ``DeformableDetrTransformerDecoderLayer``;
these build the layers listed in ``moe_layers`` from the registry instead
(``moe_layer_type``, by default :class:`~damex_mmdet.models.layers.DAMEXDecoderLayer`)
with the decoder's ``layer_cfg`` plus ``moe_cfg``. Used through an MoE
detector, which builds a decoder given with a ``type`` from the registry and
opens the routing session its MoE layers record into::

    model = dict(
        type='DAMEXDINO',
        moe_cfg=dict(expert_map=dict(coco=[0], kitti=[1])),   # layers=[]: nothing to convert
        decoder=dict(type='DAMEXDinoTransformerDecoder', num_layers=6, layer_cfg=...,
                     moe_layers=[0, 2, 4],
                     moe_cfg=dict(num_experts=4, router=dict(type='DatasetAwareRouter'))))
"""
from mmdet.models.layers import DeformableDetrTransformerDecoder, DinoTransformerDecoder
from mmdet.registry import MODELS

__all__ = ['DAMEXDinoTransformerDecoder', 'DAMEXDeformableDetrTransformerDecoder']


class _RegistryLayersMixin:
    """Build the layers named by ``moe_layers`` from the registry.

    Args:
        moe_layers (Sequence[int]): decoder layer indices (negative ones count
            from the end). Default ``(0, 2, 4)``, the DAMEX paper's.
        moe_cfg (dict): passed to each of those layers as its ``moe_cfg``
            (``MoEFFN`` options: ``num_experts``, ``router``, ...).
        moe_layer_type (str): registered layer type. Default ``'DAMEXDecoderLayer'``.
        **kwargs: the decoder's own arguments.
    """

    def __init__(self, *args, moe_layers=(0, 2, 4), moe_cfg: dict = None,
                 moe_layer_type: str = 'DAMEXDecoderLayer', **kwargs):
        self.moe_layer_indices = tuple(moe_layers)
        self.moe_layer_cfg = dict(moe_cfg or {})
        self.moe_layer_type = moe_layer_type
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        super()._init_layers()
        count = len(self.layers)
        wrong = [i for i in self.moe_layer_indices if not -count <= i < count]
        if wrong:
            raise ValueError(f'{type(self).__name__}: moe_layers={list(self.moe_layer_indices)} '
                             f'names {wrong} but the decoder has {count} layers (num_layers).')
        for index in sorted({i % count for i in self.moe_layer_indices}):
            self.layers[index] = MODELS.build(
                dict(self.layer_cfg, type=self.moe_layer_type, moe_cfg=self.moe_layer_cfg))


@MODELS.register_module()
class DAMEXDinoTransformerDecoder(_RegistryLayersMixin, DinoTransformerDecoder):
    """DINO's decoder with MoE layers at ``moe_layers`` (see :class:`_RegistryLayersMixin`)."""


@MODELS.register_module()
class DAMEXDeformableDetrTransformerDecoder(_RegistryLayersMixin,
                                            DeformableDetrTransformerDecoder):
    """Deformable DETR's decoder with MoE layers at ``moe_layers``."""
