"""Clear, early errors of the expert-parallel DDP wrapper (1-process gloo group)."""
import pytest
import torch
import torch.distributed as dist

from damex_mmdet.engine import ExpertParallelDistributedDataParallel
from damex_mmdet.moe import MoEFFN
from damex_mmdet.testing.processes import spawn_ranks


def _model(num_experts):
    model = torch.nn.Module()
    model.ffn = MoEFFN(4, 8, num_experts=num_experts)
    return model


def _worker(rank, init_file, out_dir):
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=0, world_size=1)
    errors = {}
    try:
        ExpertParallelDistributedDataParallel(torch.nn.Linear(2, 2))
    except ValueError as exc:
        errors['no_moe'] = str(exc)
    wrapper = ExpertParallelDistributedDataParallel(_model(2))
    errors['ignored'] = sorted(wrapper.parameters_to_ignore)
    try:
        wrapper.train_step({}, optim_wrapper=None)
    except RuntimeError as exc:
        errors['no_hook'] = str(exc)
    torch.save(errors, f'{out_dir}/rank0.pth')
    dist.destroy_process_group()


@pytest.fixture(scope='module')
def errors(tmp_path_factory):
    return spawn_ranks(_worker, str(tmp_path_factory.mktemp('epw')), 1)[0]


def test_needs_a_process_group():
    with pytest.raises(RuntimeError, match='distributed launch'):
        ExpertParallelDistributedDataParallel(_model(2))


def test_needs_moe_layers(errors):
    assert 'has no MoE layer' in errors['no_moe'] and 'moe_cfg' in errors['no_moe']


def test_expert_parameters_are_left_to_the_exchange(errors):
    assert errors['ignored'] == [f'ffn.experts.{n}' for n in ('b1', 'b2', 'w1', 'w2')]


def test_training_without_the_gathering_checkpoint_hook_fails_early(errors):
    assert "default_hooks.checkpoint.type='ExpertParallelCheckpointHook'" in errors['no_hook']
