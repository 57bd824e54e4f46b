"""Frozen mode: every value but the trainable rows stays bit for bit, weight decay included."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from damex_mmdet.engine.frozen_values import KeepTrainedValuesHook


class Model(nn.Module):

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.norm = nn.BatchNorm1d(4)
        self.cls = nn.Linear(4, 5)  # rows 3, 4: the new classes


def _train(model, hook, steps=5):
    runner = SimpleNamespace(model=model)
    hook.before_train(runner)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=0.1, weight_decay=0.5)
    gen = torch.Generator().manual_seed(0)
    for step in range(steps):
        x = torch.randn(8, 4, generator=gen)
        loss = model.cls(model.norm(model.body(x))).pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        hook.after_train_iter(runner, step)


def test_only_the_trainable_rows_change_under_weight_decay():
    torch.manual_seed(0)
    model = Model().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hook = KeepTrainedValuesHook({'cls.weight': 3, 'cls.bias': 3})
    _train(model, hook)
    after = model.state_dict()
    for key in ('body.weight', 'body.bias', 'norm.weight', 'norm.running_mean',
                'norm.running_var', 'norm.num_batches_tracked'):
        assert torch.equal(after[key], before[key]), key
    assert not model.body.weight.requires_grad and model.cls.weight.requires_grad
    assert torch.equal(after['cls.weight'][:3], before['cls.weight'][:3])
    assert torch.equal(after['cls.bias'][:3], before['cls.bias'][:3])
    assert not torch.equal(after['cls.weight'][3:], before['cls.weight'][3:])
    assert not torch.equal(after['cls.bias'][3:], before['cls.bias'][3:])
    # the frozen rows' gradient is zero (clipping's norm and AdamW's moments see only
    # the trainable rows); the trainable rows' is not
    assert not model.cls.weight.grad[:3].any() and model.cls.weight.grad[3:].any()


def test_without_the_hook_weight_decay_moves_the_old_rows():
    """What the hook undoes: a zero gradient on old rows does not keep them."""
    torch.manual_seed(0)
    model = Model().train()
    before = model.cls.weight.detach().clone()
    mask = torch.zeros_like(model.cls.weight)
    mask[3:] = 1
    model.cls.weight.register_hook(lambda grad: grad * mask)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.5)
    loss = model.cls(model.norm(model.body(torch.randn(8, 4)))).pow(2).sum()
    loss.backward()
    optimizer.step()
    assert not torch.equal(model.cls.weight[:3], before[:3])


def test_bad_keys_and_rows_are_named():
    with pytest.raises(ValueError, match=r"names \['head.weight'\]"):
        KeepTrainedValuesHook({'head.weight': 3}).before_train(SimpleNamespace(model=Model()))
    with pytest.raises(ValueError, match='cls.weight has 5 rows; its first trainable row 5'):
        KeepTrainedValuesHook({'cls.weight': 5}).before_train(SimpleNamespace(model=Model()))
