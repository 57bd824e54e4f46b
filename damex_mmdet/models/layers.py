"""The DAMEX decoder layer, registered in mmdet's ``MODELS``.

(The MoE layers and routers themselves live in the one registry of
:mod:`damex_mmdet.moe.registry`; mmdet's registry reaches them as
``damex_mmdet.MoEFFN``.)
"""
from mmdet.models.layers import DeformableDetrTransformerDecoderLayer
from mmdet.registry import MODELS

from .moe_conversion import moe_layer_class

__all__ = ['DAMEXDecoderLayer']


@MODELS.register_module()
class DAMEXDecoderLayer(DeformableDetrTransformerDecoderLayer):
    """DINO/Deformable-DETR decoder layer whose FFN is a (dataset-aware) MoE.

    Used by config through the registered decoders of
    :mod:`damex_mmdet.models.decoders` inside an MoE detector (which opens the
    routing session the layer records into and turns it into ``loss_damex`` /
    ``loss_balance``); converting a stock detector with ``moe_cfg.layers`` gives
    the same layers. In a detector that opens no routing session, a training
    forward raises instead of silently dropping the auxiliary loss.

    Args:
        moe_cfg (dict): ``MoEFFN`` options (``num_experts``, ``router``,
            ``capacity_factor``, ...) and optionally ``layer=dict(type=
            'SoftMoEFFN' | 'MoEPlusPlusFFN', ...)``; the FFN sizes come from ``ffn_cfg``.
        **kwargs: ``DeformableDetrTransformerDecoderLayer`` arguments.
    """

    def __init__(self, *args, moe_cfg: dict = None, **kwargs):
        self._moe_cfg = dict(moe_cfg or {})
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        super()._init_layers()
        moe_cfg = dict(self._moe_cfg)
        layer_type, options = moe_layer_class(moe_cfg.pop('layer', None))
        self.ffn = layer_type.from_dense(self.ffn, init_mode='xavier', **options, **moe_cfg)
