"""What a model file says about its input: preprocessing and the multi-view test protocol.

These two records travel inside every model file (see ``vidclass.checkpoints``) so that the
weights always carry the pipeline they were trained with. Everything downstream (sampling,
view building, aggregation) reads its defaults from here and nowhere else. ``Aggregate`` names
how view scores combine. The bottom of the stack: it imports only vidclass.errors (and no torch),
so models, video, scores and the command line's option declarations may all import it.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from vidclass.errors import require, require_choice, require_int, require_number

# Upper bounds of what a model file may ask for (docs/models.md says why): far above any
# released ViViT, low enough that no single value asks for unbounded memory or time.
MAX_FRAMES = 256  # frames per clip
MAX_FRAME_STRIDE = 256
MAX_TARGET_FPS = 1000.0
MAX_IMAGE_SIZE = 1024  # pixels: the crop size, the model's image size
MAX_RESIZE_SIZE = 1280  # pixels: the short side before cropping (256/224 of the largest crop fits)
MAX_CLIPS = 32  # temporal clips per video
MAX_MEAN = 10.0  # |mean|, in units of [0, 1] pixels
STD_RANGE = (1e-3, 10.0)  # a smaller std would overflow fp16 inputs


class Aggregate(str, enum.Enum):
    """How per-view outputs are combined into one score vector per video.

    A single-label model's probabilities are a softmax, a multi-label model's a sigmoid per
    class (``multi_label`` in its model file); ``SOFTMAX`` names the single-label mean.
    """

    SOFTMAX = "softmax"  # mean of per-view softmax probabilities (the ViViT paper's protocol)
    LOGITS = "logits"  # mean of per-view logits, then softmax or sigmoid (what scenic's code does)
    MEAN = "mean"  # mean of per-view probabilities (for a single-label model, the same as softmax)
    MAX = "max"  # per class, the largest per-view probability (SlowFast's Charades protocol)

    def check(self, multi_label: bool) -> Aggregate:
        """This mode, or ``ValueError`` if it does not apply to the model (softmax to sigmoid scores)."""
        if multi_label and self is Aggregate.SOFTMAX:
            raise ValueError(
                "aggregate softmax is for single-label models; a multi-label model takes mean, max or logits"
            )
        return self


@dataclass(frozen=True)
class Preprocessing:
    """How frames are sampled and turned into a model input.

    ``frame_stride`` counts frames of the decoded video when ``target_fps`` is None (scenic's
    behaviour); when ``target_fps`` is set, it counts frames of the video resampled to that
    rate, so a 60 fps file covers the same seconds as a 25 fps one.
    Pixels are mapped as ``(x / 255 - mean) / std`` per RGB channel; the default maps to
    [-1, 1], which is what scenic's ViViT checkpoints were trained on.
    """

    num_frames: int = 32
    frame_stride: int = 2
    target_fps: float | None = None
    resize_size: int = 256  # short side, in pixels, before cropping
    crop_size: int = 224
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        _set(self, "num_frames", require_int(self.num_frames, "num_frames", 1, MAX_FRAMES))
        _set(self, "frame_stride", require_int(self.frame_stride, "frame_stride", 1, MAX_FRAME_STRIDE))
        if self.target_fps is not None:
            _set(self, "target_fps", require_number(self.target_fps, "target_fps", 0, MAX_TARGET_FPS, above=True))
        _set(self, "crop_size", require_int(self.crop_size, "crop_size", 1, MAX_IMAGE_SIZE))
        _set(self, "resize_size", require_int(self.resize_size, "resize_size", 1, MAX_RESIZE_SIZE))
        require(self.resize_size >= self.crop_size, "resize_size must be >= crop_size")
        for key, bound in (("mean", (-MAX_MEAN, MAX_MEAN)), ("std", STD_RANGE)):
            values = getattr(self, key)
            require(isinstance(values, (list, tuple)) and len(values) == 3, "mean and std need 3 values")
            _set(self, key, tuple(require_number(v, f"{key}[{i}]", *bound) for i, v in enumerate(values)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(**known_fields(cls, data))


@dataclass(frozen=True)
class ViewProtocol:
    """The multi-view test protocol: ``clips`` temporal clips x ``crops`` spatial crops."""

    clips: int = 4
    crops: int = 3
    aggregate: Aggregate = Aggregate.SOFTMAX

    def __post_init__(self) -> None:
        _set(self, "clips", require_int(self.clips, "clips", 1, MAX_CLIPS))
        _set(self, "crops", require_int(self.crops, "crops", 1, 3))
        require(self.crops != 2, "crops must be 1 (centre) or 3 (left, centre, right)")
        _set(self, "aggregate", require_choice(self.aggregate, "aggregate", Aggregate))

    @property
    def num_views(self) -> int:
        return self.clips * self.crops

    def override(self, **changes: Any) -> ViewProtocol:
        """A copy with the given fields replaced; ``None`` values keep the current value."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def for_head(self, multi_label: bool) -> ViewProtocol:
        """This protocol for a single-label or a multi-label (``multi_label``) model: a
        multi-label model cannot take ``softmax`` and gets ``max`` (SlowFast's Charades
        protocol); a single-label model given ``mean`` or ``max`` gets ``softmax`` back."""
        if multi_label and self.aggregate is Aggregate.SOFTMAX:
            return replace(self, aggregate=Aggregate.MAX)
        if not multi_label and self.aggregate in (Aggregate.MEAN, Aggregate.MAX):
            return replace(self, aggregate=Aggregate.SOFTMAX)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"clips": self.clips, "crops": self.crops, "aggregate": self.aggregate.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViewProtocol:
        return cls(**known_fields(cls, data))


def _set(record: object, name: str, value: object) -> None:
    object.__setattr__(record, name, value)  # a frozen record normalising its own field


def known_fields(cls: type, data: object, what: str = "") -> dict[str, Any]:
    """``data`` as keyword arguments of the dataclass ``cls`` (``what``, its name in messages):
    ``ValueError`` unless it is a dict (a JSON object) of ``cls``'s fields only."""
    what = what or cls.__name__
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(data).__name__}")
    unknown = sorted(str(key) for key in set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {what} field(s): {', '.join(unknown)}")
    return dict(data)


__all__ = [
    "MAX_CLIPS",
    "MAX_FRAMES",
    "MAX_FRAME_STRIDE",
    "MAX_IMAGE_SIZE",
    "MAX_MEAN",
    "MAX_RESIZE_SIZE",
    "MAX_TARGET_FPS",
    "STD_RANGE",
    "Aggregate",
    "Preprocessing",
    "ViewProtocol",
    "known_fields",
]
