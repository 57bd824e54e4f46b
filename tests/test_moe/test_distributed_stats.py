"""Balancing statistics summed over 2 gloo ranks equal one process on all tokens."""
import pytest
import torch
import torch.distributed as dist

from damex_mmdet.moe import TopKRouter, importance_load_loss
from damex_mmdet.moe.distributed_stats import (all_reduce_sum, expert_totals,
                                               global_importance_load_loss)
from damex_mmdet.testing.processes import spawn_ranks

E = 3


def _logits():
    """Rank 0's tokens prefer expert 0, rank 1's prefer expert 2 (skewed per rank)."""
    gen = torch.Generator().manual_seed(0)
    logits = [torch.randn(5, E, generator=gen), torch.randn(3, E, generator=gen)]
    logits[0][:, 0] += 3.0
    logits[1][:, 2] += 3.0
    return logits


def _router(sync_stats):
    torch.manual_seed(0)
    return TopKRouter(4, E, gate_noise=0.0, sync_stats=sync_stats).eval()


def _tokens():
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(5, 4, generator=gen), torch.randn(3, 4, generator=gen) + 2.0]


def _worker(rank, init_file, out_dir):
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    logits = _logits()[rank].requires_grad_(True)
    noisy = logits.detach() + 0.1
    mask = torch.ones(logits.shape[0], dtype=torch.bool)
    mask[0] = False  # foreground-only balancing: the first token of each rank is excluded
    loss = global_importance_load_loss(logits, noisy, 1, 1.0, mask)
    loss.backward()
    totals = expert_totals(logits.detach(), noisy, 1, 0.0, mask)
    local = importance_load_loss(logits.detach(), noisy, 1, 1.0, mask)
    # the router option: the same global loss through TopKRouter.losses
    router = _router(sync_stats=True)
    plan = router(_tokens()[rank])
    router_loss = router.losses(plan, balance_mask=mask)['loss_balance']
    torch.save(dict(loss=loss.detach(), grad=logits.grad, totals=totals, local=local,
                    router_loss=router_loss.detach()),
               f'{out_dir}/rank{rank}.pth')
    dist.destroy_process_group()


@pytest.fixture(scope='module')
def ranks(tmp_path_factory):
    return spawn_ranks(_worker, str(tmp_path_factory.mktemp('stats')), 2)


def test_global_loss_equals_single_process_on_all_tokens(ranks):
    logits = torch.cat(_logits()).requires_grad_(True)
    noisy = logits.detach() + 0.1
    mask = torch.ones(8, dtype=torch.bool)
    mask[[0, 5]] = False
    single = importance_load_loss(logits, noisy, 1, 1.0, mask)
    single.backward()
    for rank in ranks:
        torch.testing.assert_close(rank['loss'], single.detach(), atol=1e-6, rtol=1e-5)
    # per-rank gradients are W = 2 times the single-process ones (DDP averages them)
    torch.testing.assert_close(torch.cat([r['grad'] for r in ranks]) / 2, logits.grad,
                               atol=1e-6, rtol=1e-5)
    # the per-rank (local, default) losses differ from it: each rank is skewed
    for rank in ranks:
        assert abs(float(rank['local']) - float(single.detach())) > 0.1


def test_totals_hand_counts(ranks):
    # top-1 hard counts on the kept tokens: rank 0 has 4 on expert 0, rank 1 has 2 on expert 2
    expected = torch.tensor([4.0, 0.0, 2.0])
    for rank in ranks:
        torch.testing.assert_close(rank['totals']['counts'], expected)
        torch.testing.assert_close(rank['totals']['load'], expected)  # gate_noise 0: hard load
        assert float(rank['totals']['tokens']) == 6.0
        torch.testing.assert_close(rank['totals']['importance'].sum(), torch.tensor(6.0))


def test_without_process_group_totals_stay_local():
    logits = _logits()[0]
    torch.testing.assert_close(all_reduce_sum(logits), logits)
    totals = expert_totals(logits, logits, 1, 0.0)
    assert float(totals['tokens']) == 5.0 and float(totals['counts'][0]) == 5.0
    empty = global_importance_load_loss(logits[:0], logits[:0], 1, 1.0)
    assert float(empty) == 0.0


def test_router_sync_stats_option_gives_the_global_loss(ranks):
    router = _router(sync_stats=False)
    mask = torch.ones(8, dtype=torch.bool)
    mask[[0, 5]] = False
    single = router.losses(router(torch.cat(_tokens())), balance_mask=mask)['loss_balance']
    for rank in ranks:
        torch.testing.assert_close(rank['router_loss'], single.detach(), atol=1e-6, rtol=1e-5)
    # without a process group the option falls back to the local loss, which differs
    local = router.losses(router(_tokens()[0]), balance_mask=mask[:5])['loss_balance']
    assert abs(float(local) - float(single)) > 1e-3
    synced = _router(sync_stats=True)
    assert torch.isclose(synced.losses(synced(_tokens()[0]), balance_mask=mask[:5])['loss_balance'],
                         local)
    with pytest.raises(ValueError, match='sync_stats=True'):
        TopKRouter(4, E, balance_loss='switch', sync_stats=True)
