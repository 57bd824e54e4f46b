"""mmdet integration: FFN->MoE conversion, MoE detectors, DAMEX decoder layer and decoders."""
from damex_mmdet.utils.env_check import require_mmcv_ops

require_mmcv_ops()

from .decoders import (DAMEXDeformableDetrTransformerDecoder,  # noqa: E402
                       DAMEXDinoTransformerDecoder)
from .detectors import (DAMEXDINO, MoEDeformableDETR, MoEDETR,  # noqa: E402
                        MoEDetector, moe_detector_class)
from .grow import grow_state_dict  # noqa: E402
from .foreground import matching_foreground_mask, num_denoising_queries  # noqa: E402
from .layers import DAMEXDecoderLayer  # noqa: E402
from .moe_conversion import convert_ffns_to_moe, resolve_ffn_paths  # noqa: E402
from .moe_detector import MoEDetectorMixin  # noqa: E402

__all__ = [
    'DAMEXDeformableDetrTransformerDecoder', 'DAMEXDinoTransformerDecoder', 'DAMEXDINO',
    'MoEDeformableDETR', 'MoEDETR', 'MoEDetector', 'moe_detector_class',
    'matching_foreground_mask', 'num_denoising_queries', 'DAMEXDecoderLayer',
    'convert_ffns_to_moe', 'resolve_ffn_paths', 'MoEDetectorMixin', 'grow_state_dict'
]
