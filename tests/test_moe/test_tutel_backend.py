"""The tutel backend equals the native one on the same weights (when tutel is installed)."""
import pytest
import torch

from damex_mmdet.moe import MoEFFN, routing_session
from damex_mmdet.moe import tutel_backend
from damex_mmdet.moe.tutel_backend import TutelMoEFFN, tutel_available

needs_tutel = pytest.mark.skipif(
    not tutel_available(),
    reason='tutel is not installed (not on the package index; see requirements/optional.txt): '
    'the tutel backend cannot be compared with the native one here')

D, H, E = 16, 32, 4


def _pair(router=None, **kwargs):
    kwargs = dict(embed_dims=D, feedforward_channels=H, num_experts=E,
                  router=router or dict(type='TopKRouter', gate_noise=0.0), **kwargs)
    torch.manual_seed(0)
    native = MoEFFN(**kwargs)
    tutel = TutelMoEFFN(**kwargs)
    tutel.load_state_dict(native.state_dict(), strict=True)
    return native, tutel


def _run(layer, x, cot):
    x = x.clone().requires_grad_(True)
    with routing_session(layer):
        out = layer(x)
    (out * cot).sum().backward()
    grads = {name: p.grad.clone() for name, p in layer.named_parameters()}
    layer.zero_grad()
    return out.detach(), x.grad, grads


@needs_tutel
@pytest.mark.parametrize('top_k,capacity_factor', [(1, 0.0), (1, 1.0), (2, 0.0), (2, 1.0),
                                                   (1, -1.0)])
def test_outputs_and_gradients_match_native(top_k, capacity_factor, monkeypatch):
    from tutel import moe as tutel_moe
    calls = []
    encode = tutel_moe.fast_encode
    monkeypatch.setattr(tutel_moe, 'fast_encode',
                        lambda *a, **k: calls.append(1) or encode(*a, **k))
    native, tutel = _pair(dict(type='TopKRouter', top_k=top_k, gate_noise=0.0),
                          capacity_factor=capacity_factor)
    gen = torch.Generator().manual_seed(1)
    x, cot = torch.randn(3, 20, D, generator=gen), torch.randn(3, 20, D, generator=gen)
    ref, got = _run(native, x, cot), _run(tutel, x, cot)
    assert calls  # tutel's kernels did the dispatch
    torch.testing.assert_close(got[0], ref[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[1], ref[1], atol=1e-5, rtol=1e-5)
    for name in ref[2]:
        torch.testing.assert_close(got[2][name], ref[2][name], atol=1e-5, rtol=1e-4)
    if capacity_factor == 1.0 and top_k == 1:
        # dropped tokens: identity only (zero mixture) in both backends, the same ones
        dropped = (ref[0] - x).abs().sum(-1) == 0
        assert dropped.any() and torch.equal(dropped, (got[0] - x).abs().sum(-1) == 0)


@needs_tutel
def test_eval_with_gate_noise_matches_and_records_the_same_plan():
    router = dict(type='DatasetAwareRouter', gate_noise=1.0, ce_weight=0.1)
    native, tutel = _pair(router)
    x = torch.randn(2, 6, D)
    outputs, records = [], []
    for layer in (native, tutel):
        layer.eval()
        with routing_session(layer, torch.tensor([1, 3])) as session:
            outputs.append(layer(x))
        records.append(session.records)
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)
    (ref, ), (got, ) = records
    assert torch.equal(got.plan.expert_index, ref.plan.expert_index)
    assert torch.equal(got.kept, ref.kept)
    torch.testing.assert_close(
        tutel.router.losses(got.plan)['loss_damex'], native.router.losses(ref.plan)['loss_damex'])


@needs_tutel
def test_training_with_gate_noise_runs_and_trains_the_router():
    _, tutel = _pair(dict(type='DatasetAwareRouter', gate_noise=1.0, ce_weight=0.1))
    tutel.train()
    with routing_session(tutel, torch.tensor([0, 2])) as session:
        out = tutel(torch.randn(2, 6, D))
    (record, ) = session.records
    loss = out.sum() + tutel.router.losses(record.plan)['loss_damex']
    loss.backward()
    assert torch.isfinite(loss) and tutel.router.gate.weight.grad.abs().sum() > 0
    assert tutel.experts.w1.grad.abs().sum() > 0


@needs_tutel
def test_fixed_map_router_is_refused():
    with pytest.raises(ValueError, match="backend='native' for GEM"):
        TutelMoEFFN(D, H, num_experts=E, router=dict(type='FixedMapRouter'))


def test_missing_tutel_gives_an_install_hint(monkeypatch):
    monkeypatch.setattr(tutel_backend, 'tutel_available', lambda: False)
    with pytest.raises(ImportError, match='not on the package index'):
        TutelMoEFFN(D, H, num_experts=E)


@needs_tutel
def test_expert_parallel_conversion_refuses_tutel_layers():
    from damex_mmdet.moe.expert_parallel import convert_to_expert_parallel
    model = torch.nn.Module()
    model.ffn = _pair()[1]
    with pytest.raises(ValueError, match="backend='native'"):
        convert_to_expert_parallel(model)
