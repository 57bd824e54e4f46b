"""Expert-parallel training in mmengine's runner: a DDP wrapper and a checkpoint hook.

Select it by config (``configs/damex/damex-dino-4scale-ep_r50_8xb2-12e_uodb.py``)::

    model_wrapper_cfg = dict(type='ExpertParallelDistributedDataParallel')
    default_hooks = dict(checkpoint=dict(type='ExpertParallelCheckpointHook'))

With ``W`` ranks, every MoE layer's ``E`` experts are split into ``W`` shards
(``E % W == 0``; rank ``r`` keeps experts ``[r E/W, (r+1) E/W)``), tokens reach
their experts with all-to-all exchanges (``damex_mmdet.moe.expert_parallel``)
and everything else stays data parallel:

- expert parameters are left out of DDP (no broadcast, no averaging): their
  gradient already sums the tokens of every rank, it is divided by ``W`` to
  match DDP's averaging of the per-rank losses;
- gradient-norm clipping uses the norm over all ranks' parameters
  (:func:`clip_grad_norm_expert_parallel`), the same coefficient on every rank;
- checkpoints hold the full expert set and the full optimizer state of the
  experts, gathered from all ranks before rank 0 writes the file, so they load
  in one process (``mim test``) or in any other expert-parallel layout; loading
  keeps each rank's slice of the experts and of their optimizer state.

Training with expert parallelism follows the same trajectory as data
parallelism on the same ranks when no token is dropped (``capacity_factor=0``,
the DAMEX/GEM default): ``tests/test_engine/test_expert_parallel_training.py``.
"""
import functools
from contextlib import contextmanager

import torch
import torch.distributed as dist
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, is_model_wrapper
from mmdet.registry import HOOKS
from mmengine.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel

from damex_mmdet.engine.checkpoint_hook import ResumableCheckpointHook
from damex_mmdet.moe.expert_parallel import (ExpertParallelMoEFFN, clip_grad_norm_expert_parallel,
                                             convert_to_expert_parallel, expert_parameter_names)

__all__ = ['ExpertParallelDistributedDataParallel', 'ExpertParallelCheckpointHook']

_HOOK_HINT = ("set default_hooks.checkpoint.type='ExpertParallelCheckpointHook', which "
              'gathers the experts of all ranks into each checkpoint')


def _average(grad, world_size):
    return None if grad is None else grad / world_size


# mmengine's runner looks wrapper types up with the root registry's ``get``,
# which does not search the children (mmdet's MODEL_WRAPPERS): register there
@MODEL_WRAPPERS.register_module()
class ExpertParallelDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` whose MoE layers are expert parallel.

    Built by the runner after the process group exists; converts the
    module's MoE layers in place, then wraps it in DDP without the expert
    parameters.

    Args:
        module (nn.Module): the detector (same weights on every rank).
        **kwargs: DDP arguments (``device_ids``, ``broadcast_buffers``, ...).

    Raises:
        RuntimeError: no process group.
        ValueError: no MoE layer, or ``num_experts`` not a multiple of the
            world size.
    """

    def __init__(self, module, **kwargs):
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError('ExpertParallelDistributedDataParallel needs a distributed launch '
                               '(e.g. tools/dist_train.sh CONFIG 2 or --launcher pytorch).')
        layers = convert_to_expert_parallel(module)
        local = {layer.experts.num_experts for layer in layers.values()}
        print_log(
            f'expert parallel: {len(layers)} MoE layers, '
            f'{"/".join(map(str, sorted(local)))} of '
            f'{"/".join(sorted({str(layer.num_experts) for layer in layers.values()}))} '
            f'experts per rank', logger='current')
        names = expert_parameter_names(module)
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, names)
        self.expert_parameters = [module.get_parameter(name) for name in names]
        for param in self.expert_parameters:
            # the all-to-all backward sums the per-rank losses; DDP averages them
            param.register_hook(functools.partial(_average, world_size=dist.get_world_size()))
        super().__init__(module=module, **kwargs)
        # set by ExpertParallelCheckpointHook.before_train
        self.checkpoint_hook_ready = False

    def train_step(self, data, optim_wrapper):
        """DDP's train step with the gradient-norm clipping taken over all ranks."""
        if not self.checkpoint_hook_ready:
            raise RuntimeError('expert-parallel training saves checkpoints that hold only rank '
                               f'0\'s experts with the stock checkpoint hook; {_HOOK_HINT}.')
        wrappers = getattr(optim_wrapper, 'values', lambda: [optim_wrapper])()
        for wrapper in wrappers:
            if getattr(wrapper, 'clip_func', None) is torch.nn.utils.clip_grad_norm_:
                wrapper.clip_func = functools.partial(
                    clip_grad_norm_expert_parallel, expert_parameters=self.expert_parameters)
        return super().train_step(data, optim_wrapper)


def _expert_layers(runner):
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    return {
        name: module
        for name, module in model.named_modules() if isinstance(module, ExpertParallelMoEFFN)
    }


def _optimizers(runner):
    wrapper = getattr(runner, 'optim_wrapper', None)
    if wrapper is None or isinstance(wrapper, dict):
        return {}
    if hasattr(wrapper, 'optimizer'):
        return {None: wrapper.optimizer}
    return {key: value.optimizer for key, value in wrapper.items()}


def _state_indices(optimizer):
    """Parameter -> its index in ``optimizer.state_dict()['state']``."""
    params = [p for group in optimizer.param_groups for p in group['params']]
    return {id(p): index for index, p in enumerate(params)}


@HOOKS.register_module()
class ExpertParallelCheckpointHook(ResumableCheckpointHook):
    """:class:`ResumableCheckpointHook` writing the experts of all ranks into each checkpoint.

    mmengine writes checkpoints on rank 0 only; before every save (periodic,
    last or best) all ranks all-gather their expert shards and the optimizer
    state of those experts, and rank 0 puts the full tensors into the file.
    Loading (``load_from`` or ``--resume``) keeps each rank's slice of the
    optimizer state (the model's slice is taken by the layers themselves).
    Checkpoints hold every rank's random state and are written atomically
    (:class:`ResumableCheckpointHook`). Same arguments as ``CheckpointHook``;
    without expert-parallel layers it behaves exactly like
    :class:`ResumableCheckpointHook`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # (full expert weights, full expert optimizer state) during one save
        self._gathered = None

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if isinstance(runner.model, ExpertParallelDistributedDataParallel):
            runner.model.checkpoint_hook_ready = True

    @contextmanager
    def _full_state(self, runner):
        """Gather (collective) the full expert weights and optimizer state for one save."""
        if self._gathered is not None:  # nested save: already gathered
            yield
            return
        layers = _expert_layers(runner)
        weights = {}
        for name, layer in layers.items():
            for key, value in layer.full_expert_state().items():
                weights[f'{name}.experts.{key}'] = value.cpu()
        optim_state = {}
        for key, optimizer in _optimizers(runner).items():
            indices = _state_indices(optimizer)
            for layer in layers.values():
                local = layer.experts.num_experts
                for param in layer.experts.parameters():
                    for skey, value in sorted(optimizer.state.get(param, {}).items()):
                        if torch.is_tensor(value) and value.dim() and value.shape[0] == local:
                            parts = [torch.empty_like(value) for _ in range(dist.get_world_size())]
                            dist.all_gather(parts, value.contiguous())
                            optim_state[(key, indices[id(param)], skey)] = torch.cat(parts, 0)
        self._gathered = (weights, optim_state)
        try:
            yield
        finally:
            self._gathered = None

    def _save_checkpoint_with_step(self, runner, step, meta):
        with self._full_state(runner):
            super()._save_checkpoint_with_step(runner, step, meta)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with self._full_state(runner):
            super()._save_best_checkpoint(runner, metrics)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Rank 0: swap the local shards in ``checkpoint`` for the gathered tensors."""
        super().before_save_checkpoint(runner, checkpoint)
        if self._gathered is None:
            return
        weights, optim_state = self._gathered
        state_dict = checkpoint['state_dict']
        for key, value in weights.items():
            if key not in state_dict:
                raise KeyError(f'expert tensor {key!r} is missing from the checkpoint state dict')
            state_dict[key] = value
        optimizer = checkpoint.get('optimizer')
        for (okey, index, skey), value in optim_state.items():
            if optimizer is None:
                break
            states = (optimizer if okey is None else optimizer[okey])['state']
            states[index][skey] = value

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep this rank's slice of the experts' optimizer state (full in the file)."""
        super().after_load_checkpoint(runner, checkpoint)
        optimizer_state = checkpoint.get('optimizer')
        layers = _expert_layers(runner)
        if not optimizer_state or not layers:
            return
        rank = dist.get_rank()
        for key, optimizer in _optimizers(runner).items():
            states = (optimizer_state if key is None else optimizer_state.get(key, {})).get(
                'state', {})
            indices = _state_indices(optimizer)
            for layer in layers.values():
                local = layer.experts.num_experts
                for param in layer.experts.parameters():
                    state = states.get(indices[id(param)], {})
                    for skey, value in state.items():
                        if (torch.is_tensor(value) and value.dim()
                                and value.shape[0] == layer.num_experts != local):
                            state[skey] = value[rank * local:(rank + 1) * local].clone()
