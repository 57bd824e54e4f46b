"""The variants of a method comparison on the built-in benchmark.

A variant is a config plus options, optionally started from another
variant's trained checkpoint of the same seed (continuation). Every built-in
variant keeps the schedule, data and optimiser of the dense config, so that
the variants of one seed differ only in what they are named for.
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import DictAction

from damex_mmdet.utils.dataset_addition import AdditionOptions

__all__ = ['Variant', 'VARIANTS', 'COMPARE', 'custom_variants']

_DINO = 'dino/dino-tiny_r18_1xb4-600i_damex-default.py'
_MOE = 'moe/dino-moe-tiny_r18_1xb4-600i_damex-default.py'
_DAMEX = 'damex/damex-dino-tiny_r18_1xb4-600i_damex-default.py'
_GEM = 'gem/gem-dino-tiny_r18_1xb4-600i_damex-default.py'
_REMOE = 'remoe/remoe-dino-tiny_r18_1xb4-600i_damex-default.py'
_SOFTMOE = 'softmoe/softmoe-dino-tiny_r18_1xb4-600i_damex-default.py'
_MOEPP = 'moepp/moepp-dino-tiny_r18_1xb4-600i_damex-default.py'
# make_mixture_config.py's default map on the built-in data (image similarity >= 0.9 shares
# an expert: street and signs, 0.94; every other pair <= 0.79)
_SIMILARITY_MAP = dict(comic=[0], kitchen=[1], signs=[2], street=[2], watercolor=[3], xray=[4])
_ONE_EXPERT_MAP = dict(watercolor=[0], comic=[0], street=[0], signs=[0], kitchen=[0], xray=[0])
_PER_DATASET_MAP = dict(comic=[0], kitchen=[1], signs=[2], street=[3], watercolor=[4], xray=[5])
# DAMEX Table 5's random map, drawn once (docs/results/benchmark_v2/PLAN.md): each dataset
# uniformly on one of 4 experts, numpy default_rng(33), redrawn until all 4 are used and
# the map differs from the human prior up to relabelling (3rd draw)
_RANDOM_MAP = dict(watercolor=[3], comic=[3], street=[3], signs=[2], kitchen=[1], xray=[0])


@dataclass(frozen=True)
class Variant:
    """One arm of a comparison."""

    # config: a path, or relative to the package's configs/
    config: str
    # what the arm tests (one line, shown in the report)
    description: str
    # config keys overridden for this arm, as `--cfg-options` would
    options: Dict[str, Any] = field(default_factory=dict)
    # name of the variant whose trained checkpoint of the same seed this one starts from
    starts_from: Optional[str] = None
    # True: runs on the built-in benchmark (its datasets are pointed at --data-root/<name>/);
    # False: a user's config, whose data roots are left as they are
    builtin_data: bool = True
    # a built-in dataset this arm neither trains nor tests on: its classes leave the label
    # space, the map's other experts are renumbered in order
    leave_out: Optional[str] = None
    # the built-in dataset this arm adds (tools/add_dataset.py) to the detector that
    # `starts_from` trained at the same seed; the arm trains the config the tool writes
    adds: Optional[str] = None
    # how it is added (mode, expert, shots, iterations); the seed is the run's
    addition: Optional[AdditionOptions] = None

    def __post_init__(self):
        paired = (self.adds is None) == (self.addition is None)
        if not paired or (self.adds and not self.starts_from):
            raise ValueError(f'variant of {self.config}: adds, addition and starts_from go '
                             'together (the dataset, how, and the trained detector it joins).')


VARIANTS: Dict[str, Variant] = {
    'dense': Variant(_DINO, 'DINO, dense FFNs (baseline)'),
    'moe': Variant(_MOE, 'vanilla MoE: learned top-1, balancing loss 0.1 on foreground, cf 1.25'),
    'damex': Variant(_DAMEX, 'DAMEX: learned top-1, CE 0.1 to the human-prior map, no dropping'),
    'gem': Variant(_GEM, 'map-forced dispatch in training (FixedMapRouter), CE-trained gate'),
    # the GEM paper's MoE baselines (one harness for every routing)
    'remoe': Variant(_REMOE, 'ReMoE: ReLU router, dropless, L1 steering 1 active expert'),
    'softmoe': Variant(_SOFTMOE,
                       'Soft MoE: 4 slots per expert, mixing within token groups, no dropping'),
    'moepp': Variant(_MOEPP, 'MoE++: 4 FFN + zero/copy/constant experts, top-2, gating residual'),
    # controls
    'dense-jitter': Variant(
        _DINO, 'control: dense with the learning rate 1e-6 relatively higher (a perturbation '
        'far below any effect: measures how far training amplifies floating-point differences)',
        {'optim_wrapper.optimizer.lr': 4.000004e-4}),
    'damex-1expert': Variant(
        _DAMEX, 'control: one expert = dense FFN plus a router (must equal dense)',
        {'model.moe_cfg.num_experts': 1, 'model.moe_cfg.expert_map': _ONE_EXPERT_MAP}),
    'damex-one-of-4': Variant(_DAMEX, 'control: 4 experts, every dataset mapped to expert 0',
                              {'model.moe_cfg.expert_map': _ONE_EXPERT_MAP}),
    'damex-per-dataset': Variant(
        _DAMEX, 'DAMEX, one expert per dataset (6): splits the same-style street/signs pair '
        'the human prior puts on one expert',
        {'model.moe_cfg.num_experts': 6, 'model.moe_cfg.expert_map': _PER_DATASET_MAP}),
    'damex-planned': Variant(
        _DAMEX, 'DAMEX with the map planned from image similarity (5 experts: street and signs '
        'share one, every other dataset its own)',
        {'model.moe_cfg.num_experts': 5, 'model.moe_cfg.expert_map': _SIMILARITY_MAP}),
    'damex-ce0': Variant(_DAMEX, 'control: DAMEX router without the CE (learned, no auxiliary '
                         'loss)', {'model.moe_cfg.router.ce_weight': 0.0}),
    'damex-ce1': Variant(_DAMEX, 'control: DAMEX CE weight 1.0',
                         {'model.moe_cfg.router.ce_weight': 1.0}),
    'moe-dropless': Variant(_MOE, 'claim: vanilla MoE without token dropping (capacity factor '
                            '0), to test whether its deficit is its dropping',
                            {'model.moe_cfg.capacity_factor': 0.0}),
    'damex-random-map': Variant(
        _DAMEX, 'claim: DAMEX with a random map (4 experts, drawn once) instead of the human '
        'prior (DAMEX Table 5)', {'model.moe_cfg.expert_map': _RANDOM_MAP}),
    'moe-bpr': Variant(_MOE, 'control: vanilla MoE with batch-prioritised dropping (released '
                       'DAMEX code)', {'model.moe_cfg.batch_prioritized': True}),
    # ablation: experts initialised independently instead of upcycled
    'moe-fresh': Variant(_MOE, 'ablation: vanilla MoE, experts initialised independently',
                         {'model.moe_cfg.expert_init': 'fresh'}),
    'damex-fresh': Variant(_DAMEX, 'ablation: DAMEX, experts initialised independently',
                           {'model.moe_cfg.expert_init': 'fresh'}),
    # continuation: start from the trained dense detector of the same seed
    'cont-dense': Variant(_DINO, 'dense, continued from the trained dense detector',
                          starts_from='dense'),
    'cont-moe': Variant(_MOE, 'vanilla MoE upcycled from the trained dense detector',
                        starts_from='dense'),
    'cont-damex': Variant(_DAMEX, 'DAMEX upcycled from the trained dense detector',
                          starts_from='dense'),
}


def _addition_arms(dataset: str, shots: Sequence[Optional[int]],
                   max_iters: int = 600) -> Dict[str, Variant]:
    """The arms of adding ``dataset`` (docs/results/add_dataset/PLAN.md)."""
    before, dense = f'damex-no-{dataset}', f'dense-no-{dataset}'
    arms = {
        before: Variant(_DAMEX, f'DAMEX on the datasets but {dataset} (human-prior map '
                        'without it)', leave_out=dataset),
        dense: Variant(_DINO, f'DINO, dense, on the datasets but {dataset}', leave_out=dataset),
        f'add-{dataset}-replay': Variant(
            _DAMEX, f'{dataset} added to {before}: new expert, everything trains, old '
            'datasets replayed at 0.5', starts_from=before, adds=dataset,
            addition=AdditionOptions(mode='replay', replay_ratio=0.5, max_iters=max_iters)),
    }
    for count in shots:
        tag, what = ('', 'all images') if count is None else (f'-{count}shot', f'{count} images')
        arms[f'add-{dataset}-frozen{tag}'] = Variant(
            _DAMEX, f'{dataset} ({what}) added to {before}: new expert, every trained value '
            'frozen', starts_from=before, adds=dataset,
            addition=AdditionOptions(mode='frozen', shots=count, max_iters=max_iters))
        arms[f'add-{dataset}-frozen-replay{tag}'] = Variant(
            _DAMEX, f'{dataset} ({what}) added to {before}: new expert, every trained value '
            'frozen, old datasets replayed at 0.5 (they train the new rows only)',
            starts_from=before, adds=dataset,
            addition=AdditionOptions(mode='frozen', replay_ratio=0.5, shots=count,
                                     max_iters=max_iters))
        arms[f'add-{dataset}-finetune-dense{tag}'] = Variant(
            _DINO, f'{dense} fine-tuned on {dataset} ({what}) alone: the forgetting baseline',
            starts_from=dense, adds=dataset,
            addition=AdditionOptions(mode='finetune', shots=count, max_iters=max_iters))
    return arms


# adding a dataset to a trained detector: kitchen has 40 training images (10-shot and all),
# xray 300 (10, 50 and all)
VARIANTS.update(_addition_arms('kitchen', (None, 10)))
VARIANTS.update(_addition_arms('xray', (None, 50, 10)))
# the variants of `--compare`
COMPARE: List[str] = ['dense', 'moe', 'damex', 'gem']


def custom_variants(specs: List[List[str]]) -> Dict[str, Variant]:
    """``[['mine=configs/x.py', 'a.b=1', ...], ...]`` -> variants on the user's own data.

    Raises:
        ValueError: a malformed spec, or a name of a built-in variant.
    """
    out = {}
    for spec in specs:
        name, sep, config = spec[0].partition('=')
        if not sep or not name or not config:
            raise ValueError(f"--variant {' '.join(spec)}: expected NAME=CONFIG [KEY=VALUE ...].")
        if name in VARIANTS:
            raise ValueError(f'--variant {name}=...: {name!r} is a built-in variant; pick '
                             'another name.')
        options = {}
        for item in spec[1:]:
            key, sep, value = item.partition('=')
            if not sep:
                raise ValueError(f'--variant {name}: {item!r} is not KEY=VALUE.')
            options[key] = DictAction._parse_iterable(value)
        out[name] = Variant(config, f'user variant ({config})', options, builtin_data=False)
    return out
