"""The dataset -> expert map ``h`` of DAMEX / GEM, a first-class artifact.

A map is keyed by dataset *name* (never by list position). A dataset may map to
one expert (the usual case), several datasets may share one expert
(many-to-one), and a dataset may map to several experts (one-to-many: each
image then draws one of them uniformly, from a seeded generator).
"""
from typing import Iterable, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor

__all__ = ['ExpertMap']

ExpertIds = Union[int, Sequence[int]]


class ExpertMap:
    """Validated mapping from dataset names to expert ids.

    Args:
        mapping (Mapping[str, int | Sequence[int]]): dataset name -> expert
            id or non-empty list of expert ids.
        num_experts (int): number of experts ``E``; ids must be in [0, E).
        seed (int): seed of the generator used for one-to-many draws.

    Example:
        >>> h = ExpertMap(dict(coco=[1], voc=[1], kitti=[5]), num_experts=8)
        >>> h.experts('voc')
        (1,)
    """

    def __init__(self, mapping: Mapping[str, ExpertIds], num_experts: int, seed: int = 0):
        if not isinstance(num_experts, int) or num_experts < 1:
            raise ValueError(f'num_experts must be a positive int, got {num_experts!r}.')
        if not isinstance(mapping, Mapping) or not mapping:
            raise ValueError(
                'expert_map must be a non-empty dict of dataset name -> expert '
                f'id(s), e.g. dict(coco=[0], kitti=[1]); got {mapping!r}.')
        self.num_experts = num_experts
        self._map = {}
        for name, experts in mapping.items():
            if name == '_delete_':  # left by mmengine when the parent config had no map
                continue
            ids = (experts, ) if isinstance(experts, int) else tuple(experts)
            if not ids or not all(isinstance(i, int) for i in ids):
                raise ValueError(
                    f'expert_map[{name!r}] = {experts!r}: give an expert id or a '
                    'non-empty list of int expert ids.')
            bad = [i for i in ids if not 0 <= i < num_experts]
            if bad:
                raise ValueError(
                    f'expert_map[{name!r}] uses expert id(s) {bad} but the model '
                    f'has num_experts={num_experts} (valid ids 0..{num_experts - 1}).')
            self._map[str(name)] = tuple(dict.fromkeys(ids))
        self._generator = torch.Generator().manual_seed(seed)
        self.seed = seed

    @property
    def dataset_names(self) -> tuple:
        return tuple(self._map)

    def experts(self, name: str) -> tuple:
        """Expert ids of dataset ``name``; raises KeyError naming the fix."""
        try:
            return self._map[name]
        except KeyError:
            raise KeyError(
                f'dataset {name!r} is not in the expert map (known: '
                f'{list(self._map)}); add it to the model\'s expert_map, '
                f'e.g. expert_map=dict(..., {name}=[0]).') from None

    def validate_datasets(self, dataset_names: Iterable[str], source: str = 'the datasets'):
        """Check that every dataset has experts and no map entry is unknown.

        Args:
            dataset_names (Iterable[str]): names of the configured datasets.
            source (str): where the names came from, for the message.

        Raises:
            ValueError: naming the missing or unknown datasets and the fix.
        """
        names = list(dataset_names)
        missing = [n for n in names if n not in self._map]
        unknown = [n for n in self._map if n not in names]
        if missing:
            raise ValueError(
                f'The expert map has no entry for dataset(s) {missing} of {source}; '
                f'add them to expert_map (current keys: {list(self._map)}).')
        if unknown:
            raise ValueError(
                f'expert_map names dataset(s) {unknown} that are not among '
                f'{source} ({names}); remove them or fix the spelling.')

    def sample_targets(self, names: Sequence[str], generator: Optional[torch.Generator] = None,
                       device=None) -> Tensor:
        """Draw the target expert of each image.

        Args:
            names (Sequence[str]): (B,) dataset name per image.
            generator (torch.Generator, optional): defaults to the map's own
                seeded generator, so one-to-many draws are reproducible.
            device: device of the returned tensor.

        Returns:
            Tensor: (B,) long expert id per image.
        """
        generator = self._generator if generator is None else generator
        targets = []
        for name in names:
            ids = self.experts(name)
            if len(ids) == 1:
                targets.append(ids[0])
            else:
                pick = int(torch.randint(len(ids), (1, ), generator=generator))
                targets.append(ids[pick])
        return torch.tensor(targets, dtype=torch.long, device=device)

    def to_dict(self) -> dict:
        """Plain ``{name: [ids]}``, JSON- and config-friendly."""
        return {name: list(ids) for name, ids in self._map.items()}

    def matrix(self, dataset_names: Optional[Sequence[str]] = None) -> Tensor:
        """(D, E) float 0/1 assignment matrix in ``dataset_names`` order."""
        names = list(dataset_names or self._map)
        out = torch.zeros(len(names), self.num_experts)
        for row, name in enumerate(names):
            out[row, list(self.experts(name))] = 1.0
        return out

    def __eq__(self, other):
        return (isinstance(other, ExpertMap) and self.num_experts == other.num_experts
                and self.to_dict() == other.to_dict())

    def __repr__(self):
        return f'ExpertMap({self.to_dict()}, num_experts={self.num_experts})'
