"""Expert similarity: identical experts -> 1, independent or negated experts -> less."""
import pytest
import torch

from damex_mmdet.analysis import (collapse_verdict, expert_output_similarity,
                                  expert_weight_similarity, mean_off_diagonal, standard_tokens)
from damex_mmdet.moe import MoEFFN


def layer(num_experts=3, init_mode='linear', seed=0):
    torch.manual_seed(seed)
    return MoEFFN(embed_dims=8, feedforward_channels=16, num_experts=num_experts,
                  router=dict(type='TopKRouter'), init_mode=init_mode)


def test_identical_experts_have_similarity_one():
    upcycled = layer(init_mode='upcycle')
    tokens = standard_tokens(64, 8, seed=1)
    ones = torch.ones(3, 3, dtype=torch.float64)
    torch.testing.assert_close(expert_weight_similarity(upcycled), ones)
    torch.testing.assert_close(expert_output_similarity(upcycled, tokens), ones)
    verdict = collapse_verdict('dec0', expert_weight_similarity(upcycled),
                               expert_output_similarity(upcycled, tokens))
    assert verdict['collapsed'] and verdict['output_mean'] == pytest.approx(1.0)
    assert verdict['line'].startswith('dec0: mean off-diagonal weight cos 1.000, output cos 1.000')


def test_independent_experts_are_dissimilar():
    fresh = layer()
    weights = expert_weight_similarity(fresh)
    outputs = expert_output_similarity(fresh, standard_tokens(64, 8, seed=1))
    torch.testing.assert_close(weights.diagonal(), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(outputs.diagonal(), torch.ones(3, dtype=torch.float64))
    # independent zero-mean uniform weights: cosine near 0 (|cos| < 0.3 for ~300 params)
    assert mean_off_diagonal(weights.abs()) < 0.3
    assert mean_off_diagonal(outputs) < 0.9
    assert not collapse_verdict('dec0', weights, outputs)['collapsed']


def test_negated_expert_has_output_similarity_minus_one():
    pair = layer(num_experts=2, init_mode='upcycle')
    with torch.no_grad():
        pair.experts.w2[1].neg_()
        pair.experts.b2[1].neg_()
    outputs = expert_output_similarity(pair, standard_tokens(16, 8))
    torch.testing.assert_close(outputs, torch.tensor([[1.0, -1.0], [-1.0, 1.0]],
                                                     dtype=torch.float64))
    # half of the parameters (w1, b1) equal, half (w2, b2) negated
    w1, b1, w2, b2 = (getattr(pair.experts, name)[0].detach().pow(2).sum()
                      for name in ('w1', 'b1', 'w2', 'b2'))
    expected = float((w1 + b1 - w2 - b2) / (w1 + b1 + w2 + b2))
    assert float(expert_weight_similarity(pair)[0, 1]) == pytest.approx(expected, abs=1e-6)


def test_output_similarity_leaves_train_mode_and_checks_tokens():
    fresh = layer()
    fresh.train()
    expert_output_similarity(fresh, standard_tokens(4, 8))
    assert fresh.experts.training
    with pytest.raises(ValueError, match=r'\(M, 8\)'):
        expert_output_similarity(fresh, torch.zeros(4, 5))
    with pytest.raises(TypeError, match='MoEFFN or BatchedExperts'):
        expert_weight_similarity(torch.nn.Linear(2, 2))


def test_mean_off_diagonal_and_standard_tokens():
    matrix = torch.tensor([[1.0, 0.2, 0.4], [0.2, 1.0, 0.6], [0.4, 0.6, 1.0]])
    assert mean_off_diagonal(matrix) == pytest.approx(0.4)
    with pytest.raises(ValueError, match='square matrix'):
        mean_off_diagonal(torch.ones(1, 1))
    tokens = standard_tokens(5, 32, seed=3)
    torch.testing.assert_close(tokens.mean(-1), torch.zeros(5), atol=1e-6, rtol=0)
    torch.testing.assert_close(tokens.std(-1), torch.ones(5))
    assert torch.equal(tokens, standard_tokens(5, 32, seed=3))
