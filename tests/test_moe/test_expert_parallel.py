"""Expert parallelism on 2 CPU processes (gloo) equals one process on all tokens.

One spawn runs every scenario: each rank saves its outputs and gradients, the
test process compares them with a single-process :class:`MoEFFN` holding the
same full weights and fed the concatenation of both ranks' tokens.
"""
import pytest
import torch
import torch.distributed as dist

from damex_mmdet.moe import MoEFFN, routing_session
from damex_mmdet.moe.expert_parallel import (ExpertParallelMoEFFN, all_to_all_rows,
                                             clip_grad_norm_expert_parallel,
                                             convert_to_expert_parallel, expert_parameter_names,
                                             shard_experts)
from damex_mmdet.testing.processes import spawn_ranks

D, H, E, T = 8, 16, 4, 3
# per-rank batch sizes (images of T tokens): unequal token counts, and a rank with none
# 'relu': ReMoE's ReLU router, a variable number of experts per token
BATCHES = {'topk2': (3, 2), 'one_sided': (3, 2), 'empty_rank': (2, 0), 'relu': (3, 2)}
EXPERT_PARAMS = ('w1', 'b1', 'w2', 'b2')


def _layer(case):
    torch.manual_seed(0)
    top_k = 2 if case == 'topk2' else 1
    router = dict(type='TopKRouter', top_k=top_k, gate_noise=0.0, balance_weight=0.0)
    if case == 'relu':
        router = dict(type='ReLURouter')
    layer = MoEFFN(D, H, num_experts=E, router=router)
    if case == 'one_sided':
        # expert = argmax of the first E dims: rank 0's tokens only use experts 0, 1
        with torch.no_grad():
            layer.router.gate.weight.zero_()
            layer.router.gate.weight[:, :E] = torch.eye(E)
    return layer


def _tokens(case):
    """Rank tokens (B_r, T, D) and output cotangents, identical in every process."""
    gen = torch.Generator().manual_seed(1)
    xs = [torch.randn(b, T, D, generator=gen) for b in BATCHES[case]]
    cots = [torch.randn(b, T, D, generator=gen) for b in BATCHES[case]]
    if case == 'one_sided':
        xs[0][..., 2:E] = -5.0  # rank 0 never picks experts 2, 3 (hosted by rank 1)
        xs[1][..., 3] = -5.0  # and nobody picks expert 3
    return xs, cots


def _worker(rank, init_file, out_dir):
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    torch.set_num_threads(1)
    results = {}
    for case in BATCHES:
        full = _layer(case)
        layer = ExpertParallelMoEFFN.from_moe(full)
        x, cot = (t[rank] for t in _tokens(case))
        x.requires_grad_(True)
        with routing_session(layer):
            out = layer(x)
        (out * cot).sum().backward()
        grads = {}
        for name in EXPERT_PARAMS:
            local_grad = getattr(layer.experts, name).grad
            parts = [torch.empty_like(local_grad) for _ in range(2)]
            dist.all_gather(parts, local_grad)
            grads[name] = torch.cat(parts)
        results[case] = dict(out=out.detach(), x_grad=x.grad, expert_grads=grads,
                             gate_grad=layer.router.gate.weight.grad,
                             local_experts=layer.experts.num_experts)
    # checkpoint round trip: gather, then load the full state into a fresh EP layer
    full = _layer('topk2')
    layer = ExpertParallelMoEFFN.from_moe(full)
    with torch.no_grad():
        layer.experts.w1.add_(rank + 1.0)  # make the shards differ from the init
    gathered = layer.full_expert_state()
    fresh = ExpertParallelMoEFFN.from_moe(MoEFFN(D, H, num_experts=E))
    state = dict(layer.state_dict())
    state.update({f'experts.{k}': v for k, v in gathered.items()})
    fresh.load_state_dict(state, strict=True)
    results['roundtrip'] = dict(gathered=gathered, reloaded_w1=fresh.experts.w1.detach(),
                                names=expert_parameter_names(torch.nn.ModuleDict(dict(ffn=layer))))
    # the raw exchange: rank 0 sends 1 row to itself and 2 to rank 1; rank 1 sends 0 and 1
    rows = torch.arange(3.0)[:, None] if rank == 0 else torch.tensor([[7.0]])
    rows.requires_grad_(True)
    send, recv = ([1, 2], [1, 0]) if rank == 0 else ([0, 1], [2, 1])
    moved = all_to_all_rows(rows, send, recv)
    (moved * (torch.arange(moved.shape[0])[:, None] + 1.0)).sum().backward()
    results['exchange'] = dict(moved=moved.detach(), grad=rows.grad)
    results['clip'] = _clip_scenario(rank)
    results['init'] = {}
    for mode in ('linear', 'xavier', 'upcycle'):
        layer = ExpertParallelMoEFFN.from_moe(MoEFFN(D, H, num_experts=E, init_mode=mode))
        torch.manual_seed(5)
        layer.init_weights()
        results['init'][mode] = layer.full_expert_state()
    results['convert'] = _convert_scenario()
    torch.save(results, f'{out_dir}/rank{rank}.pth')
    dist.destroy_process_group()


def _clip_grads():
    """A replicated (5,) gradient and the full (E, 3) gradient of a sharded tensor."""
    gen = torch.Generator().manual_seed(2)
    return torch.randn(5, generator=gen), torch.randn(E, 3, generator=gen) * 3


def _clip_scenario(rank):
    out = {}
    shared_grad, expert_grad = _clip_grads()
    for norm_type in (2.0, float('inf')):
        shared = torch.zeros(5, requires_grad=True)
        expert = torch.zeros(E // 2, 3, requires_grad=True)
        shared.grad = shared_grad.clone()
        expert.grad = expert_grad[2 * rank:2 * rank + 2].clone()
        total = clip_grad_norm_expert_parallel([shared, expert], 0.5, norm_type,
                                               expert_parameters=[expert])
        out[norm_type] = dict(total=total, shared=shared.grad, expert=expert.grad)
    return out


def _convert_scenario():
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.blocks = torch.nn.ModuleList([MoEFFN(D, H, num_experts=E), torch.nn.Linear(D, D)])
    model.moe_layers = {'blocks.0': model.blocks[0]}
    converted = convert_to_expert_parallel(model)
    return dict(names=sorted(converted), kind=type(model.blocks[0]).__name__,
                registry_updated=model.moe_layers['blocks.0'] is model.blocks[0],
                params=expert_parameter_names(model))


@pytest.fixture(scope='module')
def ranks(tmp_path_factory):
    return spawn_ranks(_worker, str(tmp_path_factory.mktemp('ep')), 2)


def _reference(case):
    layer = _layer(case)
    xs, cots = _tokens(case)
    x = torch.cat(xs).requires_grad_(True)
    with routing_session(layer):
        out = layer(x)
    (out * torch.cat(cots)).sum().backward()
    return layer, x, out


@pytest.mark.parametrize('case', list(BATCHES))
def test_outputs_and_gradients_match_one_process(ranks, case):
    layer, x, out = _reference(case)
    sizes = list(BATCHES[case])
    for ref, got in zip(out.split(sizes), (r[case]['out'] for r in ranks)):
        torch.testing.assert_close(got, ref.detach(), atol=1e-5, rtol=1e-5)
    for ref, got in zip(x.grad.split(sizes), (r[case]['x_grad'] for r in ranks)):
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    # the replicated gate: data parallelism sums (then averages) the rank gradients
    gate = ranks[0][case]['gate_grad'] + ranks[1][case]['gate_grad']
    torch.testing.assert_close(gate, layer.router.gate.weight.grad, atol=1e-5, rtol=1e-5)
    # the sharded experts: the local gradients already hold every rank's tokens
    for name in EXPERT_PARAMS:
        for r in range(2):
            torch.testing.assert_close(ranks[r][case]['expert_grads'][name],
                                       getattr(layer.experts, name).grad, atol=1e-5, rtol=1e-5)
    assert ranks[0][case]['local_experts'] == ranks[1][case]['local_experts'] == E // 2


def test_one_sided_routing_leaves_unused_expert_with_zero_gradient(ranks):
    grads = ranks[1]['one_sided']['expert_grads']
    assert grads['w1'][3].abs().sum() == 0 and grads['b2'][3].abs().sum() == 0
    assert grads['w1'][2].abs().sum() > 0  # expert 2 was used by rank 1 only


def test_checkpoint_gather_round_trip(ranks):
    init = _layer('topk2').experts
    gathered = ranks[0]['roundtrip']['gathered']
    torch.testing.assert_close(gathered['w1'][:2], init.w1[:2] + 1.0)  # rank 0 added 1
    torch.testing.assert_close(gathered['w1'][2:], init.w1[2:] + 2.0)  # rank 1 added 2
    torch.testing.assert_close(ranks[1]['roundtrip']['gathered']['w1'], gathered['w1'])
    for r in range(2):  # a full state loads into the shard of each rank
        torch.testing.assert_close(ranks[r]['roundtrip']['reloaded_w1'],
                                   gathered['w1'][2 * r:2 * r + 2])
    # and into a single-process layer, strictly
    single = MoEFFN(D, H, num_experts=E)
    state = dict(single.state_dict())
    state.update({f'experts.{k}': v for k, v in gathered.items()})
    single.load_state_dict(state, strict=True)
    assert ranks[0]['roundtrip']['names'] == [f'ffn.experts.{n}' for n in EXPERT_PARAMS]


def test_variable_split_exchange_and_its_backward(ranks):
    # rank 0 receives its own row 0 and rank 1 nothing; rank 1 receives rank 0's rows 1, 2 and its 7
    torch.testing.assert_close(ranks[0]['exchange']['moved'], torch.tensor([[0.0]]))
    torch.testing.assert_close(ranks[1]['exchange']['moved'], torch.tensor([[1.0], [2.0], [7.0]]))
    # d(sum_i (i + 1) * moved_i): rank 1 weighs its rows by 1, 2, 3 and sends that back
    torch.testing.assert_close(ranks[0]['exchange']['grad'], torch.tensor([[1.0], [1.0], [2.0]]))
    torch.testing.assert_close(ranks[1]['exchange']['grad'], torch.tensor([[3.0]]))


def test_shard_needs_divisible_experts():
    with pytest.raises(ValueError, match='num_experts=4 and world_size=3'):
        shard_experts(MoEFFN(D, H, num_experts=E).experts, 0, 3)
    shard = shard_experts(_layer('topk2').experts, 1, 2)
    torch.testing.assert_close(shard.w2, _layer('topk2').experts.w2[2:])


def test_from_moe_needs_a_process_group():
    with pytest.raises(RuntimeError, match='init_process_group'):
        ExpertParallelMoEFFN.from_moe(MoEFFN(D, H, num_experts=E))


@pytest.mark.parametrize('norm_type', [2.0, float('inf')])
def test_grad_norm_clipping_spans_all_ranks(ranks, norm_type):
    shared_grad, expert_grad = _clip_grads()
    # one process holding every expert
    shared, expert = torch.zeros(5, requires_grad=True), torch.zeros(E, 3, requires_grad=True)
    shared.grad, expert.grad = shared_grad.clone(), expert_grad.clone()
    total = torch.nn.utils.clip_grad_norm_([shared, expert], 0.5, norm_type)
    assert total > 0.5  # clipping is active
    for r in range(2):
        got = ranks[r]['clip'][norm_type]
        torch.testing.assert_close(got['total'], total)
        torch.testing.assert_close(got['shared'], shared.grad)
        torch.testing.assert_close(got['expert'], expert.grad[2 * r:2 * r + 2])
    # a rank-local norm would differ (the check above can fail)
    local = torch.nn.utils.clip_grad_norm_(
        [shared_grad.clone().requires_grad_(), expert_grad[:2].clone().requires_grad_()], 1e9,
        norm_type)
    assert not torch.isclose(local, total)


@pytest.mark.parametrize('mode', ['linear', 'xavier', 'upcycle'])
def test_init_weights_shards_the_single_process_init(ranks, mode):
    single = MoEFFN(D, H, num_experts=E, init_mode=mode)
    torch.manual_seed(5)
    single.init_weights()
    for r in range(2):
        for name in EXPERT_PARAMS:
            torch.testing.assert_close(ranks[r]['init'][mode][name],
                                       getattr(single.experts, name).detach())
    assert not torch.equal(ranks[0]['init'][mode]['w1'][0], ranks[0]['init'][mode]['w1'][2]) \
        or mode == 'upcycle'


def test_convert_replaces_moe_layers_in_place(ranks):
    got = ranks[1]['convert']
    assert got['names'] == ['blocks.0'] and got['kind'] == 'ExpertParallelMoEFFN'
    assert got['registry_updated']
    assert got['params'] == [f'blocks.0.experts.{n}' for n in EXPERT_PARAMS]


def test_convert_needs_an_moe_layer():
    with pytest.raises(ValueError, match='has no MoE layer'):
        convert_to_expert_parallel(torch.nn.Linear(2, 2))


class _LayerWithMore(MoEFFN):
    """A subclass that adds state MoEFFN does not know about."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.temperature = 0.5
        self.extra = torch.nn.Linear(2, 2)
        self.register_buffer('calls', torch.tensor(3))


def test_from_moe_keeps_every_attribute_a_subclass_adds(tmp_path):
    """The copy is generic over the layer's state: nothing added later can be lost."""
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/init', rank=0,
                            world_size=1)
    try:
        layer = _LayerWithMore(D, H, num_experts=E)
        parallel = ExpertParallelMoEFFN.from_moe(layer)
    finally:
        dist.destroy_process_group()
    assert isinstance(parallel, ExpertParallelMoEFFN)
    assert parallel.temperature == 0.5 and parallel.extra is layer.extra
    assert int(parallel.calls) == 3 and 'calls' in dict(parallel.named_buffers())
    assert parallel.router is layer.router and parallel.capacity_factor == layer.capacity_factor
    # the shard is the parallel layer's own: the full layer keeps its experts
    assert parallel.experts is not layer.experts and layer.experts.num_experts == E
    assert set(parallel.state_dict()) == set(layer.state_dict())
