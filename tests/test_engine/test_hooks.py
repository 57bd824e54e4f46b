"""ExpertMapHook and RoutingStatsHook with small fake runners."""
from types import SimpleNamespace

import pytest
import torch

from damex_mmdet.engine import CHECKPOINT_META_KEY, ExpertMapHook, RoutingStatsHook
from damex_mmdet.moe import ExpertMap, MoEFFN, RoutingPlan, routing_session


class RecordingLogger:

    def __init__(self):
        self.infos, self.warnings = [], []

    def info(self, message):
        self.infos.append(message)

    def warning(self, message):
        self.warnings.append(message)


class RecordingVisualizer:

    def __init__(self):
        self.calls = []

    def add_scalars(self, scalars, step=0, **kwargs):
        self.calls.append((dict(scalars), step))


class FakeMoEModel(torch.nn.Module):
    """What the hooks read from an MoE detector; its training step records ``routes``.

    Args:
        expert_map (ExpertMap, optional): the map.
        routes (dict, optional): decoder layer index -> (plan, kept) that the
            layer ``decoder.layers.<i>.ffn`` records in each training step.
    """

    def __init__(self, expert_map=None, routes=None,
                 router=dict(type='TopKRouter', balance_weight=0.0)):
        super().__init__()
        self.expert_map = expert_map
        self.routes = routes or {}
        self.decoder = torch.nn.Module()
        self.decoder.layers = torch.nn.ModuleList(torch.nn.Module() for _ in range(3))
        for layer in self.decoder.layers:
            layer.ffn = MoEFFN(4, 8, num_experts=4, router=router)

    def train_step(self):
        with routing_session(self) as session:
            for index, (plan, kept) in self.routes.items():
                session.record(self.decoder.layers[index].ffn, plan, kept, (1, kept.shape[0]))

    def moe_summary(self):
        return dict(layers=['decoder.layers.0.ffn'], num_experts=4,
                    router=dict(type='DatasetAwareRouter'),
                    expert_map=self.expert_map.to_dict() if self.expert_map else None)


def fake_runner(model, iteration=0, dataset_names=None):
    metainfo = {} if dataset_names is None else dict(dataset_names=dataset_names)
    return SimpleNamespace(
        model=model, iter=iteration, logger=RecordingLogger(), visualizer=RecordingVisualizer(),
        train_dataloader=SimpleNamespace(dataset=SimpleNamespace(metainfo=metainfo)))


def route(with_accuracy=True, tokens=4):
    """4 tokens: experts 0, 0, 0, 1 (the last one dropped); targets all 0 (top-1 right 3/4)."""
    index = torch.tensor([[0], [0], [0], [1]])[:tokens]
    logits = torch.nn.functional.one_hot(index[:, 0], 4).float() * 2.0
    target = torch.zeros(tokens, dtype=torch.long) if with_accuracy else None
    kept = torch.tensor([[True], [True], [True], [False]])[:tokens]
    return RoutingPlan(index, torch.ones(tokens, 1), logits, logits, target), kept


def train_iteration(hook, runner):
    hook.before_train_iter(runner, batch_idx=runner.iter)
    model = runner.model
    if hasattr(model, 'train_step'):
        model.train_step()
    hook.after_train_iter(runner, batch_idx=runner.iter)


# ----------------------------------------------------------------- RoutingStatsHook
def test_routing_stats_logged_every_interval_as_shares():
    model = FakeMoEModel(routes={0: route(), 2: route(with_accuracy=False)})
    hook = RoutingStatsHook(interval=2)
    runner = fake_runner(model, iteration=0)
    train_iteration(hook, runner)  # iteration 1: not a multiple of 2
    assert runner.visualizer.calls == []
    runner.iter = 1
    train_iteration(hook, runner)
    (scalars, step), = runner.visualizer.calls
    assert step == 2
    assert scalars['routing/dec0/load_e0'] == pytest.approx(0.75)  # 3 of 4 tokens
    assert scalars['routing/dec0/load_e1'] == pytest.approx(0.25)
    assert scalars['routing/dec0/load_e3'] == 0.0
    assert scalars['routing/dec0/drop'] == pytest.approx(0.25)
    probs = route()[0].logits.softmax(-1)
    entropy = float(-(probs * probs.log()).sum(-1).mean())
    assert scalars['routing/dec0/gate_entropy'] == pytest.approx(entropy)
    assert scalars['routing/dec0/router_acc'] == pytest.approx(0.75)
    assert 'routing/dec2/router_acc' not in scalars and 'routing/dec2/drop' in scalars
    assert len(scalars) == 2 * 7 - 1


def test_routing_stats_skip_dense_models_and_empty_metrics():
    hook = RoutingStatsHook(interval=1)
    dense = fake_runner(torch.nn.Linear(2, 2))
    train_iteration(hook, dense)
    empty = fake_runner(FakeMoEModel())
    train_iteration(hook, empty)
    assert dense.visualizer.calls == [] and empty.visualizer.calls == []
    # no token at all: shares are 0, not NaN
    runner = fake_runner(FakeMoEModel(routes={0: route(tokens=0)}))
    train_iteration(hook, runner)
    assert runner.visualizer.calls[0][0]['routing/dec0/load_e0'] == 0.0


def test_routing_stats_interval_must_be_positive():
    with pytest.raises(ValueError, match='interval and confusion_window must be >= 1'):
        RoutingStatsHook(interval=0)


# ----------------------------------------------------------------- ExpertMapHook
def test_checkpoint_meta_stores_the_moe_summary():
    model = FakeMoEModel(ExpertMap(dict(kitti=[0], voc=[1, 2]), num_experts=4))
    checkpoint = dict(meta=dict(epoch=3))
    ExpertMapHook().before_save_checkpoint(fake_runner(model), checkpoint)
    assert checkpoint['meta']['epoch'] == 3
    assert checkpoint['meta'][CHECKPOINT_META_KEY] == dict(
        layers=['decoder.layers.0.ffn'], num_experts=4, router=dict(type='DatasetAwareRouter'),
        expert_map=dict(kitti=[0], voc=[1, 2]))
    bare = {}
    ExpertMapHook().before_save_checkpoint(fake_runner(model), bare)
    assert CHECKPOINT_META_KEY in bare['meta']


def test_loading_a_checkpoint_restores_its_map_and_warns_on_mismatch():
    stored = dict(num_experts=4, expert_map=dict(kitti=[3], voc=[1]))
    checkpoint = dict(meta={CHECKPOINT_META_KEY: stored})
    model = FakeMoEModel(ExpertMap(dict(kitti=[0], voc=[1]), num_experts=4))
    runner = fake_runner(model)
    ExpertMapHook().after_load_checkpoint(runner, checkpoint)
    assert model.expert_map == ExpertMap(dict(kitti=[3], voc=[1]), num_experts=4)
    assert len(runner.logger.warnings) == 1 and "using the checkpoint's map" in \
        runner.logger.warnings[0]
    # same map again: no warning; a model built without a map gets one
    ExpertMapHook().after_load_checkpoint(runner, checkpoint)
    assert len(runner.logger.warnings) == 1
    mapless = FakeMoEModel()
    ExpertMapHook().after_load_checkpoint(fake_runner(mapless), checkpoint)
    assert mapless.expert_map.to_dict() == dict(kitti=[3], voc=[1])


def test_loading_a_checkpoint_without_map_keeps_the_config_map():
    original = ExpertMap(dict(kitti=[0]), num_experts=2)
    model = FakeMoEModel(original)
    for checkpoint in ({}, dict(meta={}), dict(meta={CHECKPOINT_META_KEY: dict(
            num_experts=2, expert_map=None)})):
        ExpertMapHook().after_load_checkpoint(fake_runner(model), checkpoint)
        assert model.expert_map is original


def test_before_train_validates_the_map_against_the_training_datasets():
    model = FakeMoEModel(ExpertMap(dict(kitti=[0], voc=[1]), num_experts=2))
    runner = fake_runner(model, dataset_names=('kitti', 'voc'))
    ExpertMapHook().before_train(runner)
    assert "{'kitti': [0], 'voc': [1]}" in runner.logger.infos[0]
    with pytest.raises(ValueError, match=r"no entry for dataset\(s\) \['lisa'\]"):
        ExpertMapHook().before_train(fake_runner(model, dataset_names=('kitti', 'voc', 'lisa')))
    with pytest.raises(ValueError, match=r"names dataset\(s\) \['voc'\]"):
        ExpertMapHook().before_train(fake_runner(model, dataset_names=('kitti', )))
    # no MultiDataset metainfo or no map: nothing to check
    ExpertMapHook().before_train(fake_runner(model))
    ExpertMapHook().before_train(fake_runner(FakeMoEModel(), dataset_names=('kitti', )))


def test_moe_checkpoint_into_a_dense_model_stops_before_loading():
    hook = ExpertMapHook()
    checkpoint = dict(state_dict={'decoder.layers.0.ffn.experts.w1': torch.zeros(4, 2, 3),
                                  'backbone.conv1.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match=r"\['decoder\.layers\.0\.ffn'\].*model is dense"):
        hook.after_load_checkpoint(fake_runner(torch.nn.Linear(1, 1)), checkpoint)
    # a dense checkpoint into a dense model is none of the hook's business
    hook.after_load_checkpoint(fake_runner(torch.nn.Linear(1, 1)),
                               dict(state_dict={'backbone.conv1.weight': torch.zeros(1)}))


def _relu_route(active_rows):
    """4 tokens x 2 experts listed; ``active_rows`` (4, 2) bool: which gates are open."""
    index = torch.tensor([[0, 1]] * 4)
    logits = torch.zeros(4, 2)
    active = torch.tensor(active_rows)
    return RoutingPlan(index, active.float(), logits, logits, None, active=active), \
        torch.ones(4, 2, dtype=torch.bool)


def test_routing_stats_log_active_experts_and_warn_once_about_closed_gates():
    model = FakeMoEModel(routes={0: _relu_route([[True, False]] * 4),
                                 2: _relu_route([[False, False]] * 4)},
                         router=dict(type='ReLURouter', target_active=1.0))
    hook = RoutingStatsHook(interval=1)
    runner = fake_runner(model)
    train_iteration(hook, runner)
    scalars, _ = runner.visualizer.calls[0]
    assert scalars['routing/dec0/active'] == 1.0 and scalars['routing/dec2/active'] == 0.0
    (warning, ) = runner.logger.warnings
    assert warning.startswith('decoder.layers.2.ffn: 0.000 active experts per token')
    train_iteration(hook, runner)
    assert len(runner.logger.warnings) == 1  # once per layer


def _confused_route(swap_a: int, swap_b: int):
    """8 tokens: 4 of expert 0's datasets, 4 of expert 1's; ``swap_*`` of each go to the other."""
    target = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    top1 = target.clone()
    top1[:swap_a] = 1
    top1[4:4 + swap_b] = 0
    logits = torch.nn.functional.one_hot(top1, 4).float()
    plan = RoutingPlan(top1[:, None], torch.ones(8, 1), logits, logits, target)
    return plan, torch.ones(8, 1, dtype=torch.bool)


def test_routing_stats_warn_once_when_two_datasets_keep_sharing_experts():
    model = FakeMoEModel(ExpertMap(dict(kitti=[0], lisa=[1], voc=[2]), num_experts=4),
                         routes={0: _confused_route(2, 2), 2: _confused_route(1, 2)})
    hook = RoutingStatsHook(interval=1, confusion_window=3)
    runner = fake_runner(model)
    for _ in range(2):
        train_iteration(hook, runner)
    assert runner.logger.warnings == []  # not yet persistent
    train_iteration(hook, runner)
    (warning, ) = runner.logger.warnings
    assert warning.startswith('kitti (expert 0) and lisa (expert 1) keep sharing')
    assert 'tools/analysis/suggest_map.py' in warning and '(38% and 50% now)' in warning
    train_iteration(hook, runner)
    assert len(runner.logger.warnings) == 1  # once per pair
    # a router that separates them (1 of 4 tokens astray: 25% < 30%) is never warned about
    separated = FakeMoEModel(ExpertMap(dict(kitti=[0], lisa=[1]), num_experts=4),
                             routes={0: _confused_route(1, 1)})
    runner = fake_runner(separated)
    for _ in range(5):
        train_iteration(hook.__class__(interval=1, confusion_window=3), runner)
    assert runner.logger.warnings == []
