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
import torch
from mmdet.models.layers import DeformableDetrTransformerDecoder, DinoTransformerDecoder
from mmdet.registry import MODELS

from damex_mmdet.moe import MoEFFN

__all__ = ['DAMEXDinoTransformerDecoder', 'DAMEXDeformableDetrTransformerDecoder',
           'build_registry_decoder', 'STOCK_DECODER_KEYS']

# arguments of mmdet's DETR-family decoders (the stock decoder built before a registry one)
STOCK_DECODER_KEYS = ('num_layers', 'layer_cfg', 'post_norm_cfg', 'return_intermediate',
                      'init_cfg')


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


def build_registry_decoder(stock: torch.nn.Module, decoder_cfg: dict):
    """Build a registry decoder that starts as the stock decoder built before it.

    The registry decoder is built in a forked random generator (so every other
    module of the detector draws what it draws in the dense detector); every
    value outside its MoE layers is copied from ``stock``, and the stock
    two-layer FFNs at the MoE positions are returned, to initialise the MoE
    layers like converted ones (matched starts).

    Args:
        stock (nn.Module): the stock decoder of the same arguments.
        decoder_cfg (dict): the registry decoder's config (with ``type``).

    Returns:
        tuple: the new decoder, and ``{'decoder.<name>': dense FFN}`` of its MoE layers.
    """
    with torch.random.fork_rng(devices=[]):
        decoder = MODELS.build(decoder_cfg)
    moe_names = [name for name, m in decoder.named_modules() if isinstance(m, MoEFFN)]
    dense_ffns = {}
    for name in moe_names:
        try:
            twin = stock.get_submodule(name)
        except AttributeError:
            continue
        if sum(isinstance(m, torch.nn.Linear) for m in twin.modules()) == 2:
            dense_ffns[f'decoder.{name}'] = twin
    stock_state = stock.state_dict()
    with torch.no_grad():
        for key, value in decoder.state_dict().items():
            theirs = stock_state.get(key)
            if (theirs is not None and theirs.shape == value.shape
                    and not any(key.startswith(name + '.') for name in moe_names)):
                value.copy_(theirs)
    return decoder, dense_ffns
