"""MoEConfig: the typed MoE options, validated when a detector is built."""
import pytest

from damex_mmdet.moe import MoEConfig


def test_defaults_and_layer_options():
    cfg = MoEConfig.from_dict(None)
    assert cfg.num_experts == 8 and cfg.router == dict(type='DatasetAwareRouter')
    assert cfg.capacity_factor == 0.0 and cfg.expert_init == 'fresh' and cfg.layers is None
    options = MoEConfig.from_dict(dict(num_experts=4, capacity_factor=1.25)).layer_options()
    assert options == dict(num_experts=4, router=dict(type='DatasetAwareRouter'),
                           capacity_factor=1.25, eval_capacity_factor=0.0,
                           batch_prioritized=False)


@pytest.mark.parametrize('cfg,message', [
    (dict(num_expert=4), r"unknown key\(s\) \['num_expert'\]; valid keys: .*'num_experts'"),
    (dict(expert_init='copy'), r"moe_cfg.expert_init='copy'; use one of \('fresh', 'upcycle'\)"),
    (dict(ce_tokens='queries'), r"moe_cfg.ce_tokens='queries'; use one of \('all', 'matching'"),
    (dict(balance_tokens='fg'), r"moe_cfg.balance_tokens='fg'"),
    (dict(num_experts=0), r'moe_cfg.num_experts=0; use an integer >= 1'),
    (dict(num_experts=2.0), r'moe_cfg.num_experts=2.0'),
    (dict(capacity_factor='1.25'), r"moe_cfg.capacity_factor='1.25'; use a number"),
    (dict(router='TopKRouter'), r"moe_cfg.router='TopKRouter'; use dict\(type="),
    (dict(router=dict(type='TopK')), r"moe_cfg.router type 'TopK' is unknown; use one of "
     r"\[.*'DatasetAwareRouter'.*'TopKRouter'.*\]"),
    (dict(layer=dict(type='TopKRouter')), r"moe_cfg.layer type 'TopKRouter' is unknown;"
     r" use one of \['MoEFFN', 'MoEPlusPlusFFN', 'SoftMoEFFN'\]"),
    (dict(expert_map=[0, 1]), r'moe_cfg.expert_map=\[0, 1\]; use \{dataset_name'),
])
def test_a_wrong_key_or_value_names_the_key_and_the_valid_values(cfg, message):
    with pytest.raises(ValueError, match=message):
        MoEConfig.from_dict(cfg)


def test_every_field_is_documented_by_a_comment():
    import inspect
    source = inspect.getsource(MoEConfig).splitlines()
    fields = [f for f in MoEConfig.__dataclass_fields__]
    for name in fields:
        line = next(i for i, text in enumerate(source) if text.strip().startswith(f'{name}:'))
        assert source[line - 1].strip().startswith('#'), name
