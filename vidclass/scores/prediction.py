"""``aggregate`` (views -> one probability vector) and ``Prediction`` (one video's result)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from vidclass.errors import InputError
from vidclass.protocol import Aggregate


class NonFiniteScores(InputError):
    """A video's logits hold NaN or infinity, so it has no scores (exit 1: that video fails)."""


def aggregate(
    logits: torch.Tensor, mode: Aggregate | str = Aggregate.SOFTMAX, multi_label: bool = False
) -> torch.Tensor:
    """Combine per-view logits ``(V, K)`` into one probability vector ``(K,)``.

    A single-label model's view probabilities are the softmax of its logits, a multi-label
    model's (``multi_label``) the sigmoid of each logit. ``SOFTMAX`` (single-label) and ``MEAN``:
    the mean of the per-view probabilities (the ViViT paper's protocol). ``LOGITS``: the
    probabilities of the mean logits (what scenic's evaluation code does). ``MAX``: per class,
    the largest per-view probability (SlowFast's protocol for Charades). A single-label result
    of ``SOFTMAX``, ``MEAN`` or ``LOGITS`` sums to 1. ``NonFiniteScores`` if any logit is NaN or
    infinite (broken weights, an fp16 overflow): softmax would spread that over every score.
    ``ValueError`` for ``SOFTMAX`` on a multi-label model.
    """
    if logits.dim() != 2 or logits.shape[0] < 1:
        raise ValueError(f"expected logits of shape (views, classes), got {tuple(logits.shape)}")
    mode = Aggregate(mode).check(multi_label)
    logits = logits.float()
    if not bool(torch.isfinite(logits).all()):
        raise NonFiniteScores("non-finite scores: the model returned NaN or infinite logits")
    activation = torch.sigmoid if multi_label else (lambda x: torch.softmax(x, dim=-1))
    if mode is Aggregate.LOGITS:
        return activation(logits.mean(dim=0))
    probs = activation(logits)  # (V, K)
    if mode is Aggregate.MAX:
        return probs.amax(dim=0)
    return probs.mean(dim=0)


def top_labels(probs: torch.Tensor, labels: tuple[str, ...], k: int) -> list[tuple[str, float]]:
    """The ``k`` best (label, probability) pairs of ``probs`` (K,), best first."""
    top = torch.topk(probs, min(k, probs.numel()))
    return [(labels[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)]


def positive_labels(probs: torch.Tensor, labels: tuple[str, ...], threshold: float) -> list[tuple[str, float]]:
    """Every (label, probability) of ``probs`` (K,) at or above ``threshold``, best first (ties
    in label order): a multi-label model's predicted label set."""
    values = probs.tolist()
    chosen = [i for i, value in enumerate(values) if value >= threshold]
    chosen.sort(key=lambda i: -values[i])  # stable: equal scores keep label order
    return [(labels[i], float(values[i])) for i in chosen]


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
    multi_label: bool = False  # made by a multi-label model (a sigmoid per class)
    # A multi-label model's predicted set: every label at or above the threshold, best first
    # (None for a single-label model, or a failed video).
    positives: list[tuple[str, float]] | None = None

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
        """A JSON-ready dict; ``scores=True`` adds ``"scores": {label: probability}``. A
        multi-label model's record adds ``"positives"``: its label set, as ``labels`` lists the
        top-k (a failed video's is null)."""
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
        if self.positives is not None or (self.error is not None and self.multi_label):
            record["positives"] = (
                [{"label": label, "score": score} for label, score in self.positives]
                if self.positives is not None
                else None
            )
        if scores:
            record["scores"] = (
                dict(zip(self.class_names, self.scores, strict=True)) if self.scores is not None else None
            )
        return record


__all__ = ["Aggregate", "NonFiniteScores", "Prediction", "aggregate", "positive_labels", "top_labels"]
