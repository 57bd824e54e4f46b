"""Global Expert Mapping (GEM): affinity, LP planner, hierarchical-rounding compiler.

Pure Python/NumPy/SciPy: imports neither torch, mmcv nor mmdet. Typical use::

    aff = load_affinity('prior.csv')                 # or affinity_from_features(...)
    mapping = plan_expert_mapping(aff, capacity=2)   # LP + compiler
    print(render_config_snippet(mapping))            # expert_map = dict(kitti=[0], ...)
"""
from .affinity import AffinityMatrix, affinity_from_features, compute_prototypes
from .affinity_io import load_affinity, save_affinity
from .capacity import capacity_vector, default_capacity, parse_demand_values
from .class_split import PlanningUnit, allocate_groups, build_units, split_classes
from .compiler import CompiledPlan, compile_plan
from .exact import compile_exact, is_count_demand, plan_count_assignment, solves_directly
from .kmeans import spherical_kmeans
from .local_search import RoundingError, improve_mapping, repair_overflow
from .mapping import ExpertMapping, plan_expert_mapping, split_demand
from .mapping_io import (load_mapping, mapping_from_dict, mapping_to_dict,
                         render_child_config, render_config_snippet,
                         render_map_config, save_mapping)
from .planner import LPPlan, solve_assignment_lp, validate_plan_inputs

__all__ = [
    'AffinityMatrix', 'affinity_from_features', 'compute_prototypes', 'load_affinity',
    'save_affinity', 'PlanningUnit', 'allocate_groups', 'build_units', 'split_classes',
    'CompiledPlan', 'compile_plan', 'compile_exact', 'is_count_demand', 'spherical_kmeans',
    'RoundingError', 'improve_mapping',
    'repair_overflow', 'ExpertMapping', 'plan_expert_mapping', 'split_demand', 'load_mapping',
    'mapping_from_dict', 'mapping_to_dict', 'render_child_config', 'render_config_snippet',
    'save_mapping', 'render_map_config', 'LPPlan', 'solve_assignment_lp', 'validate_plan_inputs',
    'plan_count_assignment', 'solves_directly', 'capacity_vector', 'default_capacity',
    'parse_demand_values'
]
