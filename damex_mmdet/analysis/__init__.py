"""Routing analysis of MoE detectors (DAMEX paper §5: Figure 3, router accuracy, collapse).

- :func:`collect_routing` -> :class:`RoutingStats`: per MoE layer, dataset
  and expert, the routing weights of tokens matched to ground truth and the
  top-1 choices of all tokens; utilization heatmaps with
  :func:`plot_utilization`, router accuracy against the dataset->expert map.
- :mod:`.collapse`: cosine similarity of experts' weights and outputs.
- :mod:`.tables`: Table-1 style results tables from metric files.
- :mod:`.dataset_features`: pooled backbone features per GEM planning unit and
  the affinity made from them; :func:`plot_expert_mapping` draws a plan.
- :mod:`.divergence`: where two runs' per-iteration losses part
  (:func:`write_divergence_report`), e.g. one-expert DAMEX vs dense.
"""
from .builders import build_test_dataloader, load_config, load_moe_detector
from .collapse import (collapse_verdict, expert_output_similarity, expert_weight_similarity,
                       mean_off_diagonal, standard_tokens)
from .matching import GT_FRAMES, gt_boxes_in_input_frame, matched_query_mask
from .divergence import divergence_rows, divergence_summary, write_divergence_report
from .dataset_features import (UnitFeatures, affinity_from_checkpoint, class_frequencies,
                               extract_unit_features, load_backbone)
from .plots import (plot_comparison, plot_expert_mapping, plot_loss_divergence, plot_similarity,
                    plot_utilization)
from .routing_collector import RoutingAccumulator, collect_routing, image_dataset_names
from .routing_stats import TOKEN_KINDS, RoutingStats
from .tables import (METRICS, gather_method_results, load_ap_results, parse_result_spec,
                     results_table_rows, write_results_table)
from .token_capture import capture_moe_inputs

__all__ = [
    'build_test_dataloader', 'load_config', 'load_moe_detector', 'collapse_verdict',
    'expert_output_similarity', 'expert_weight_similarity', 'mean_off_diagonal',
    'standard_tokens', 'GT_FRAMES', 'gt_boxes_in_input_frame', 'matched_query_mask',
    'UnitFeatures', 'affinity_from_checkpoint', 'class_frequencies', 'extract_unit_features',
    'load_backbone', 'plot_comparison', 'plot_expert_mapping', 'plot_similarity',
    'plot_utilization', 'RoutingAccumulator', 'collect_routing',
    'image_dataset_names', 'TOKEN_KINDS', 'RoutingStats', 'METRICS', 'gather_method_results',
    'load_ap_results', 'parse_result_spec', 'results_table_rows', 'write_results_table',
    'capture_moe_inputs', 'divergence_rows', 'divergence_summary', 'write_divergence_report',
    'plot_loss_divergence'
]
