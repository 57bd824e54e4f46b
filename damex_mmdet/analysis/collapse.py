"""Expert collapse: how similar the experts of an MoE layer are.

Shape shorthand: ``E`` experts, ``D`` model dim, ``H`` expert hidden dim,
``M`` probe tokens.

Two views, both (E, E) cosine-similarity matrices with ones on the diagonal:

- :func:`expert_weight_similarity`: of the experts' flattened parameters
  ``(w1, b1, w2, b2)``. Cheap, but blind to symmetries: two experts computing
  the same function with permuted hidden units look dissimilar.
- :func:`expert_output_similarity`: of the experts' outputs on the same probe
  tokens, averaged over tokens. This is the functional view: collapsed
  experts (the representation collapse the DAMEX paper warns about) have
  output similarity close to 1.
"""
from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['expert_weight_similarity', 'expert_output_similarity', 'mean_off_diagonal',
           'standard_tokens', 'collapse_verdict']


def _experts(moe_layer):
    experts = getattr(moe_layer, 'experts', moe_layer)
    if not all(hasattr(experts, name) for name in ('w1', 'b1', 'w2', 'b2')):
        raise TypeError(f'expected an MoEFFN or BatchedExperts, got {type(moe_layer).__name__}.')
    return experts


def _cosine_matrix(vectors: Tensor) -> Tensor:
    """(E, F) -> (E, E) pairwise cosine similarity (zero vectors give 0)."""
    unit = F.normalize(vectors.double(), dim=-1)
    return (unit @ unit.t()).clamp(-1.0, 1.0)


@torch.no_grad()
def expert_weight_similarity(moe_layer) -> Tensor:
    """Cosine similarity of the experts' flattened parameters.

    Args:
        moe_layer (MoEFFN | BatchedExperts): the layer (its ``experts``
            hold ``w1`` (E, D, H), ``b1`` (E, H), ``w2`` (E, H, D), ``b2`` (E, D)).

    Returns:
        Tensor: (E, E) float64 on CPU.
    """
    experts = _experts(moe_layer)
    flat = torch.cat([getattr(experts, name).detach().flatten(1)
                      for name in ('w1', 'b1', 'w2', 'b2')], dim=1)
    return _cosine_matrix(flat.cpu())


@torch.no_grad()
def expert_output_similarity(moe_layer, tokens: Tensor) -> Tensor:
    """Mean over tokens of the cosine similarity of two experts' outputs.

    Every expert processes all ``tokens`` (the router is bypassed), in eval
    mode (no dropout).

    Args:
        moe_layer (MoEFFN | BatchedExperts): the layer.
        tokens (Tensor): (M, D) probe tokens, e.g. inputs the layer saw on
            test images or :func:`standard_tokens`.

    Returns:
        Tensor: (E, E) float64 on CPU; entry (i, j) is
        ``mean_m cos(e_i(x_m), e_j(x_m))``.
    """
    experts = _experts(moe_layer)
    num_experts, dims = experts.w1.shape[:2]
    if tokens.dim() != 2 or tokens.shape[1] != dims or tokens.shape[0] == 0:
        raise ValueError(f'tokens must be a non-empty (M, {dims}) tensor for experts of '
                         f'dim {dims}, got shape {tuple(tokens.shape)}.')
    was_training = experts.training
    experts.eval()
    try:
        repeated = tokens.to(experts.w1).repeat(num_experts, 1)
        out = experts(repeated, [tokens.shape[0]] * num_experts)
    finally:
        experts.train(was_training)
    unit = F.normalize(out.double().view(num_experts, tokens.shape[0], -1), dim=-1)
    return torch.einsum('imd,jmd->ij', unit, unit).div(tokens.shape[0]).clamp(-1, 1).cpu()


def mean_off_diagonal(matrix) -> float:
    """Mean of the off-diagonal entries of an (E, E) tensor or array (E >= 2)."""
    matrix = torch.as_tensor(matrix)
    size = matrix.shape[0]
    if matrix.dim() != 2 or matrix.shape[1] != size or size < 2:
        raise ValueError(f'need a square matrix of at least 2 x 2, got {tuple(matrix.shape)}.')
    off = ~torch.eye(size, dtype=torch.bool)
    return float(matrix[off].mean())


def standard_tokens(num_tokens: int, dims: int, seed: int = 0) -> Tensor:
    """(M, D) seeded random tokens standardised per token (zero mean, unit variance).

    They resemble the LayerNorm-ed queries a decoder FFN receives.
    """
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randn(num_tokens, dims, generator=generator)
    return (tokens - tokens.mean(-1, keepdim=True)) / tokens.std(-1, keepdim=True)


def collapse_verdict(layer: str, weight_sim, output_sim=None,
                     threshold: float = 0.9) -> Dict[str, object]:
    """One-line verdict for a layer from its similarity matrices.

    Args:
        layer (str): layer name.
        weight_sim (Tensor | np.ndarray): (E, E) :func:`expert_weight_similarity`.
        output_sim (Tensor | np.ndarray, optional): (E, E)
            :func:`expert_output_similarity`;
            decides the verdict when given (else the weights do).
        threshold (float): mean off-diagonal similarity from which the
            experts count as collapsed.

    Returns:
        dict: ``layer``, ``weight_mean``, ``output_mean`` (or None),
        ``collapsed`` (bool) and ``line`` (the sentence).
    """
    weight_mean = mean_off_diagonal(weight_sim)
    output_mean = None if output_sim is None else mean_off_diagonal(output_sim)
    decisive = weight_mean if output_mean is None else output_mean
    collapsed = decisive >= threshold
    output_text = '' if output_mean is None else f', output cos {output_mean:.3f}'
    line = (f'{layer}: mean off-diagonal weight cos {weight_mean:.3f}{output_text} -> '
            + ('COLLAPSED (experts nearly identical)' if collapsed else 'experts distinct')
            + f' (threshold {threshold:g})')
    return dict(layer=layer, weight_mean=weight_mean, output_mean=output_mean,
                collapsed=collapsed, line=line)
