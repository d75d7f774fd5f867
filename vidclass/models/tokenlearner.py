"""TokenLearner (Ryoo et al., NeurIPS 2021) and TokenFuser, as scenic implements them.

All three modules work on one frame at a time: inputs are (B*T, S, D) token maps. In recording
mode (``recording.recording``) the learners keep their weights (B*T, tokens, S) and the fuser
its weights (B*T, S, tokens).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import Mlp, gelu
from .recording import Recorder


class TokenLearnerV10(Recorder):
    """The paper's module: LayerNorm, four 3x3 convs (GELU between), a sigmoid map per token.

    Each learned token is the spatial *sum* of the un-normalised input weighted by its map.
    ``num_convs`` (4 in the ViViT models) is 1 for the paper's X3D block: a single conv D -> tokens.
    ``forward`` takes the (h, w) grid when it differs from ``grid_hw`` (the convs need no fixed size).
    """

    def __init__(self, dim: int, num_tokens: int, grid_hw: tuple[int, int], eps: float, num_convs: int = 4):
        super().__init__()
        if num_convs < 1:
            raise ValueError(f"TokenLearner v1.0 needs at least one conv, got {num_convs}")
        self.grid_hw = grid_hw
        self.norm = nn.LayerNorm(dim, eps=eps)
        channels = [dim] + [num_tokens] * num_convs
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)
            for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
        )

    def forward(self, x: torch.Tensor, grid_hw: tuple[int, int] | None = None) -> torch.Tensor:
        n, s, d = x.shape
        h, w = grid_hw or self.grid_hw
        maps = self.norm(x).transpose(1, 2).reshape(n, d, h, w)  # (N, D, h, w)
        for i, conv in enumerate(self.convs):
            maps = conv(maps)
            if i < len(self.convs) - 1:
                maps = gelu(maps)
        weights = torch.sigmoid(maps.flatten(2))  # (N, tokens, S)
        self.keep(weights)
        return weights @ x  # (N, tokens, S) @ (N, S, D) -> (N, tokens, D)


class TokenLearnerV11(Recorder):
    """Scenic's v1.1: LayerNorm, MLP D -> 64 -> tokens, softmax over space, weighted sum."""

    def __init__(self, dim: int, num_tokens: int, bottleneck_dim: int, eps: float, dropout: float = 0.0):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, bottleneck_dim, num_tokens, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.mlp(self.norm(x)).transpose(1, 2).softmax(dim=-1)  # (N, tokens, S)
        self.keep(weights)
        return weights @ x  # (N, tokens, D)


class TokenFuser(Recorder):
    """Maps learned tokens back to the S positions of the original map.

    Tokens: LayerNorm, a zero-initialised linear map mixing the tokens, LayerNorm. Positions:
    LayerNorm of the original map, MLP D -> 64 -> tokens, sigmoid: one weight per (position,
    token). The caller adds the residual.
    """

    def __init__(self, dim: int, num_tokens: int, bottleneck_dim: int, eps: float, dropout: float = 0.0):
        super().__init__()
        self.norm_tokens = nn.LayerNorm(dim, eps=eps)
        self.mix = nn.Linear(num_tokens, num_tokens)
        self.norm_mixed = nn.LayerNorm(dim, eps=eps)
        self.norm_original = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, bottleneck_dim, num_tokens, dropout=dropout)
        self.drop = nn.Dropout(dropout)
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def forward(self, tokens: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
        # tokens: (N, tokens, D); original: (N, S, D)
        mixed = self.mix(self.norm_tokens(tokens).transpose(1, 2)).transpose(1, 2)  # (N, tokens, D)
        mixed = self.norm_mixed(mixed)
        weights = torch.sigmoid(self.mlp(self.norm_original(original)))  # (N, S, tokens)
        self.keep(weights)
        return self.drop(weights @ mixed)  # (N, S, D)
