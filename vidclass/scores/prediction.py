"""``aggregate`` (views -> one probability vector) and ``Prediction`` (one video's result)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from vidclass.errors import InputError
from vidclass.protocol import Aggregate


class NonFiniteScores(InputError):
    """A video's logits hold NaN or infinity, so it has no scores (exit 1: that video fails)."""


def aggregate(logits: torch.Tensor, mode: Aggregate | str = Aggregate.SOFTMAX) -> torch.Tensor:
    """Combine per-view logits ``(V, K)`` into one probability vector ``(K,)``.

    ``SOFTMAX``: the mean of the per-view softmax probabilities (the ViViT paper's protocol).
    ``LOGITS``: the softmax of the mean logits (what scenic's evaluation code does).
    Either way the result sums to 1. ``NonFiniteScores`` if any logit is NaN or infinite
    (broken weights, an fp16 overflow): softmax would spread that over every score.
    """
    if logits.dim() != 2 or logits.shape[0] < 1:
        raise ValueError(f"expected logits of shape (views, classes), got {tuple(logits.shape)}")
    mode = Aggregate(mode)
    logits = logits.float()
    if not bool(torch.isfinite(logits).all()):
        raise NonFiniteScores("non-finite scores: the model returned NaN or infinite logits")
    if mode is Aggregate.SOFTMAX:
        return torch.softmax(logits, dim=-1).mean(dim=0)
    return torch.softmax(logits.mean(dim=0), dim=-1)


def top_labels(probs: torch.Tensor, labels: tuple[str, ...], k: int) -> list[tuple[str, float]]:
    """The ``k`` best (label, probability) pairs of ``probs`` (K,), best first."""
    top = torch.topk(probs, min(k, probs.numel()))
    return [(labels[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)]


@dataclass
class Prediction:
    """The result for one video; ``error`` is set (and the scores empty) when it failed."""

    path: str
    labels: list[tuple[str, float]] = field(default_factory=list)  # top-k, best first
    scores: tuple[float, ...] | None = None  # every class, in the model's label order
    views: int | None = None
    clips: int | None = None
    crops: int | None = None
    frames: int | None = None  # frames in the decoded video
    fps: float | None = None
    duration: float | None = None  # seconds
    width: int | None = None
    height: int | None = None
    seconds: float = 0.0  # wall time spent on this video (decode + model)
    error: str | None = None
    decoder: str | None = None  # "decord" or "pyav": which decoder read the video
    class_names: tuple[str, ...] = ()  # the model's labels, matching ``scores``

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def label(self) -> str | None:
        """The top-1 label, or None for a failed video."""
        return self.labels[0][0] if self.labels else None

    @property
    def score(self) -> float | None:
        """The top-1 probability, or None for a failed video."""
        return self.labels[0][1] if self.labels else None

    def to_record(self, scores: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; ``scores=True`` adds ``"scores": {label: probability}``."""
        record: dict[str, Any] = {
            "path": self.path,
            "ok": self.ok,
            "labels": [{"label": label, "score": score} for label, score in self.labels],
            "views": self.views,
            "clips": self.clips,
            "crops": self.crops,
            "frames": self.frames,
            "fps": self.fps,
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
            "seconds": round(self.seconds, 4),
            "error": self.error,
            "decoder": self.decoder,
        }
        if scores:
            record["scores"] = (
                dict(zip(self.class_names, self.scores, strict=True)) if self.scores is not None else None
            )
        return record


__all__ = ["Aggregate", "NonFiniteScores", "Prediction", "aggregate", "top_labels"]
