"""Shared building blocks composed by every ViViT variant.

Every token mixer takes a token sequence ``x`` of shape (B, N, D) and the number of frames
``frames`` the sequence is made of (N = frames * S, no prefix token, when it matters):
joint attention ignores ``frames``; the factorised mixers use it to see the (time, space) grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import attend
from .recording import Recorder


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU, tanh approximation: JAX's default and Hugging Face's ``gelu_fast``."""
    return F.gelu(x, approximate="tanh")


class Mlp(nn.Module):
    """Dense -> GELU -> dropout -> Dense -> dropout (scenic's MlpBlock)."""

    def __init__(self, dim: int, hidden: int, out_dim: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, out_dim if out_dim is not None else dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(gelu(self.fc1(x)))))


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per example while training."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Attention(Recorder):
    """Multi-head self-attention through ``attention.attend`` (SDPA, or score tiles in bf16 on the CPU).

    In recording mode (``recording.recording``) it computes the softmax explicitly instead and
    keeps the probabilities averaged over the heads of the call, (..., L, L) per call of
    ``_attend`` (what attention rollout uses; all heads of ViViT-B would be 5.7 GB): same result.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)  # rows: query, key, value
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _qkv(self, x: torch.Tensor) -> torch.Tensor:
        # (..., N, D) -> (3, ..., N, heads, head_dim)
        qkv = self.qkv(x).unflatten(-1, (3, self.num_heads, self.head_dim))
        return qkv.movedim(-3, 0)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # q, k, v: (..., L, heads, hd) -> (batch, heads, L, hd), 4-D so the fused kernels apply
        lead, (length, heads, hd) = q.shape[:-3], q.shape[-3:]
        q, k, v = (t.reshape(-1, length, heads, hd).transpose(1, 2) for t in (q, k, v))
        if self.records is None:
            out = attend(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        else:
            probs = (q @ k.transpose(-2, -1) * hd**-0.5).softmax(dim=-1)  # (batch, heads, L, L)
            self.keep(probs.mean(dim=1).reshape(*lead, length, length))  # heads averaged: L^2 per call
            out = F.dropout(probs, self.attn_drop, self.training) @ v
        return out.transpose(1, 2).reshape(*lead, length, heads, hd)  # (..., L, heads, hd)

    def _project(self, heads: torch.Tensor) -> torch.Tensor:
        # (..., N, heads, hd) -> (..., N, D)
        return self.proj_drop(self.proj(heads.flatten(-2)))

    def forward(self, x: torch.Tensor, frames: int = 1) -> torch.Tensor:
        q, k, v = self._qkv(x)  # each (B, N, heads, hd)
        return self._project(self._attend(q, k, v))


class SplitHeadAttention(Attention):
    """Model 4, factorised dot-product attention.

    The same parameters as ``Attention``; the first half of the heads attend over time (tokens
    at the same spatial position), the second half over space (tokens of the same frame).
    """

    def __init__(self, dim: int, num_heads: int, **kwargs):
        if num_heads % 2:
            raise ValueError("factorised dot-product attention needs an even number of heads")
        super().__init__(dim, num_heads, **kwargs)

    def forward(self, x: torch.Tensor, frames: int = 1) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self._qkv(x.view(b, frames, n // frames, d))  # (3, B, T, S, heads, hd)
        half = self.num_heads // 2
        time_qkv = qkv[..., :half, :].transpose(2, 3)  # (3, B, S, T, half, hd): sequences over T
        space_qkv = qkv[..., half:, :]  # (3, B, T, S, half, hd): sequences over S
        time_out = self._attend(*time_qkv).transpose(1, 2)  # (B, T, S, half, hd)
        space_out = self._attend(*space_qkv)  # (B, T, S, half, hd)
        heads = torch.cat([time_out, space_out], dim=-2)  # (B, T, S, heads, hd)
        return self._project(heads).view(b, n, d)


class Block(nn.Module):
    """Pre-LN transformer block: x + mixer(LN(x)), then x + MLP(LN(x)).

    ``attn`` is any token mixer called as ``attn(x, frames)`` on (B, N, D): ``Attention`` and its
    subclasses, or ``tokenlearner_block.VectorAttention``.
    """

    def __init__(self, dim: int, mlp_dim: int, attn: nn.Module, eps: float, dropout: float, drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = attn
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_dim, dropout=dropout)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, frames: int = 1) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), frames))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class FactorisedSelfAttentionBlock(nn.Module):
    """Model 3: attention over time, then over space (or the reverse), then the MLP.

    Each attention has its own LayerNorm and residual, as in scenic's
    ``EncoderFactorizedSelfAttentionBlock``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_dim: int,
        *,
        time_first: bool,
        qkv_bias: bool,
        eps: float,
        dropout: float,
        attn_drop: float,
        drop_path: float,
    ):
        super().__init__()
        self.time_first = time_first
        self.norm_time = nn.LayerNorm(dim, eps=eps)
        self.attn_time = Attention(dim, num_heads, qkv_bias, attn_drop, dropout)
        self.norm_space = nn.LayerNorm(dim, eps=eps)
        self.attn_space = Attention(dim, num_heads, qkv_bias, attn_drop, dropout)
        self.norm_mlp = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_dim, dropout=dropout)
        self.drop_path = DropPath(drop_path)

    def _over_time(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, S, D); sequences are the T tokens at one spatial position
        y = self.attn_time(self.norm_time(x.transpose(1, 2)))  # (B, S, T, D)
        return x + self.drop_path(y.transpose(1, 2))

    def _over_space(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, S, D); sequences are the S tokens of one frame
        return x + self.drop_path(self.attn_space(self.norm_space(x)))

    def forward(self, x: torch.Tensor, frames: int = 1) -> torch.Tensor:
        b, n, d = x.shape
        grid = x.view(b, frames, n // frames, d)  # (B, T, S, D)
        steps = (self._over_time, self._over_space) if self.time_first else (self._over_space, self._over_time)
        for step in steps:
            grid = step(grid)
        x = grid.reshape(b, n, d)
        return x + self.drop_path(self.mlp(self.norm_mlp(x)))


MOTION_FRACTION = 0.75  # of the embedding's channels, for init_temporal_difference_
MOTION_GAIN = 3.0  # chosen by a short ablation on vidclass synth (see the bundled model's card)


class TubeletEmbedding(nn.Module):
    """Non-overlapping (t, h, w) tubelets linearly projected: a Conv3d with kernel = stride."""

    def __init__(self, in_channels: int, dim: int, tubelet: tuple[int, int, int]):
        super().__init__()
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=tubelet, stride=tubelet)

    @torch.no_grad()
    def init_temporal_difference_(
        self, motion_fraction: float = MOTION_FRACTION, generator: torch.Generator | None = None
    ) -> None:
        """Re-initialise the kernel so that part of the embedding starts out seeing change.

        Each output channel gets a random spatial pattern (fan-in scaled). The first
        ``motion_fraction`` of the channels weight it over the tubelet's frames by a zero-mean
        ramp (later frames minus earlier ones), so they answer only to what changes inside the
        tubelet and are blind to the static background; the others weight it uniformly (the
        tubelet's mean appearance). A from-scratch model on motion-only classes learns far
        faster from this start (see the bundled model's card); the bias is zero.
        """
        weight = self.proj.weight  # (D, C, t, h, w)
        dim, channels, frames, height, width = weight.shape
        if frames < 2:
            raise ValueError("a temporal-difference kernel needs tubelets of 2 or more frames")
        spatial = torch.randn(dim, channels, 1, height, width, generator=generator)
        spatial *= (channels * height * width) ** -0.5
        ramp = torch.linspace(-1.0, 1.0, frames)
        ramp = ramp / ramp.clamp(min=0).sum() * MOTION_GAIN  # positive half sums to the gain
        moving = round(dim * motion_fraction)
        weight[:moving] = spatial[:moving] * ramp.view(1, 1, frames, 1, 1)
        weight[moving:] = spatial[moving:].expand(-1, -1, frames, -1, -1) / frames
        if self.proj.bias is not None:
            self.proj.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.device.type == "cpu"
            and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16
        ):
            return self._as_matmul(x)  # oneDNN's bf16 Conv3d is ~10x slower than the same product
        # (B, C, T, H, W) -> (B, D, t, h, w) -> (B, t, h*w, D): tokens ordered time, height, width
        x = self.proj(x)
        return x.flatten(3).permute(0, 2, 3, 1)

    def _as_matmul(self, x: torch.Tensor) -> torch.Tensor:
        """The same tubelet projection as one matrix product over the cut-out tubelets."""
        b, c, frames, height, width = x.shape
        t, h, w = self.proj.kernel_size
        nt, nh, nw = frames // t, height // h, width // w  # a remainder is dropped, as the Conv3d does
        x = x[:, :, : nt * t, : nh * h, : nw * w].reshape(b, c, nt, t, nh, h, nw, w)
        # (B, C, nt, t, nh, h, nw, w) -> (B, nt, nh, nw, C, t, h, w) -> (B, nt, nh*nw, C*t*h*w)
        tubelets = x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, nt, nh * nw, c * t * h * w)
        return F.linear(tubelets, self.proj.weight.flatten(1), self.proj.bias)  # (B, nt, nh*nw, D)
