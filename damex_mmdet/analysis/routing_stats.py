"""Routing statistics of an MoE detector over a test set, per layer and dataset.

Shape shorthand: ``L`` MoE layers, ``D`` source datasets, ``E`` experts.

A :class:`RoutingStats` holds raw sums and counts only (so that runs can be
merged and nothing is averaged twice); the quantities of the DAMEX paper are
derived from them:

- :meth:`RoutingStats.utilization`: average routing weight ``p_e(x)`` of the
  tokens of each dataset (Figure 3 of the paper uses the tokens matched to a
  ground-truth box);
- :meth:`RoutingStats.top1_share`: share of a dataset's tokens whose top-1
  expert is ``e``;
- :meth:`RoutingStats.router_accuracy`: share of a dataset's tokens whose
  top-1 expert is one of ``h(d)``, the experts the dataset->expert map gives it.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from damex_mmdet.evaluation.results_table import format_csv_table, format_markdown_table

__all__ = ['RoutingStats', 'TOKEN_KINDS']

TOKEN_KINDS = ('matched', 'all')
_ARRAYS = ('weight_sum', 'matched_count', 'top1_count_all', 'top1_count_matched',
           'weight_sum_all', 'token_count', 'num_images')


def _check_tokens(tokens: str) -> None:
    if tokens not in TOKEN_KINDS:
        raise ValueError(f'tokens={tokens!r}; use one of {TOKEN_KINDS}.')


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with NaN (not a warning) where the count is 0."""
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=np.broadcast_to(denominator > 0, out.shape))
    return out


def _fmt(value: float, decimals: int) -> str:
    return 'n/a' if not np.isfinite(value) else f'{value:.{decimals}f}'


@dataclass
class RoutingStats:
    """Sums and counts of routing decisions, per MoE layer and source dataset.

    Attributes:
        layers (list[str]): ``L`` MoE layer names, e.g. ``decoder.layers.0.ffn``.
        dataset_names (list[str]): ``D`` dataset names (row order).
        num_experts (int): ``E``.
        weight_sum (np.ndarray): (L, D, E) sum of routing probabilities
            ``softmax(W_r x)`` over the tokens matched to a ground-truth box.
        matched_count (np.ndarray): (L, D) number of those matched tokens.
        top1_count_all (np.ndarray): (L, D, E) tokens whose top-1 expert is
            ``e``, over all tokens.
        top1_count_matched (np.ndarray): (L, D, E) the same over matched tokens.
        weight_sum_all (np.ndarray): (L, D, E) sum of routing probabilities
            over all tokens.
        token_count (np.ndarray): (L, D) number of tokens.
        num_images (np.ndarray): (D,) images seen per dataset.
        expert_map (dict, optional): ``{dataset: [expert ids]}`` the model
            was trained with; None for a model without a map.
    """
    layers: List[str]
    dataset_names: List[str]
    num_experts: int
    weight_sum: np.ndarray
    matched_count: np.ndarray
    top1_count_all: np.ndarray
    top1_count_matched: np.ndarray
    weight_sum_all: np.ndarray = None
    token_count: np.ndarray = None
    num_images: np.ndarray = None
    expert_map: Optional[Dict[str, List[int]]] = field(default=None)

    def __post_init__(self):
        shape = (len(self.layers), len(self.dataset_names), self.num_experts)
        defaults = dict(weight_sum_all=shape, token_count=shape[:2], num_images=shape[1:2])
        for name in _ARRAYS:
            value = getattr(self, name)
            if value is None:
                value = np.zeros(defaults[name])
            value = np.asarray(value, dtype=np.float64)
            expected = shape[:2] if name in ('matched_count', 'token_count') else (
                shape[1:2] if name == 'num_images' else shape)
            if value.shape != expected:
                raise ValueError(f'RoutingStats.{name} has shape {value.shape}, expected '
                                 f'{expected} for {shape[0]} layers, {shape[1]} datasets and '
                                 f'{shape[2]} experts.')
            setattr(self, name, value)

    # ------------------------------------------------------------ derived
    def utilization(self, tokens: str = 'matched') -> np.ndarray:
        """Average routing weight of each expert for each dataset (paper, Fig. 3).

        Args:
            tokens (str): ``'matched'`` (queries matched to a ground-truth
                box, as the paper) or ``'all'`` tokens.

        Returns:
            np.ndarray: (L, D, E); each (layer, dataset) row sums to 1, and is
            NaN where the dataset had no such token in that layer.
        """
        _check_tokens(tokens)
        if tokens == 'matched':
            return _ratio(self.weight_sum, self.matched_count[..., None])
        return _ratio(self.weight_sum_all, self.token_count[..., None])

    def top1_share(self, tokens: str = 'all') -> np.ndarray:
        """(L, D, E) share of a dataset's tokens whose top-1 expert is ``e`` (NaN if none)."""
        _check_tokens(tokens)
        counts = self.top1_count_all if tokens == 'all' else self.top1_count_matched
        return _ratio(counts, counts.sum(-1, keepdims=True))

    def router_accuracy(self, tokens: str = 'all',
                        expert_map: Optional[Mapping[str, Sequence[int]]] = None
                        ) -> Dict[str, Dict[str, float]]:
        """Share of tokens routed (top-1) to one of their dataset's mapped experts.

        Args:
            tokens (str): ``'all'`` tokens or ``'matched'`` ones.
            expert_map (Mapping, optional): ``{dataset: [expert ids]}``;
                defaults to the model's map stored in :attr:`expert_map`.

        Returns:
            dict: ``{layer: {dataset: accuracy in [0, 1], ..., 'mean': ...}}``
            over the datasets that are in the map and have tokens; ``'mean'``
            is the unweighted mean over those datasets.

        Raises:
            ValueError: without a map, or when no dataset is both in the map
                and among the routed tokens.
        """
        _check_tokens(tokens)
        expert_map = self.expert_map if expert_map is None else expert_map
        if not expert_map:
            raise ValueError('router accuracy needs a dataset->expert map, but the model has '
                             'none (e.g. a vanilla MoE); pass expert_map={name: [ids]}.')
        counts = self.top1_count_all if tokens == 'all' else self.top1_count_matched
        rows = [(d, name) for d, name in enumerate(self.dataset_names)
                if name in expert_map and counts[:, d].sum() > 0]
        if not rows:
            raise ValueError(f'no dataset is both in the expert map ({sorted(expert_map)}) and '
                             f'among the routed datasets ({self.dataset_names}) with {tokens} '
                             'tokens; check the dataset names.')
        out = {}
        for layer_idx, layer in enumerate(self.layers):
            accuracy = {}
            for d, name in rows:
                hit = counts[layer_idx, d, list(expert_map[name])].sum()
                accuracy[name] = float(hit / counts[layer_idx, d].sum())
            accuracy['mean'] = float(np.mean(list(accuracy.values())))
            out[layer] = accuracy
        return out

    # ------------------------------------------------------------ tables
    def _matrix_rows(self, values: np.ndarray, counts: np.ndarray, count_name: str,
                     decimals: int) -> List[List[str]]:
        rows = [['layer', 'dataset', count_name, *(f'e{e}' for e in range(self.num_experts))]]
        for layer_idx, layer in enumerate(self.layers):
            for d, name in enumerate(self.dataset_names):
                rows.append([layer, name, str(int(counts[layer_idx, d])),
                             *(_fmt(v, decimals) for v in values[layer_idx, d])])
        return rows

    def router_accuracy_rows(self, tokens: str = 'all', decimals: int = 1) -> List[List[str]]:
        """Router accuracy (%) cells: header ``layer, <datasets>, mean``, one row per layer."""
        accuracy = self.router_accuracy(tokens)
        columns = list(next(iter(accuracy.values())))
        rows = [['layer', *columns]]
        for layer, values in accuracy.items():
            rows.append([layer, *(_fmt(100 * values[c], decimals) for c in columns)])
        return rows

    def to_csv(self, out_dir: str) -> Dict[str, str]:
        """Write ``utilization.csv``, ``top1_share.csv`` and (with a map) ``router_accuracy.csv``.

        ``utilization.csv``: per (layer, dataset) the matched-token count and
        the average routing weight of each expert (4 decimals, ``n/a`` when
        there is no matched token). ``top1_share.csv``: per (layer, dataset)
        the token count and the share of tokens whose top-1 expert is ``e``.
        ``router_accuracy.csv``: rows layers, columns datasets then ``mean``,
        in percent (2 decimals).

        Returns:
            dict[str, str]: file kind -> path.
        """
        os.makedirs(out_dir, exist_ok=True)
        tables = dict(
            utilization=self._matrix_rows(self.utilization('matched'), self.matched_count,
                                          'matched_tokens', 4),
            top1_share=self._matrix_rows(self.top1_share('all'), self.token_count, 'tokens', 4))
        if self.expert_map:
            tables['router_accuracy'] = self.router_accuracy_rows('all', 2)
        paths = {}
        for kind, rows in tables.items():
            paths[kind] = osp.join(out_dir, f'{kind}.csv')
            with open(paths[kind], 'w', encoding='utf-8') as handle:
                handle.write(format_csv_table(rows))
        return paths

    def router_accuracy_markdown(self, tokens: str = 'all') -> str:
        """Router accuracy (%) table: rows layers, columns datasets then ``mean``."""
        return format_markdown_table(self.router_accuracy_rows(tokens, 1))

    def to_markdown(self) -> str:
        """Utilization per layer (datasets x experts), then router accuracy when a map exists."""
        parts = []
        utilization = self.utilization('matched')
        for layer_idx, layer in enumerate(self.layers):
            rows = [['dataset', *(f'e{e}' for e in range(self.num_experts)), 'matched']]
            for d, name in enumerate(self.dataset_names):
                rows.append([name, *(_fmt(v, 2) for v in utilization[layer_idx, d]),
                             str(int(self.matched_count[layer_idx, d]))])
            parts.append(f'Average routing weight of matched tokens, `{layer}`\n\n'
                         + format_markdown_table(rows))
        if self.expert_map:
            parts.append('Router accuracy (%, top-1 expert in h(d), all tokens)\n\n'
                         + self.router_accuracy_markdown('all'))
        return '\n\n'.join(parts) + '\n'

    # ------------------------------------------------------------ storage
    def merge(self, other: 'RoutingStats') -> 'RoutingStats':
        """Sum of two runs over the same layers, datasets and experts."""
        for key in ('layers', 'dataset_names', 'num_experts'):
            if getattr(self, key) != getattr(other, key):
                raise ValueError(f'cannot merge RoutingStats with different {key}: '
                                 f'{getattr(self, key)} vs {getattr(other, key)}.')
        arrays = {name: getattr(self, name) + getattr(other, name) for name in _ARRAYS}
        return RoutingStats(list(self.layers), list(self.dataset_names), self.num_experts,
                            expert_map=self.expert_map, **arrays)

    def to_dict(self) -> dict:
        """JSON-friendly dict (arrays as nested lists)."""
        out = dict(layers=list(self.layers), dataset_names=list(self.dataset_names),
                   num_experts=self.num_experts, expert_map=self.expert_map)
        out.update({name: getattr(self, name).tolist() for name in _ARRAYS})
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> 'RoutingStats':
        """Inverse of :meth:`to_dict`."""
        missing = [k for k in ('layers', 'dataset_names', 'num_experts', *_ARRAYS[:4])
                   if k not in data]
        if missing:
            raise ValueError(f'routing statistics lack key(s) {missing}; was the file written '
                             'by RoutingStats.save?')
        keys = ('layers', 'dataset_names', 'num_experts', 'expert_map', *_ARRAYS)
        return cls(**{k: data[k] for k in keys if k in data})

    def save(self, path: str) -> str:
        """Write :meth:`to_dict` as JSON; returns ``path``."""
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump(self.to_dict(), handle)
        return path

    @classmethod
    def load(cls, path: str) -> 'RoutingStats':
        """Read a file written by :meth:`save`."""
        if not osp.isfile(path):
            raise FileNotFoundError(f'routing statistics file {path} does not exist.')
        with open(path, encoding='utf-8') as handle:
            return cls.from_dict(json.load(handle))
