"""Gate-noise generators that leave torch's global stream untouched."""
import torch

from damex_mmdet.moe import (TopKRouter, current_session, routing_session,
                             stream_preserving_generator)


def test_building_and_drawing_does_not_advance_the_global_stream():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    gen = stream_preserving_generator('cpu')
    torch.randn(1000, generator=gen)
    assert torch.equal(torch.get_rng_state(), before)


def test_seed_is_a_function_of_the_global_state():
    torch.manual_seed(0)
    a = torch.randn(5, generator=stream_preserving_generator('cpu'))
    torch.manual_seed(0)
    b = torch.randn(5, generator=stream_preserving_generator('cpu'))
    torch.rand(1)  # the global stream moves on: other noise
    c = torch.randn(5, generator=stream_preserving_generator('cpu'))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # a different stream from the one the global generator continues with
    torch.manual_seed(0)
    assert not torch.equal(a, torch.randn(5))


def test_router_noise_comes_from_the_given_generator():
    router = TopKRouter(8, 4, gate_noise=4.0).train()
    x = torch.randn(32, 8)
    plan_a = router(x, None, torch.Generator().manual_seed(1))
    plan_b = router(x, None, torch.Generator().manual_seed(1))
    plan_c = router(x, None, torch.Generator().manual_seed(2))
    assert torch.equal(plan_a.noisy_logits, plan_b.noisy_logits)
    assert not torch.equal(plan_a.noisy_logits, plan_c.noisy_logits)
    torch.testing.assert_close(plan_a.logits, plan_c.logits)
    # the noise has the configured scale: std gate_noise / E = 1
    noise = router(torch.zeros(20000, 8), None, torch.Generator().manual_seed(3)).noisy_logits
    assert abs(float(noise.std()) - 1.0) < 0.02


def test_session_forgets_the_generator_at_the_end_of_a_pass():
    with routing_session(torch.nn.Linear(1, 1), None, torch.Generator()) as session:
        assert current_session().generator is not None
    assert current_session() is None and session.detached().generator is None
