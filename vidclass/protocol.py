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

from vidclass.errors import require


class Aggregate(str, enum.Enum):
    """How per-view outputs are combined into one score vector per video."""

    SOFTMAX = "softmax"  # mean of per-view softmax probabilities (the ViViT paper's protocol)
    LOGITS = "logits"  # mean of per-view logits, then softmax (what scenic's code does)


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
        require(self.num_frames >= 1, "num_frames must be >= 1")
        require(self.frame_stride >= 1, "frame_stride must be >= 1")
        require(self.target_fps is None or self.target_fps > 0, "target_fps must be > 0")
        require(self.crop_size >= 1, "crop_size must be >= 1")
        require(self.resize_size >= self.crop_size, "resize_size must be >= crop_size")
        require(len(self.mean) == 3 and len(self.std) == 3, "mean and std need 3 values")
        require(all(s > 0 for s in self.std), "std values must be > 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        data = _known(cls, data)
        for key in ("mean", "std"):
            if key in data:
                data[key] = tuple(float(v) for v in data[key])
        return cls(**data)


@dataclass(frozen=True)
class ViewProtocol:
    """The multi-view test protocol: ``clips`` temporal clips x ``crops`` spatial crops."""

    clips: int = 4
    crops: int = 3
    aggregate: Aggregate = Aggregate.SOFTMAX

    def __post_init__(self) -> None:
        require(self.clips >= 1, "clips must be >= 1")
        require(self.crops in (1, 3), "crops must be 1 (centre) or 3 (left, centre, right)")
        object.__setattr__(self, "aggregate", Aggregate(self.aggregate))

    @property
    def num_views(self) -> int:
        return self.clips * self.crops

    def override(self, **changes: Any) -> ViewProtocol:
        """A copy with the given fields replaced; ``None`` values keep the current value."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return {"clips": self.clips, "crops": self.crops, "aggregate": self.aggregate.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViewProtocol:
        return cls(**_known(cls, data))


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return dict(data)


__all__ = ["Aggregate", "Preprocessing", "ViewProtocol"]
