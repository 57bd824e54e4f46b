"""Save/load :class:`ExpertMapping` as JSON and render it as a config snippet.

JSON layout (``format_version`` 1)::

    {"format_version": 1, "num_experts": 8,
     "expert_map": {"kitti": [0], "coco": [1, 2]},
     "class_expert_map": {"coco": {"person": 1, ...}},
     "units": [{"name": "kitti", "dataset": "kitti", "classes": [...]}, ...],
     "expert_names": ["0", ...], "affinity": [[...]], "plan": [[...]],
     "assignment": [0, ...], "capacity": [...], "demand": [...],
     "lp_bound": 10.0, "value": 9.8, "gap": 0.2, "lp_status": "..."}
"""
import json
import keyword
import os.path as osp
from typing import Sequence

import numpy as np

from .class_split import PlanningUnit
from .mapping import ExpertMapping

__all__ = ['FORMAT_VERSION', 'mapping_to_dict', 'mapping_from_dict', 'save_mapping',
           'load_mapping', 'render_child_config', 'render_config_snippet', 'render_map_config']

FORMAT_VERSION = 1
_REQUIRED = ('num_experts', 'expert_map', 'units', 'expert_names', 'affinity', 'plan',
             'assignment', 'capacity', 'demand', 'lp_bound', 'value', 'gap')


def mapping_to_dict(mapping: ExpertMapping) -> dict:
    """JSON-ready dict of a mapping (numpy arrays become lists)."""
    return dict(
        format_version=FORMAT_VERSION, num_experts=int(mapping.num_experts),
        expert_map={k: [int(e) for e in v] for k, v in mapping.expert_map.items()},
        class_expert_map={k: {c: int(e) for c, e in v.items()}
                          for k, v in mapping.class_expert_map.items()},
        units=[dict(name=u.name, dataset=u.dataset, classes=list(u.classes))
               for u in mapping.units],
        expert_names=list(mapping.expert_names), affinity=np.asarray(mapping.affinity).tolist(),
        plan=np.asarray(mapping.plan).tolist(),
        assignment=[int(a) for a in mapping.assignment],
        capacity=np.asarray(mapping.capacity).tolist(),
        demand=np.asarray(mapping.demand).tolist(), lp_bound=float(mapping.lp_bound),
        value=float(mapping.value), gap=float(mapping.gap), lp_status=mapping.lp_status,
        compiler=mapping.compiler, optimal=bool(mapping.optimal))


def mapping_from_dict(data: dict, source: str = 'mapping') -> ExpertMapping:
    """Inverse of :func:`mapping_to_dict`, validating keys and version."""
    if not isinstance(data, dict):
        raise ValueError(f'{source}: expected a JSON object, got {type(data).__name__}.')
    version = data.get('format_version')
    if version != FORMAT_VERSION:
        raise ValueError(f'{source}: format_version is {version!r}, this code reads version '
                         f'{FORMAT_VERSION}; regenerate it with tools/plan_experts.py.')
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f'{source}: missing keys {missing}; regenerate the file with '
                         'tools/plan_experts.py.')
    units = tuple(PlanningUnit(u['name'], u['dataset'], tuple(u['classes']))
                  for u in data['units'])
    return ExpertMapping(
        num_experts=int(data['num_experts']),
        expert_map={k: [int(e) for e in v] for k, v in data['expert_map'].items()},
        class_expert_map={k: dict(v) for k, v in data.get('class_expert_map', {}).items()},
        units=units, expert_names=tuple(data['expert_names']),
        affinity=np.asarray(data['affinity'], dtype=np.float64),
        plan=np.asarray(data['plan'], dtype=np.float64),
        assignment=np.asarray(data['assignment'], dtype=np.int64),
        capacity=np.asarray(data['capacity'], dtype=np.float64),
        demand=np.asarray(data['demand'], dtype=np.float64), lp_bound=float(data['lp_bound']),
        value=float(data['value']), gap=float(data['gap']),
        lp_status=str(data.get('lp_status', '')),
        compiler=str(data.get('compiler', 'rounding')), optimal=bool(data.get('optimal', False)))


def save_mapping(mapping: ExpertMapping, path: str) -> None:
    """Write ``mapping`` to ``path`` as indented JSON."""
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(mapping_to_dict(mapping), f, indent=2)
        f.write('\n')


def load_mapping(path: str) -> ExpertMapping:
    """Read a mapping written by :func:`save_mapping`."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Expert-map file {path!r} does not exist.')
    with open(path, encoding='utf-8') as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path}: not valid JSON ({err}).') from None
    return mapping_from_dict(data, source=path)


def _render_dict(name: str, items: dict) -> str:
    """``name = dict(a=..., b=...)``, or a ``{...}`` literal if a key is no identifier."""
    keys_ok = all(k.isidentifier() and not keyword.iskeyword(k) for k in items)
    if keys_ok:
        body = ', '.join(f'{k}={v!r}' for k, v in items.items())
        return f'{name} = dict({body})'
    body = ', '.join(f'{k!r}: {v!r}' for k, v in items.items())
    return f'{name} = {{{body}}}'


def render_config_snippet(mapping: ExpertMapping) -> str:
    """Python config lines defining ``num_experts`` and ``expert_map``.

    ``class_expert_map`` is added only when a dataset was split into class
    groups (``expert_map`` lists several experts for it).

    Args:
        mapping (ExpertMapping): The mapping.

    Returns:
        str: Lines such as ``num_experts = 8`` and
        ``expert_map = dict(kitti=[0], watercolor=[1])``.
    """
    lines = [
        '# GEM expert mapping generated by tools/plan_experts.py',
        f'# LP bound {mapping.lp_bound:.6g}, mapping value {mapping.value:.6g}, '
        f'gap {mapping.gap:.3g} ({mapping.compiler} compiler, '
        f"{'proven optimal' if mapping.optimal else 'not proven optimal'})",
        f'num_experts = {int(mapping.num_experts)}',
        _render_dict('expert_map', {k: [int(e) for e in v] for k, v in mapping.expert_map.items()}),
    ]
    if any(len(v) > 1 for v in mapping.expert_map.values()):
        split = {
            k: v
            for k, v in mapping.class_expert_map.items() if len(mapping.expert_map[k]) > 1
        }
        lines.append(_render_dict('class_expert_map', split))
    return '\n'.join(lines) + '\n'


def render_map_config(base_config: str, num_experts: int, expert_map: dict,
                      comments: Sequence[str] = (), out_dir: str = '.') -> str:
    """A config inheriting ``base_config`` with ``num_experts`` and ``expert_map`` set.

    Args:
        base_config (str): The parent config: a path (written relative to
            ``out_dir``, where mmengine resolves it) or ``package::path``.
        num_experts (int): Experts per MoE layer.
        expert_map (dict): ``{dataset: [experts]}``; replaces the parent's map
            (``_delete_``) instead of merging into it.
        comments (Sequence[str]): Lines written first, each as a ``#`` comment.
        out_dir (str): Folder the config is written to.

    Returns:
        str: The config text.
    """
    if '::' in base_config:
        parent = base_config
    else:
        parent = osp.relpath(osp.abspath(base_config), osp.abspath(out_dir))
    expert_map = {k: [int(e) for e in v] for k, v in expert_map.items()}
    lines = [f'# {line}' for line in comments] + [
        f'_base_ = [{parent!r}]',
        '',
        'model = dict(',
        '    moe_cfg=dict(',
        f'        num_experts={int(num_experts)},',
        f"        expert_map={{'_delete_': True, **{expert_map!r}}}))",
    ]
    return '\n'.join(lines) + '\n'


def render_child_config(mapping: ExpertMapping, base_config: str, out_dir: str = '.') -> str:
    """A config inheriting ``base_config`` with the planned ``num_experts`` and ``expert_map``.

    Args:
        mapping (ExpertMapping): The mapping.
        base_config (str): The parent config: a path (written relative to
            ``out_dir``, where mmengine resolves it) or ``package::path``.
        out_dir (str): Folder the child config is written to.

    Returns:
        str: The config text; ``expert_map`` replaces the parent's map
        (``_delete_``) instead of merging into it.
    """
    comments = ('GEM: the dataset -> expert map planned by tools/plan_experts.py',
                f'LP bound {mapping.lp_bound:.6g}, mapping value {mapping.value:.6g}, '
                f'gap {mapping.gap:.3g} ({mapping.compiler} compiler, '
                f"{'proven optimal' if mapping.optimal else 'not proven optimal'})")
    return render_map_config(base_config, mapping.num_experts, mapping.expert_map, comments,
                             out_dir)
