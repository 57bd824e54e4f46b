"""Routing losses as a pure function of a session's records, for a model that is not mmdet's.

A toy ``nn.TransformerDecoder``-style stack (self-attention, cross-attention,
FFN) whose layers 0 and 2 have DAMEX MoE FFNs: the losses come from
:func:`routing_losses` alone, and training its routers with them teaches the
map.
"""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from damex_mmdet.moe import (MoEFFN, importance_load_loss, needed_token_sets, routing_losses,
                             routing_session, token_set_masks)

D, H, E, B, T = 16, 32, 3, 6, 5


class ToyDecoderLayer(nn.Module):

    def __init__(self, ffn: nn.Module):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(D, 2, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(D, 2, batch_first=True)
        self.ffn = ffn

    def forward(self, x, memory):
        x = x + self.self_attn(x, x, x)[0]
        x = x + self.cross_attn(x, memory, memory)[0]
        return self.ffn(x)


class ToyDecoder(nn.Module):

    def __init__(self, router: dict):
        super().__init__()

        def ffn(i):
            if i % 2 == 0:
                return MoEFFN(D, H, num_experts=E, router=router)
            return nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, D))

        self.layers = nn.ModuleList(ToyDecoderLayer(ffn(i)) for i in range(3))

    def forward(self, x, memory):
        for layer in self.layers:
            x = layer(x, memory)
        return x


class ToyModel(nn.Module):

    def __init__(self, router: dict):
        super().__init__()
        self.decoder = ToyDecoder(router)


def _batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    targets = torch.arange(B) % E  # image i belongs to a dataset mapped to expert i % E
    memory = torch.randn(B, 4, D, generator=gen) + targets[:, None, None].float()
    return torch.randn(B, T, D, generator=gen), memory, targets


def test_damex_losses_of_a_toy_decoder_equal_the_cross_entropy_by_hand():
    torch.manual_seed(0)
    model = ToyModel(dict(type='DatasetAwareRouter', ce_weight=0.1, gate_noise=0.0)).train()
    x, memory, targets = _batch()
    with routing_session(model, targets) as session:
        model.decoder(x, memory)
    assert [r.name for r in session.records] == ['decoder.layers.0.ffn', 'decoder.layers.2.ffn']
    losses = routing_losses(session.records, ce_tokens='all')
    per_token = targets[:, None].expand(B, T).reshape(-1)
    by_hand = [0.1 * F.cross_entropy(r.plan.logits, per_token) for r in session.records]
    assert torch.allclose(losses['loss_damex'], sum(by_hand) / 2)
    assert torch.allclose(losses['dec0.damex'], by_hand[0])
    assert {'dec0.router_acc', 'dec2.drop'} <= set(losses)
    # 'matching' tokens: the last T - 2 of each sequence when 2 are denoising queries
    matching = routing_losses(session.records, ce_tokens='matching', num_denoising=2)
    keep = token_set_masks((B, T), num_denoising=2)['matching']
    assert int(keep.sum()) == B * (T - 2)
    by_hand = [0.1 * F.cross_entropy(r.plan.logits[keep], per_token[keep])
               for r in session.records]
    assert torch.allclose(matching['loss_damex'], sum(by_hand) / 2)


def test_balance_loss_covers_the_foreground_tokens_it_is_given():
    torch.manual_seed(0)
    model = ToyModel(dict(type='TopKRouter', balance_weight=0.1, gate_noise=1.0)).train()
    x, memory, _ = _batch()
    with routing_session(model) as session:
        model.decoder(x, memory)
    assert needed_token_sets(session.records, balance_tokens='foreground') == {'foreground'}
    with pytest.raises(ValueError, match="'foreground' tokens but no foreground mask"):
        routing_losses(session.records)
    foreground = torch.zeros(B, T, dtype=torch.bool)
    foreground[:, :2] = True
    losses = routing_losses(session.records, foreground=foreground)
    flat = foreground.reshape(-1)
    by_hand = [0.1 * importance_load_loss(r.plan.logits, r.plan.noisy_logits, 1, 1.0, flat)
               for r in session.records]
    assert torch.allclose(losses['loss_balance'], sum(by_hand) / 2)
    # no foreground token: exactly zero, still connected to the gates
    empty = routing_losses(session.records, foreground=torch.zeros(B, T, dtype=torch.bool))
    assert float(empty['loss_balance']) == 0.0 and empty['loss_balance'].requires_grad


def test_training_the_toy_routers_with_the_losses_alone_learns_the_map():
    torch.manual_seed(0)
    model = ToyModel(dict(type='DatasetAwareRouter', ce_weight=1.0, gate_noise=0.0)).train()
    routers = [p for n, p in model.named_parameters() if 'router' in n]
    optimizer = torch.optim.Adam(routers, lr=0.05)
    x, memory, targets = _batch()
    history = []
    for _ in range(60):
        with routing_session(model, targets) as session:
            model.decoder(x, memory)
        losses = routing_losses(session.records)
        optimizer.zero_grad()
        losses['loss_damex'].backward()
        optimizer.step()
        history.append(float(losses['loss_damex']))
    assert history[0] > 0.5 and history[-1] < 0.1 * history[0]
    assert float(losses['dec0.router_acc']) == 1.0 and float(losses['dec2.router_acc']) == 1.0
