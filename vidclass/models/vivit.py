"""ViViT (Arnab et al., ICCV 2021): the four variants, with optional TokenLearner.

Read top to bottom: ``Encoder`` (position embedding, blocks, TokenLearner, final norm) is shared
by all variants; ``JointBackbone`` runs one encoder over every token (Models 1, 3 and 4, which
differ only in their block); ``FactorisedEncoderBackbone`` runs a spatial encoder per frame and
a temporal encoder over the frame summaries (Model 2); ``ViViT`` adds the tubelet embedding and
the head, with timm's ``forward_features`` / ``forward_head`` split.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import AttentionOrder, TokenLearnerConfig, TokenLearnerVersion, Variant, ViViTConfig
from .layers import Attention, Block, FactorisedSelfAttentionBlock, SplitHeadAttention, TubeletEmbedding
from .tokenlearner import TokenFuser, TokenLearnerV10, TokenLearnerV11


def _make_block(cfg: ViViTConfig, mixer: Variant, heads: int, mlp_dim: int, drop_path: float) -> nn.Module:
    """One block for the given token mixer; every variant composes the same layers."""
    if mixer is Variant.FACTORIZED_SELF_ATTENTION:
        return FactorisedSelfAttentionBlock(
            cfg.hidden_size,
            heads,
            mlp_dim,
            time_first=cfg.attention_order is AttentionOrder.TIME_SPACE,
            qkv_bias=cfg.qkv_bias,
            eps=cfg.layer_norm_eps,
            dropout=cfg.dropout,
            attn_drop=cfg.attention_dropout,
            drop_path=drop_path,
        )
    attention_cls = SplitHeadAttention if mixer is Variant.FACTORIZED_DOT_PRODUCT else Attention
    attn = attention_cls(
        cfg.hidden_size, heads, qkv_bias=cfg.qkv_bias, attn_drop=cfg.attention_dropout, proj_drop=cfg.dropout
    )
    return Block(cfg.hidden_size, mlp_dim, attn, cfg.layer_norm_eps, cfg.dropout, drop_path)


def _make_learner(cfg: ViViTConfig, tl: TokenLearnerConfig) -> nn.Module:
    if tl.version is TokenLearnerVersion.V10:
        _, gh, gw = cfg.grid
        return TokenLearnerV10(cfg.hidden_size, tl.num_tokens, (gh, gw), cfg.layer_norm_eps)
    return TokenLearnerV11(cfg.hidden_size, tl.num_tokens, tl.bottleneck_dim, cfg.layer_norm_eps, cfg.dropout)


class Encoder(nn.Module):
    """Learned position embedding, ``depth`` blocks (TokenLearner before some), final LayerNorm.

    Input (B, N, D) made of ``frames`` frames of equal size (plus a CLS token in front when
    ``num_positions`` counts one); output (B, N', D) where N' = frames * num_tokens after a
    TokenLearner without fuser.
    """

    def __init__(
        self,
        cfg: ViViTConfig,
        mixer: Variant,
        depth: int,
        heads: int,
        mlp_dim: int,
        num_positions: int,
        tokenlearner: TokenLearnerConfig | None = None,
    ):
        super().__init__()
        d = cfg.hidden_size
        self.pos_embed = nn.Parameter(torch.zeros(1, num_positions, d))
        self.pos_drop = nn.Dropout(cfg.dropout)
        rates = [cfg.drop_path * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(_make_block(cfg, mixer, heads, mlp_dim, r) for r in rates)
        self.norm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        # TokenLearner before block `location`; with the fuser, at every block from there on.
        self.tokenlearner = tokenlearner
        learners: dict[str, nn.Module] = {}
        fusers: dict[str, nn.Module] = {}
        if tokenlearner is not None:
            last = depth if tokenlearner.fuse else tokenlearner.location + 1
            learn_at = range(tokenlearner.location, last)
            learners = {str(i): _make_learner(cfg, tokenlearner) for i in learn_at}
            if tokenlearner.fuse:  # made after every learner: the random initialisation keeps its order
                tl = tokenlearner
                fusers = {
                    str(i): TokenFuser(d, tl.num_tokens, tl.bottleneck_dim, cfg.layer_norm_eps, cfg.dropout)
                    for i in learn_at
                }
        self.learners = nn.ModuleDict(learners)
        self.fusers = nn.ModuleDict(fusers)

    def forward(self, x: torch.Tensor, frames: int = 1) -> torch.Tensor:
        x = self.pos_drop(x + self.pos_embed)
        for i, block in enumerate(self.blocks):
            key = str(i)
            if key not in self.learners:
                x = block(x, frames)
                continue
            b, n, d = x.shape
            per_frame = x.reshape(b * frames, n // frames, d)  # (B*T, S, D)
            learned = self.learners[key](per_frame)  # (B*T, tokens, D)
            tokens = learned.shape[1]
            y = block(learned.reshape(b, frames * tokens, d), frames)  # (B, T*tokens, D)
            if key in self.fusers:
                fused = self.fusers[key](y.reshape(b * frames, tokens, d), per_frame)  # (B*T, S, D)
                y = (fused + per_frame).reshape(b, n, d)
            x = y
        return self.norm(x)


def _pool(x: torch.Tensor, cls_token: bool) -> torch.Tensor:
    # (B, N, D) -> (B, D)
    return x[:, 0] if cls_token else x.mean(dim=1)


def _prepend(cls: nn.Parameter | None, x: torch.Tensor) -> torch.Tensor:
    return x if cls is None else torch.cat([cls.expand(x.shape[0], -1, -1), x], dim=1)


class JointBackbone(nn.Module):
    """Models 1, 3 and 4: one encoder over all t*h*w tokens; the block decides the mixing."""

    def __init__(self, cfg: ViViTConfig):
        super().__init__()
        t, _, _ = cfg.grid
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.hidden_size)) if cfg.has_cls_token else None
        positions = t * cfg.tokens_per_frame + int(cfg.has_cls_token)
        self.encoder = Encoder(
            cfg, cfg.variant, cfg.num_layers, cfg.num_heads, cfg.mlp_dim, positions, cfg.tokenlearner
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, t, s, d = tokens.shape  # (B, T, S, D)
        x = _prepend(self.cls_token, tokens.reshape(b, t * s, d))  # (B, [1+]T*S, D)
        return _pool(self.encoder(x, frames=t), self.cls_token is not None)


class FactorisedEncoderBackbone(nn.Module):
    """Model 2: a spatial encoder shared by every frame, then a temporal encoder."""

    def __init__(self, cfg: ViViTConfig):
        super().__init__()
        t, _, _ = cfg.grid
        cls = cfg.has_cls_token
        d = cfg.hidden_size
        self.cls_spatial = nn.Parameter(torch.zeros(1, 1, d)) if cls else None
        self.cls_temporal = nn.Parameter(torch.zeros(1, 1, d)) if cls else None
        self.spatial = Encoder(
            cfg,
            Variant.SPACETIME,
            cfg.num_layers,
            cfg.num_heads,
            cfg.mlp_dim,
            cfg.tokens_per_frame + int(cls),
            cfg.tokenlearner,
        )
        self.temporal = Encoder(
            cfg, Variant.SPACETIME, cfg.temporal_layers, cfg.heads_temporal, cfg.mlp_dim_temporal, t + int(cls)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, t, s, d = tokens.shape  # (B, T, S, D)
        frames = _prepend(self.cls_spatial, tokens.reshape(b * t, s, d))  # (B*T, [1+]S, D)
        per_frame = _pool(self.spatial(frames), self.cls_spatial is not None)  # (B*T, D)
        x = _prepend(self.cls_temporal, per_frame.reshape(b, t, d))  # (B, [1+]T, D)
        return _pool(self.temporal(x), self.cls_temporal is not None)  # (B, D)


BACKBONES: dict[Variant, type[nn.Module]] = {
    Variant.SPACETIME: JointBackbone,
    Variant.FACTORIZED_ENCODER: FactorisedEncoderBackbone,
    Variant.FACTORIZED_SELF_ATTENTION: JointBackbone,
    Variant.FACTORIZED_DOT_PRODUCT: JointBackbone,
}


class ViViT(nn.Module):
    """Video (B, C, T, H, W), float, normalised -> logits (B, num_classes)."""

    def __init__(self, cfg: ViViTConfig):
        super().__init__()
        self.config = cfg
        self.patch_embed = TubeletEmbedding(cfg.in_channels, cfg.hidden_size, cfg.tubelet)
        self.backbone = BACKBONES[cfg.variant](cfg)
        self.pre_logits = (
            nn.Sequential(nn.Linear(cfg.hidden_size, cfg.representation_size), nn.Tanh())
            if cfg.representation_size
            else nn.Identity()
        )
        self.head = nn.Linear(cfg.representation_size or cfg.hidden_size, cfg.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Scenic's initialisers: Xavier-uniform dense kernels, N(0, 0.02) position embeddings,
        zero CLS tokens. The head is N(0, 0.02) rather than scenic's zeros, so that a fresh
        model does not score every class equally."""
        if self.head.weight.is_meta:  # built for shapes only; values will be loaded
            return
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.normal_(module.bias, std=1e-6)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.Conv2d, nn.Conv3d)):
                fan_in = module.weight[0].numel()
                nn.init.trunc_normal_(module.weight, std=1.0 / math.sqrt(fan_in))  # LeCun normal
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            if isinstance(module, TokenFuser):
                nn.init.zeros_(module.mix.weight)
                nn.init.zeros_(module.mix.bias)
        for name, param in self.named_parameters():
            if name.endswith("pos_embed"):
                nn.init.normal_(param, std=0.02)
            elif name.split(".")[-1].startswith("cls"):
                nn.init.zeros_(param)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    @classmethod
    def from_state_dict(cls, cfg: ViViTConfig, state: dict[str, torch.Tensor]) -> ViViT:
        """A model of ``cfg`` holding exactly ``state`` (strict), in eval mode; built on the
        meta device so no random initialisation is computed and then thrown away."""
        with torch.device("meta"):
            model = cls(cfg)
        model.load_state_dict(state, assign=True)
        return model.eval()

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> pooled representation (B, D)."""
        return self.backbone(self.patch_embed(video))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, D) -> logits (B, num_classes)."""
        return self.head(self.pre_logits(features))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(video))
