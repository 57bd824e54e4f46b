import pytest
import torch

from damex_mmdet.moe import BatchedExperts


def reference(experts, x, counts):
    """Plain autograd over per-expert weights."""
    outs, start = [], 0
    for e, count in enumerate(counts):
        chunk = x[start:start + count]
        start += count
        hidden = experts.activate(chunk @ experts.w1[e] + experts.b1[e])
        outs.append(hidden @ experts.w2[e] + experts.b2[e])
    return torch.cat(outs)


@pytest.mark.parametrize('act', ['ReLU', 'GELU'])
def test_grouped_backward_matches_autograd_and_zero_grads_for_idle_experts(act):
    torch.manual_seed(0)
    experts = BatchedExperts(3, 6, 10, act_cfg=dict(type=act))
    counts = [4, 0, 3]  # expert 1 receives no token
    x = torch.randn(7, 6, requires_grad=True)
    out = experts(x, counts)
    grad = torch.randn_like(out)
    out.backward(grad)
    fast = [x.grad] + [p.grad.clone() for p in experts.parameters()]
    x.grad = None
    experts.zero_grad()
    ref_out = reference(experts, x, counts)
    ref_out.backward(grad)
    slow = [x.grad] + [p.grad for p in experts.parameters()]
    assert torch.allclose(out, ref_out, atol=1e-6)
    for a, b in zip(fast, slow):
        assert torch.allclose(a, b, atol=1e-5)
    assert experts.w1.grad[1].abs().sum() == 0 and experts.w2.grad[1].abs().sum() == 0


def test_dropout_path_in_training_and_upcycle_copies():
    experts = BatchedExperts(2, 4, 8, ffn_drop=0.5)
    experts.reset_parameters('upcycle')
    assert torch.equal(experts.w1[0], experts.w1[1]) and torch.equal(experts.b2[0], experts.b2[1])
    x = torch.randn(6, 4, requires_grad=True)
    experts.train()(x, [3, 3]).sum().backward()
    assert x.grad is not None and experts.w1.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='init mode'):
        experts.reset_parameters('bogus')


@pytest.mark.parametrize('ffn_drop', [0.0, 0.5])
def test_no_token_at_all_still_gives_zero_gradients(ffn_drop):
    """A rank whose experts receive nothing (expert parallelism) must still give
    every expert weight a zero gradient: a None gradient would make SGD with
    momentum or weight decay skip the step that the other ranks take."""
    experts = BatchedExperts(2, 4, 8, ffn_drop=ffn_drop).train()
    x = torch.randn(0, 4, requires_grad=True)
    out = experts(x, [0, 0])
    assert out.shape == (0, 4)
    (out.sum() + 0.0).backward()
    for name, param in experts.named_parameters():
        assert param.grad is not None and param.grad.shape == param.shape, name
        assert param.grad.abs().sum() == 0, name


def test_grouped_backward_can_run_twice_with_retain_graph():
    torch.manual_seed(0)
    experts = BatchedExperts(2, 4, 8)
    x = torch.randn(5, 4, requires_grad=True)
    out = experts(x, [2, 3])
    first, = torch.autograd.grad(out.sum(), x, retain_graph=True)
    second, = torch.autograd.grad(out.sum(), x)
    assert torch.equal(first, second) and first.abs().sum() > 0
