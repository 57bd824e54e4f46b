"""Named and user variants of a comparison."""
import pytest

from damex_mmdet.experiments import VARIANTS, ComparisonSettings, RunPlan, custom_variants


def test_custom_variant_parsing_and_errors():
    variants = custom_variants([['mine=damex/x.py', 'model.moe_cfg.num_experts=8',
                                 'a.b=[1,2]']])
    mine = variants['mine']
    assert mine.config == 'damex/x.py' and mine.starts_from is None
    assert mine.options == {'model.moe_cfg.num_experts': 8, 'a.b': [1, 2]}
    assert not mine.builtin_data  # trained on the data its config names
    with pytest.raises(ValueError, match='NAME=CONFIG'):
        custom_variants([['nonsense']])
    with pytest.raises(ValueError, match='built-in variant'):
        custom_variants([['damex=foo.py']])
    with pytest.raises(ValueError, match="is not KEY=VALUE"):
        custom_variants([['mine=x.py', 'oops']])


def test_a_continuation_needs_the_variant_it_starts_from():
    with pytest.raises(ValueError, match=r"\['cont-moe'\] start from \['dense'\]"):
        RunPlan(ComparisonSettings(), {'cont-moe': VARIANTS['cont-moe']}, [0])
    plan = RunPlan(ComparisonSettings(), {'cont-moe': VARIANTS['cont-moe'],
                                          'dense': VARIANTS['dense']}, [0, 1])
    assert plan.runs == [('dense', 0), ('dense', 1), ('cont-moe', 0), ('cont-moe', 1)]


def test_every_named_variant_is_on_the_builtin_data_and_described():
    for name, variant in VARIANTS.items():
        assert variant.builtin_data and variant.description, name
        assert variant.starts_from in (None, *VARIANTS), name
