"""Routers and MoE layers declare what they need and support; unsupported pairs stop at build."""
import pytest
import torch

from damex_mmdet.moe import (DISPATCH_KINDS, MOE_MODULES, TOKEN_SET_ROLES, DatasetAwareRouter,
                             FixedMapRouter, MoEFFN, MoEPlusPlusFFN, ReLURouter, Router,
                             SoftMoEFFN, TopKRouter, check_router_fits_layer)
from damex_mmdet.moe.expert_parallel import ExpertParallelMoEFFN, check_expert_parallel
from damex_mmdet.moe.tutel_backend import TutelMoEFFN


def _registered(base):
    return {n: c for n, c in MOE_MODULES.module_dict.items() if issubclass(c, base)}


def test_every_registered_router_declares_a_dispatch_some_layer_mixes():
    routers, layers = _registered(Router), _registered(MoEFFN)
    assert {'TopKRouter', 'DatasetAwareRouter', 'FixedMapRouter', 'ReLURouter',
            'SoftMoERouter', 'MoEPlusPlusRouter'} <= set(routers)
    for name, cls in routers.items():
        assert cls.dispatch in DISPATCH_KINDS, name
        assert any(cls.dispatch in layer.mixes for layer in layers.values()), name


@pytest.mark.parametrize('router,targets,losses', [
    (TopKRouter(4, 2, balance_weight=0.1), False, {'loss_balance': 'balance'}),
    (TopKRouter(4, 2, balance_weight=0.0), False, {}),
    (DatasetAwareRouter(4, 2, ce_weight=0.1), True, {'loss_damex': 'ce'}),
    (DatasetAwareRouter(4, 2, ce_weight=0.0), False, {}),
    (FixedMapRouter(4, 2, ce_weight=0.0), True, {}),
    (ReLURouter(4, 2), False, {'loss_l1': 'all'}),
])
def test_router_declarations_follow_their_options(router, targets, losses):
    assert router.needs_targets is targets
    assert router.loss_token_sets == losses
    assert set(losses.values()) <= set(TOKEN_SET_ROLES)


def test_a_training_forward_needs_a_session_only_when_the_declarations_say_so():
    quiet = MoEFFN(4, 8, num_experts=2, router=dict(type='TopKRouter', balance_weight=0.0))
    quiet.train()(torch.randn(1, 3, 4))  # no loss, no targets, no token mixing: runs
    for layer in (MoEFFN(4, 8, num_experts=2, router=dict(type='DatasetAwareRouter')),
                  SoftMoEFFN(4, 8, num_experts=2)):
        with pytest.raises(RuntimeError, match='outside a routing session'):
            layer.train()(torch.randn(1, 3, 4))


def test_an_unsupported_pair_names_both_sides_and_what_fits():
    with pytest.raises(ValueError, match=r"MoEFFN mixes .*'map'.*router SoftMoERouter dispatches "
                       r"by 'slots'.*'TopKRouter'.*\['SoftMoEFFN'\]"):
        check_router_fits_layer(MoEFFN, MOE_MODULES.get('SoftMoERouter'))
    with pytest.raises(ValueError, match=r"SoftMoEFFN mixes .*\['slots'\], but router "
                       r"TopKRouter dispatches by 'topk'"):
        SoftMoEFFN(4, 8, num_experts=2, router=dict(type='TopKRouter'))
    # the tutel backend mixes softmax top-k only: GEM's map dispatch and ReMoE are refused
    for router in (FixedMapRouter, ReLURouter):
        with pytest.raises(ValueError,
                           match=rf"TutelMoEFFN \(backend='tutel'\) .*{router.__name__}"):
            check_router_fits_layer(TutelMoEFFN, router)
    check_router_fits_layer(TutelMoEFFN, DatasetAwareRouter)


def test_expert_parallelism_asks_the_layer_declaration():
    assert MoEFFN.expert_parallel and ExpertParallelMoEFFN.expert_parallel
    check_expert_parallel(MoEFFN)
    for cls, reason in ((SoftMoEFFN, "'slots'"), (MoEPlusPlusFFN, "'cheap'"),
                        (TutelMoEFFN, "backend='native'")):
        with pytest.raises(ValueError, match=rf'{cls.__name__} declares expert_parallel=False'
                           rf".*{reason}"):
            check_expert_parallel(cls)
