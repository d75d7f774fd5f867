"""One frozen record describes a model; everything the network builds is derived from it.

Names follow the ViViT paper and scenic (see docs/models.md):
Model 1 ``spacetime``, Model 2 ``factorized_encoder``, Model 3 ``factorized_self_attention``,
Model 4 ``factorized_dot_product``.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..errors import require


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
        object.__setattr__(self, "version", TokenLearnerVersion(self.version))
        require(self.num_tokens >= 1, "tokenlearner.num_tokens must be >= 1")
        require(self.location >= 0, "tokenlearner.location must be >= 0")
        require(self.bottleneck_dim >= 1, "tokenlearner.bottleneck_dim must be >= 1")


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
            object.__setattr__(self, name, enum_type(getattr(self, name)))
        object.__setattr__(self, "tubelet", tuple(int(v) for v in self.tubelet))
        if isinstance(self.tokenlearner, dict):
            object.__setattr__(self, "tokenlearner", TokenLearnerConfig(**self.tokenlearner))
        self._validate()

    def _validate(self) -> None:
        t, h, w = self.tubelet
        require(len(self.tubelet) == 3 and min(self.tubelet) >= 1, "tubelet must be 3 positive ints")
        require(self.num_frames % t == 0, f"num_frames {self.num_frames} is not a multiple of tubelet t={t}")
        require(
            self.image_size % h == 0 and self.image_size % w == 0,
            f"image_size {self.image_size} is not a multiple of tubelet {h}x{w}",
        )
        require(self.num_classes >= 1, "num_classes must be >= 1")
        require(self.num_layers >= 1, "num_layers must be >= 1")
        require(self.hidden_size % self.num_heads == 0, "hidden_size must divide by num_heads")
        if self.variant is Variant.FACTORIZED_ENCODER:
            require(self.temporal_layers >= 1, "temporal_layers must be >= 1")
            require(
                self.hidden_size % self.heads_temporal == 0,
                "hidden_size must divide by temporal_heads",
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
        if not isinstance(data, dict):
            raise ValueError(f"model config must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown model config field(s): {', '.join(unknown)}")
        data = dict(data)
        tl = data.get("tokenlearner")
        if tl is not None:
            if not isinstance(tl, dict):
                raise ValueError("tokenlearner must be a JSON object or null")
            tl_names = {f.name for f in fields(TokenLearnerConfig)}
            tl_unknown = sorted(set(tl) - tl_names)
            if tl_unknown:
                raise ValueError(f"unknown tokenlearner field(s): {', '.join(tl_unknown)}")
            data["tokenlearner"] = TokenLearnerConfig(**tl)
        return cls(**data)

    def replace(self, **changes: Any) -> ViViTConfig:
        return replace(self, **changes)
