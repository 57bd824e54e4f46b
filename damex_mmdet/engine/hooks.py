"""Hooks: the expert map as a checkpointed artifact, and routing statistics logs."""
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from damex_mmdet.moe.routing_losses import short_layer_name
from damex_mmdet.moe import ExpertMap, RoutingRecorder

__all__ = ['ExpertMapHook', 'RoutingStatsHook', 'CHECKPOINT_META_KEY']

CHECKPOINT_META_KEY = 'damex_moe'


def _moe_model(runner):
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    return model if hasattr(model, 'moe_summary') else None


def _dataset_names(dataloader):
    dataset = getattr(dataloader, 'dataset', None)
    meta = getattr(dataset, 'metainfo', None) or {}
    return meta.get('dataset_names')


@HOOKS.register_module()
class ExpertMapHook(Hook):
    """Validate, log and checkpoint the dataset->expert map.

    - before training: every training dataset must have an entry in the map
      and every entry must name a training dataset (clear error otherwise);
      the map is logged;
    - every checkpoint gets ``meta['damex_moe']`` = the model's MoE summary
      (layers, number of experts, router, expert map);
    - loading a checkpoint restores the map stored in it (with a warning when
      it differs from the config); an MoE checkpoint loaded into a dense
      model stops before the load (mmengine would only warn about the expert
      keys and leave those FFNs at their initialisation).
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = _moe_model(runner)
        if model is None or model.expert_map is None:
            return
        names = _dataset_names(runner.train_dataloader)
        if names is not None:
            model.expert_map.validate_datasets(names, source='the training datasets')
        runner.logger.info(f'damex_mmdet expert map (dataset -> experts): '
                           f'{model.expert_map.to_dict()}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = _moe_model(runner)
        if model is not None:
            checkpoint.setdefault('meta', {})[CHECKPOINT_META_KEY] = model.moe_summary()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = _moe_model(runner)
        if model is None:
            moe_layers = sorted({key.rsplit('.experts.w1', 1)[0]
                                 for key in checkpoint.get('state_dict', {})
                                 if key.endswith('.experts.w1')})
            if moe_layers:
                raise ValueError(
                    f'the checkpoint has MoE layers {moe_layers} but the model is dense; load it '
                    "with the MoE config it was trained with (model type 'DAMEXDINO' / "
                    "'MoEDetector' and model.moe_cfg.layers; its meta['damex_moe'] lists them).")
            return
        stored = checkpoint.get('meta', {}).get(CHECKPOINT_META_KEY)
        if model is None or not stored or stored.get('expert_map') is None:
            return
        restored = ExpertMap(stored['expert_map'], stored['num_experts'])
        if model.expert_map is not None and model.expert_map != restored:
            runner.logger.warning(
                f'the checkpoint was trained with expert map {restored.to_dict()} but the '
                f'config gives {model.expert_map.to_dict()}; using the checkpoint\'s map.')
        model.expert_map = restored


@HOOKS.register_module()
class RoutingStatsHook(Hook):
    """Log per-layer routing statistics of training to the visualizer backends.

    Every ``interval`` iterations a :class:`~damex_mmdet.moe.RoutingRecorder`
    is attached for that iteration; for each MoE layer it saw: the share of tokens
    sent to each expert (``<layer>/load_e<i>``), the drop fraction, the gate
    entropy and, when dataset targets exist, the router accuracy against the
    expert map, and for routers with a variable number of active experts
    (ReMoE) the mean active experts per token (``<layer>/active``). Scalars go
    to ``runner.visualizer`` (TensorBoard and other backends configured in
    ``vis_backends``).

    A layer whose tokens activate on average fewer than ``dead_fraction`` of
    its router's ``target_active`` experts gets one warning: its ReLU gates
    are closed for (almost) every token, so its experts receive no gradient
    and the layer passes tokens through its residual only.

    Args:
        interval (int): logging interval in iterations. Default 50.
        dead_fraction (float): see above. Default 0.1.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, interval: int = 50, dead_fraction: float = 0.1,
                 confusion_threshold: float = 0.3, confusion_window: int = 5):
        if interval < 1 or confusion_window < 1:
            raise ValueError(f'RoutingStatsHook interval and confusion_window must be >= 1, '
                             f'got {interval} and {confusion_window}.')
        self.interval = interval
        self.dead_fraction = dead_fraction
        self.confusion_threshold = confusion_threshold
        self.confusion_window = confusion_window
        self._recorder = None
        self._warned_dead = set()
        self._confused_streak = {}  # (expert a, expert b) -> consecutive logged iterations
        self._warned_confused = set()

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self.every_n_train_iters(runner, self.interval) and _moe_model(runner) is not None:
            self._recorder = RoutingRecorder().attach()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        recorder.detach()
        sessions = recorder.pop()
        if not sessions or not sessions[-1].records:
            return
        scalars = {}
        for record in sessions[-1].records:
            layer, metrics = short_layer_name(record.name), record.metrics()
            load = metrics['load']
            share = load / load.sum().clamp_min(1)
            for e, value in enumerate(share.tolist()):
                scalars[f'routing/{layer}/load_e{e}'] = value
            scalars[f'routing/{layer}/drop'] = float(metrics['drop_fraction'])
            scalars[f'routing/{layer}/gate_entropy'] = float(metrics['gate_entropy'])
            if 'router_accuracy' in metrics:
                scalars[f'routing/{layer}/router_acc'] = float(metrics['router_accuracy'])
            if 'active_experts' in metrics:
                active = float(metrics['active_experts'])
                scalars[f'routing/{layer}/active'] = active
                self._warn_if_dead(runner, record, active)
        runner.visualizer.add_scalars(scalars, step=runner.iter + 1)
        self._watch_confusion(runner, sessions[-1].records)

    def _watch_confusion(self, runner, records) -> None:
        """Count mutually confused expert pairs; warn once per pair that persists."""
        counts = None
        for record in records:
            target, top1 = record.plan.target, record.plan.expert_index[:, 0]
            if target is None:
                return
            experts = record.plan.logits.shape[-1]
            keep = (target >= 0) & (target < experts)
            pairs = torch.bincount(target[keep] * experts + top1[keep],
                                   minlength=experts * experts).view(experts, experts)
            counts = pairs if counts is None else counts + pairs
        if counts is None:
            return
        share = counts.double() / counts.sum(1, keepdim=True).clamp_min(1)
        confused = {(a, b) for a in range(share.shape[0]) for b in range(a + 1, share.shape[0])
                    if min(share[a, b], share[b, a]) >= self.confusion_threshold}
        self._confused_streak = {pair: self._confused_streak.get(pair, 0) + 1
                                 for pair in confused}
        model = _moe_model(runner)
        by_expert = {}
        if model is not None and model.expert_map is not None:
            for name, mapped in model.expert_map.to_dict().items():
                for expert in mapped:
                    by_expert.setdefault(expert, []).append(name)
        for (a, b), streak in self._confused_streak.items():
            if streak < self.confusion_window or (a, b) in self._warned_confused:
                continue
            self._warned_confused.add((a, b))
            first, second = (', '.join(by_expert.get(e, [f'expert {e}'])) for e in (a, b))
            runner.logger.warning(
                f'{first} (expert {a}) and {second} (expert {b}) keep sharing each other\'s '
                f'expert: at each of the last {streak} logged iterations at least '
                f'{100 * self.confusion_threshold:.0f}% of the tokens of each went to the '
                f'other\'s expert ({100 * float(share[a, b]):.0f}% and '
                f'{100 * float(share[b, a]):.0f}% now). The router cannot tell them apart; a map '
                'that puts them on one expert fits the data: measure it with python '
                'tools/analysis/suggest_map.py CONFIG CHECKPOINT --out-dir DIR --write-config '
                'OUT.py. This warning is given once per pair.')

    def _warn_if_dead(self, runner, record, active: float) -> None:
        target = record.layer.router.target_active  # declared by routers that steer it
        if target is None or record.name in self._warned_dead:
            return
        if active < self.dead_fraction * target:
            self._warned_dead.add(record.name)
            runner.logger.warning(
                f'{record.name}: {active:.3f} active experts per token at iteration '
                f'{runner.iter + 1} (target {target:g}): its ReLU gates are closed for almost '
                'every token, so its experts get no gradient and the layer passes tokens '
                'through its residual only. A lower learning rate or a longer warm-up may '
                'keep the gates open; this warning is given once per layer.')
