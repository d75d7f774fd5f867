"""One frozen record describes a model; everything the network builds is derived from it.

Names follow the ViViT paper and scenic (see docs/models.md):
Model 1 ``spacetime``, Model 2 ``factorized_encoder``, Model 3 ``factorized_self_attention``,
Model 4 ``factorized_dot_product``.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..errors import require, require_choice, require_int, require_number
from ..protocol import MAX_FRAMES, MAX_IMAGE_SIZE, known_fields

# Upper bounds of a config (docs/models.md says why): far above any released ViViT (ViViT-H:
# 32 layers, 1280 wide, 16 heads, MLP 5120), low enough that no single value asks for
# unbounded memory or time. Frames and image size share protocol.py's bounds.
MAX_LAYERS = 128  # num_layers, temporal_layers
MAX_WIDTH = 8192  # hidden_size, representation_size, bottleneck_dim
MAX_MLP = 32768  # mlp_dim, temporal_mlp_dim
MAX_HEADS = 256
MAX_CLASSES = 100_000
MAX_CHANNELS = 16
MAX_TOKENS = 65_536  # tokens per view: (frames / t) * (image / h) * (image / w)
MAX_LEARNED_TOKENS = 1024  # TokenLearner tokens per frame


def _set(record: object, name: str, value: object) -> None:
    object.__setattr__(record, name, value)  # a frozen record normalising its own field


def _rate(record: object, name: str) -> None:
    _set(record, name, require_number(getattr(record, name), name, 0.0, 1.0, below=True))


class Variant(str, enum.Enum):
    SPACETIME = "spacetime"  # Model 1: joint attention over all t*h*w tokens
    FACTORIZED_ENCODER = "factorized_encoder"  # Model 2: spatial encoder per frame, then temporal
    FACTORIZED_SELF_ATTENTION = "factorized_self_attention"  # Model 3: time then space per block
    FACTORIZED_DOT_PRODUCT = "factorized_dot_product"  # Model 4: heads split over time / space


class Classifier(str, enum.Enum):
    TOKEN = "token"  # a learned CLS token is prepended; its final state is classified
    GAP = "gap"  # global average pool over the final tokens


class AttentionOrder(str, enum.Enum):
    """Model 3 only: which attention runs first inside each block."""

    TIME_SPACE = "time_space"
    SPACE_TIME = "space_time"


class TokenLearnerVersion(str, enum.Enum):
    V10 = "v1.0"  # the paper's module: conv maps, sigmoid, spatial sum
    V11 = "v1.1"  # scenic's default: MLP maps, softmax over space


@dataclass(frozen=True)
class TokenLearnerConfig:
    """TokenLearner inserted before block ``location`` (0-based), per frame.

    With ``fuse`` the learner -> block -> TokenFuser sequence repeats at every block from
    ``location`` on, and the token count is restored after each block. For Model 2 the
    location counts blocks of the spatial encoder.
    """

    num_tokens: int = 8
    location: int = 6
    version: TokenLearnerVersion = TokenLearnerVersion.V11
    fuse: bool = False
    bottleneck_dim: int = 64  # MLP width of v1.1 and of the fuser (fixed at 64 in scenic)

    def __post_init__(self) -> None:
        _set(self, "version", require_choice(self.version, "tokenlearner.version", TokenLearnerVersion))
        _set(self, "num_tokens", require_int(self.num_tokens, "tokenlearner.num_tokens", 1, MAX_LEARNED_TOKENS))
        _set(self, "location", require_int(self.location, "tokenlearner.location", 0, MAX_LAYERS - 1))
        require(isinstance(self.fuse, bool), f"tokenlearner.fuse must be true or false, got {self.fuse!r:.40}")
        _set(self, "bottleneck_dim", require_int(self.bottleneck_dim, "tokenlearner.bottleneck_dim", 1, MAX_WIDTH))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenLearnerConfig:
        return cls(**known_fields(cls, data, "tokenlearner"))


@dataclass(frozen=True)
class ViViTConfig:
    """A ViViT model. Defaults are ViViT-B/16x2 Model 1 for Kinetics-400 at 32x224x224."""

    variant: Variant = Variant.SPACETIME
    num_classes: int = 400
    num_frames: int = 32
    image_size: int = 224
    tubelet: tuple[int, int, int] = (2, 16, 16)  # (t, h, w); t = 1 is uniform frame sampling
    in_channels: int = 3
    hidden_size: int = 768
    num_layers: int = 12  # Model 2: layers of the spatial encoder
    num_heads: int = 12
    mlp_dim: int = 3072
    temporal_layers: int = 4  # Model 2 only
    temporal_heads: int | None = None  # Model 2 only; None = num_heads
    temporal_mlp_dim: int | None = None  # Model 2 only; None = mlp_dim
    attention_order: AttentionOrder = AttentionOrder.TIME_SPACE  # Model 3 only
    classifier: Classifier = Classifier.TOKEN
    representation_size: int | None = None  # optional pre-logits Dense + tanh (scenic)
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-6  # Flax's default, not PyTorch's 1e-5
    dropout: float = 0.0
    attention_dropout: float = 0.0
    drop_path: float = 0.0  # stochastic depth rate of the last block, linear from 0
    tokenlearner: TokenLearnerConfig | None = None

    def __post_init__(self) -> None:
        for name, enum_type in (
            ("variant", Variant),
            ("classifier", Classifier),
            ("attention_order", AttentionOrder),
        ):
            _set(self, name, require_choice(getattr(self, name), name, enum_type))
        for name, high in (
            ("num_classes", MAX_CLASSES),
            ("num_frames", MAX_FRAMES),
            ("image_size", MAX_IMAGE_SIZE),
            ("in_channels", MAX_CHANNELS),
            ("hidden_size", MAX_WIDTH),
            ("num_layers", MAX_LAYERS),
            ("num_heads", MAX_HEADS),
            ("mlp_dim", MAX_MLP),
            ("temporal_layers", MAX_LAYERS),
        ):
            _set(self, name, require_int(getattr(self, name), name, 1, high))
        for name, high in (
            ("temporal_heads", MAX_HEADS),
            ("temporal_mlp_dim", MAX_MLP),
            ("representation_size", MAX_WIDTH),
        ):
            if getattr(self, name) is not None:
                _set(self, name, require_int(getattr(self, name), name, 1, high))
        require(
            isinstance(self.tubelet, (list, tuple)) and len(self.tubelet) == 3,
            f"tubelet must be 3 positive integers (t, h, w), got {self.tubelet!r:.40}",
        )
        _set(
            self,
            "tubelet",
            tuple(require_int(v, f"tubelet[{i}]", 1, MAX_IMAGE_SIZE) for i, v in enumerate(self.tubelet)),
        )
        require(isinstance(self.qkv_bias, bool), f"qkv_bias must be true or false, got {self.qkv_bias!r:.40}")
        _set(self, "layer_norm_eps", require_number(self.layer_norm_eps, "layer_norm_eps", 1e-12, 1.0))
        for name in ("dropout", "attention_dropout", "drop_path"):
            _rate(self, name)
        if self.tokenlearner is not None and not isinstance(self.tokenlearner, TokenLearnerConfig):
            _set(self, "tokenlearner", TokenLearnerConfig.from_dict(self.tokenlearner))
        self._validate()

    def _validate(self) -> None:
        """How the fields fit together (each one alone is checked by ``__post_init__``)."""
        t, h, w = self.tubelet
        require(self.num_frames % t == 0, f"num_frames {self.num_frames} is not a multiple of tubelet t={t}")
        require(
            self.image_size % h == 0 and self.image_size % w == 0,
            f"image_size {self.image_size} is not a multiple of tubelet {h}x{w}",
        )
        tokens = (self.num_frames // t) * (self.image_size // h) * (self.image_size // w)
        require(tokens <= MAX_TOKENS, f"the config makes {tokens} tokens per view; at most {MAX_TOKENS} are allowed")
        require(
            self.hidden_size % self.num_heads == 0,
            f"hidden_size {self.hidden_size} must divide by num_heads {self.num_heads}",
        )
        if self.variant is Variant.FACTORIZED_ENCODER:
            require(
                self.hidden_size % self.heads_temporal == 0,
                f"hidden_size {self.hidden_size} must divide by temporal_heads {self.heads_temporal}",
            )
        if self.variant is Variant.FACTORIZED_DOT_PRODUCT:
            require(self.num_heads % 2 == 0, "Model 4 splits heads between time and space: num_heads must be even")
        if self.variant in (Variant.FACTORIZED_SELF_ATTENTION, Variant.FACTORIZED_DOT_PRODUCT):
            require(
                self.classifier is Classifier.GAP,
                f"{self.variant.value} keeps a time x space token grid: use classifier 'gap' (as scenic does)",
            )
        tl = self.tokenlearner
        if tl is not None:
            require(self.classifier is Classifier.GAP, "TokenLearner models pool their tokens: use classifier 'gap'")
            require(
                tl.location < self.num_layers,
                f"tokenlearner.location {tl.location} must be < num_layers {self.num_layers}",
            )

    # Derived sizes -------------------------------------------------------------------------
    @property
    def grid(self) -> tuple[int, int, int]:
        """Token grid (t, h, w) after the tubelet embedding."""
        t, h, w = self.tubelet
        return self.num_frames // t, self.image_size // h, self.image_size // w

    @property
    def tokens_per_frame(self) -> int:
        _, gh, gw = self.grid
        return gh * gw

    @property
    def heads_temporal(self) -> int:
        return self.temporal_heads if self.temporal_heads is not None else self.num_heads

    @property
    def mlp_dim_temporal(self) -> int:
        return self.temporal_mlp_dim if self.temporal_mlp_dim is not None else self.mlp_dim

    @property
    def has_cls_token(self) -> bool:
        return self.classifier is Classifier.TOKEN

    @property
    def num_parameters(self) -> int:
        """How many parameters the network of this config has, counted from the config alone
        (nothing is built): what a model file must store for it."""
        d, cls = self.hidden_size, int(self.has_cls_token)
        t, th, tw = self.tubelet
        frames, positions = self.grid[0], self.tokens_per_frame
        total = d * self.in_channels * t * th * tw + d  # tubelet embedding
        if self.variant is Variant.FACTORIZED_ENCODER:
            total += 2 * cls * d  # cls_spatial, cls_temporal
            total += _encoder_parameters(self, Variant.SPACETIME, self.num_layers, self.mlp_dim, positions + cls)
            total += _encoder_parameters(
                self, Variant.SPACETIME, self.temporal_layers, self.mlp_dim_temporal, frames + cls, learn=False
            )
        else:
            total += cls * d + _encoder_parameters(
                self, self.variant, self.num_layers, self.mlp_dim, frames * positions + cls
            )
        width = self.representation_size or d
        if self.representation_size:
            total += d * width + width  # pre-logits
        return total + width * self.num_classes + self.num_classes  # head

    # Serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, enum.Enum):
                data[key] = value.value
        data["tubelet"] = list(self.tubelet)
        if self.tokenlearner is not None:
            data["tokenlearner"]["version"] = self.tokenlearner.version.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViViTConfig:
        """A config from its ``to_dict`` form (a model file's JSON); unknown fields are refused."""
        return cls(**known_fields(cls, data, "model config"))

    def replace(self, **changes: Any) -> ViViTConfig:
        return replace(self, **changes)


def _linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def _encoder_parameters(
    cfg: ViViTConfig, mixer: Variant, depth: int, mlp_dim: int, rows: int, learn: bool = True
) -> int:
    """An ``Encoder`` of ``vivit.py``: position embedding, blocks, final LayerNorm, TokenLearners."""
    d = cfg.hidden_size
    norm = 2 * d
    attention = _linear(d, 3 * d, cfg.qkv_bias) + _linear(d, d)
    mlp = _linear(d, mlp_dim) + _linear(mlp_dim, d)
    attentions = 2 if mixer is Variant.FACTORIZED_SELF_ATTENTION else 1
    block = attentions * (norm + attention) + norm + mlp
    total = rows * d + depth * block + norm
    tl = cfg.tokenlearner
    if learn and tl is not None:
        s, b = tl.num_tokens, tl.bottleneck_dim
        learners = depth - tl.location if tl.fuse else 1
        if tl.version is TokenLearnerVersion.V10:
            learner = norm + 9 * (d * s + 3 * s * s)  # four bias-free 3x3 convolutions
        else:
            learner = norm + _linear(d, b) + _linear(b, s)
        fuser = 3 * norm + _linear(s, s) + _linear(d, b) + _linear(b, s) if tl.fuse else 0
        total += learners * (learner + fuser)
    return total
