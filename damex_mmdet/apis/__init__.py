"""User-facing entry points: inference on arbitrary images."""
from .inference import (IMAGE_EXTENSIONS, CheckpointClassesError, check_checkpoint_classes,
                        check_config_matches_checkpoint,
                        collect_image_paths, image_routing, infer_images, output_names,
                        routing_summary_markdown)

__all__ = [
    'IMAGE_EXTENSIONS', 'CheckpointClassesError', 'check_checkpoint_classes',
    'check_config_matches_checkpoint',
    'collect_image_paths', 'image_routing', 'infer_images', 'output_names',
    'routing_summary_markdown'
]
