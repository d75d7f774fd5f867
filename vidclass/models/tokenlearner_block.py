"""TokenLearner with a bottleneck Transformer on a conv feature map (TokenLearner paper, section 6).

The block the paper inserts into X3D: per frame a TokenLearner turns the stage's h x w map into S
learned tokens, Transformer layers run over the T*S tokens of the clip, and a TokenFuser maps them
back onto every position of every frame, where the input map is added back (the residual). The
output has the input's shape, so the remaining conv stages follow unchanged. The learner and the
fuser are ``tokenlearner.py``'s; the layers are ``layers.Block`` with either ``layers.Attention``
(multi-head dot-product self-attention) or ``VectorAttention`` (below). docs/models.md has the
formulas; ``bottleneck_macs`` and ``bottleneck_parameters`` count its cost from the config alone.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ..errors import require, require_choice, require_int, require_number
from ..protocol import known_fields
from .config import MAX_HEADS, MAX_LAYERS, MAX_LEARNED_TOKENS, MAX_WIDTH, TokenLearnerVersion
from .layers import Attention, Block, Mlp
from .recording import Recorder
from .tokenlearner import TokenFuser, TokenLearnerV10, TokenLearnerV11

LAYER_NORM_EPS = 1e-6  # scenic's, as in the ViViT TokenLearner models
MAX_MLP_RATIO = 16.0
MAX_LEARNER_CONVS = 4  # the ViViT models' v1.0 learner has four; the paper's X3D block one
PAIRWISE_CHUNK_ELEMENTS = 1 << 24  # vector attention: (B, queries, N, D) elements per chunk


class BottleneckAttention(str, enum.Enum):
    MHSA = "mhsa"  # multi-head scaled dot-product self-attention (layers.Attention)
    VECTOR = "vector"  # subtraction vector attention (VectorAttention): the paper's choice


@dataclass(frozen=True)
class TokenLearnerBottleneckConfig:
    """What the block holds; the channel count comes from the stage it follows."""

    num_tokens: int = 8  # S, learned tokens per frame
    layers: int = 1  # Transformer layers over the T*S tokens
    heads: int = 4  # MHSA only; must divide the channels
    attention: BottleneckAttention = BottleneckAttention.VECTOR
    mlp_ratio: float = 4.0  # each layer's MLP width is round(channels * mlp_ratio)
    dropout: float = 0.0  # MLPs, attention weights, projections, learner and fuser
    learner: TokenLearnerVersion = TokenLearnerVersion.V10
    learner_convs: int = 1  # v1.0 only: 1 is the paper's single-conv spatial attention
    bottleneck_dim: int = 64  # MLP width of the v1.1 learner and of the fuser
    vector_reduction: int = 4  # vector attention: gamma's hidden width is channels // this

    def __post_init__(self) -> None:
        put = object.__setattr__  # a frozen record normalising its own fields
        put(self, "num_tokens", require_int(self.num_tokens, "num_tokens", 1, MAX_LEARNED_TOKENS))
        put(self, "layers", require_int(self.layers, "layers", 1, MAX_LAYERS))
        put(self, "heads", require_int(self.heads, "heads", 1, MAX_HEADS))
        put(self, "attention", require_choice(self.attention, "attention", BottleneckAttention))
        put(self, "mlp_ratio", require_number(self.mlp_ratio, "mlp_ratio", 0.0, MAX_MLP_RATIO, above=True))
        put(self, "dropout", require_number(self.dropout, "dropout", 0.0, 1.0, below=True))
        put(self, "learner", require_choice(self.learner, "learner", TokenLearnerVersion))
        put(self, "learner_convs", require_int(self.learner_convs, "learner_convs", 1, MAX_LEARNER_CONVS))
        put(self, "bottleneck_dim", require_int(self.bottleneck_dim, "bottleneck_dim", 1, MAX_WIDTH))
        put(self, "vector_reduction", require_int(self.vector_reduction, "vector_reduction", 1, MAX_WIDTH))

    def check_channels(self, channels: object) -> int:
        """``channels`` as an int this config can run on; else ``ValueError``."""
        c = require_int(channels, "channels", 1, MAX_WIDTH)
        if self.attention is BottleneckAttention.MHSA:
            require(c % self.heads == 0, f"channels {c} are not divisible by heads {self.heads}")
        return c

    def mlp_dim(self, channels: int) -> int:
        return max(1, round(channels * self.mlp_ratio))

    def gamma_dim(self, channels: int) -> int:
        return max(1, channels // self.vector_reduction)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["attention"] = self.attention.value
        data["learner"] = self.learner.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenLearnerBottleneckConfig:
        """A config from its ``to_dict`` form; unknown fields are refused."""
        return cls(**known_fields(cls, data, "tokenlearner bottleneck"))


class VectorAttention(Recorder):
    """Subtraction vector self-attention (Zhao et al., CVPR 2020), one weight per channel.

    For tokens x_1..x_N (D channels): q = phi(x), k = psi(x), v = beta(x) (linear maps D -> D),
        y_i = proj( sum_j softmax_j( gamma(q_i - k_j) ) * v_j )
    with gamma = Mlp D -> D // reduction -> D (GELU) and the softmax over j taken separately in
    each channel c, so a_ijc weights channel c of v_j. No position term is added.

    The pairwise tensors (q_i - k_j, gamma's hidden and output, the weights) are (B, N, N, D)-sized:
    the queries are taken in chunks so that one chunk holds at most ``PAIRWISE_CHUNK_ELEMENTS``
    (16 M, 64 MB at fp32) elements per tensor. That bounds memory without autograd; in training the
    graph keeps every chunk, about 4 * B * N^2 * D elements per layer (512 tokens x 64 channels:
    67 M elements, 268 MB per clip). In recording mode it keeps the channel-averaged weights (B, N, N).
    While exported (``vidclass export``) all queries are one chunk: the chunk size depends on B,
    and an ONNX graph's batch axis must not.
    """

    def __init__(self, dim: int, gamma_dim: int, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)  # rows: phi (query), psi (key), beta (value)
        self.gamma = Mlp(dim, gamma_dim, dim)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, frames: int = 1) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).unflatten(-1, (3, d)).unbind(-2)  # each (B, N, D)
        # exported: one chunk (a chunk size computed from B would fix the graph's batch axis)
        chunk = n if torch.compiler.is_exporting() else max(1, PAIRWISE_CHUNK_ELEMENTS // max(1, b * n * d))
        outputs = []
        for start in range(0, n, chunk):
            rel = q[:, start : start + chunk, None, :] - k[:, None, :, :]  # (B, q, N, D)
            weights = self.gamma(rel).softmax(dim=2)  # (B, q, N, D): softmax over the keys j
            self.keep(weights.mean(dim=-1))  # (B, q, N)
            outputs.append(torch.einsum("bijc,bjc->bic", self.attn_drop(weights), v))  # (B, q, D)
        return self.proj_drop(self.proj(torch.cat(outputs, dim=1)))  # (B, N, D)


class TokenLearnerBottleneck(nn.Module):
    """(B, C, T, H, W) -> (B, C, T, H, W): TokenLearner per frame, Transformer, TokenFuser, residual.

    ``out = x + TokenFuser(Transformer(TokenLearner(x)), x)``, per frame for the learner and the
    fuser and over all T*S tokens of a clip for the Transformer. The fuser's token-mixing map
    starts at zero, so a new block starts as the identity and a pretrained backbone it is
    inserted into keeps its outputs until the block has trained. H and W may change from call to
    call (the paper trains at 224 and tests at 256 pixels); the convs and MLPs do not depend on them.
    """

    def __init__(self, channels: int, cfg: TokenLearnerBottleneckConfig | None = None):
        super().__init__()
        cfg = cfg if cfg is not None else TokenLearnerBottleneckConfig()
        c = cfg.check_channels(channels)
        self.cfg = cfg
        self.channels = c
        self.learner: TokenLearnerV10 | TokenLearnerV11
        if cfg.learner is TokenLearnerVersion.V10:
            self.learner = TokenLearnerV10(c, cfg.num_tokens, (1, 1), LAYER_NORM_EPS, cfg.learner_convs)
        else:
            self.learner = TokenLearnerV11(c, cfg.num_tokens, cfg.bottleneck_dim, LAYER_NORM_EPS, cfg.dropout)
        self.blocks = nn.ModuleList(
            Block(c, cfg.mlp_dim(c), self._mixer(c), LAYER_NORM_EPS, cfg.dropout, 0.0) for _ in range(cfg.layers)
        )
        self.fuser = TokenFuser(c, cfg.num_tokens, cfg.bottleneck_dim, LAYER_NORM_EPS, cfg.dropout)

    def _mixer(self, c: int) -> nn.Module:
        cfg = self.cfg
        if cfg.attention is BottleneckAttention.VECTOR:
            return VectorAttention(c, cfg.gamma_dim(c), cfg.dropout, cfg.dropout)
        return Attention(c, cfg.heads, attn_drop=cfg.dropout, proj_drop=cfg.dropout)

    def learn(self, frames: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
        """(B*T, h*w, C) positions of each frame -> (B*T, S, C) learned tokens."""
        if isinstance(self.learner, TokenLearnerV10):
            return self.learner(frames, grid_hw)
        return self.learner(frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        s = self.cfg.num_tokens
        frames = x.permute(0, 2, 3, 4, 1).reshape(b * t, h * w, c)  # (B*T, h*w, C), row-major
        tokens = self.learn(frames, (h, w))  # (B*T, S, C)
        seq = tokens.reshape(b, t * s, c)  # (B, T*S, C): frame by frame, S tokens each
        for block in self.blocks:
            seq = block(seq, t)  # (B, T*S, C)
        fused = self.fuser(seq.reshape(b * t, s, c), frames)  # (B*T, S, C), (B*T, h*w, C) -> (B*T, h*w, C)
        out = (frames + fused).reshape(b, t, h, w, c)  # (B, T, H, W, C)
        return out.permute(0, 4, 1, 2, 3).contiguous()  # (B, C, T, H, W)


# Cost, from the config alone (counted as in flops.py: matmuls and convolutions; no norms,
# softmax, activations, biases or elementwise ops such as the q_i - k_j differences).


def _layer_macs(cfg: TokenLearnerBottleneckConfig, c: int, n: int) -> int:
    mlp = 2 * n * c * cfg.mlp_dim(c)
    if cfg.attention is BottleneckAttention.MHSA:
        return mlp + 4 * n * c * c + 2 * n * n * c  # q, k, v, output; scores and weighted sum
    gamma = n * n * 2 * c * cfg.gamma_dim(c)  # gamma's two linear maps on every (i, j) pair
    return mlp + 4 * n * c * c + gamma + n * n * c  # phi, psi, beta, output; gamma; weighted sum


def bottleneck_macs(cfg: TokenLearnerBottleneckConfig, channels: int, frames: int, height: int, width: int) -> int:
    """Multiply-accumulates of one (C, T, H, W) map through ``TokenLearnerBottleneck``."""
    c, s, bd, p = cfg.check_channels(channels), cfg.num_tokens, cfg.bottleneck_dim, height * width
    if cfg.learner is TokenLearnerVersion.V10:
        maps = p * 9 * (c * s + (cfg.learner_convs - 1) * s * s)
    else:
        maps = p * (c * bd + bd * s)
    learner = maps + s * p * c  # maps, then the weighted sum over positions
    fuser = c * s * s + p * (c * bd + bd * s) + p * s * c  # token mixing, position weights, mapping back
    return frames * (learner + fuser) + cfg.layers * _layer_macs(cfg, c, frames * s)


def _linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def bottleneck_parameters(cfg: TokenLearnerBottleneckConfig, channels: int) -> int:
    """Parameters of ``TokenLearnerBottleneck(channels, cfg)``."""
    c, s, bd = cfg.check_channels(channels), cfg.num_tokens, cfg.bottleneck_dim
    norm = 2 * c
    if cfg.learner is TokenLearnerVersion.V10:
        learner = norm + 9 * (c * s + (cfg.learner_convs - 1) * s * s)  # bias-free 3x3 convs
    else:
        learner = norm + _linear(c, bd) + _linear(bd, s)
    fuser = 3 * norm + _linear(s, s) + _linear(c, bd) + _linear(bd, s)
    attention = _linear(c, 3 * c) + _linear(c, c)
    if cfg.attention is BottleneckAttention.VECTOR:
        attention += _linear(c, cfg.gamma_dim(c)) + _linear(cfg.gamma_dim(c), c)
    layer = 2 * norm + attention + _linear(c, cfg.mlp_dim(c)) + _linear(cfg.mlp_dim(c), c)
    return learner + cfg.layers * layer + fuser
