"""Run a video classifier over the multi-view test protocol and aggregate the views.

``Predictor`` wraps one loaded ``VideoClassifier``: it decodes each video into the views its
``ViewProtocol`` asks for (``vidclass.video.load_views``), runs them through the model in
batches and combines the per-view logits into one probability vector (``aggregate``).
Bad input never raises: a file that cannot be decoded becomes a ``Prediction`` whose
``error`` holds a one-line message, so a batch run always completes.

``predict`` is the library mirror of ``vidclass predict``::

    for p in vidclass.engine.predict(["clips/"], model="weights/default.safetensors"):
        print(p.path, p.label, p.score)
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from vidclass.engine.inputs import expand_paths
from vidclass.engine.resolve import resolve_model
from vidclass.video.protocol import Aggregate, Preprocessing, ViewProtocol

DEFAULT_BATCH_SIZE = 4  # views per forward pass
DEFAULT_TOP_K = 5
DEVICES = ("auto", "cpu", "cuda")


def aggregate(logits: torch.Tensor, mode: Aggregate | str = Aggregate.SOFTMAX) -> torch.Tensor:
    """Combine per-view logits ``(V, K)`` into one probability vector ``(K,)``.

    ``SOFTMAX``: the mean of the per-view softmax probabilities (the ViViT paper's protocol).
    ``LOGITS``: the softmax of the mean logits (what scenic's evaluation code does).
    Either way the result sums to 1.
    """
    if logits.dim() != 2 or logits.shape[0] < 1:
        raise ValueError(f"expected logits of shape (views, classes), got {tuple(logits.shape)}")
    mode = Aggregate(mode)
    logits = logits.float()
    if mode is Aggregate.SOFTMAX:
        return torch.softmax(logits, dim=-1).mean(dim=0)
    return torch.softmax(logits.mean(dim=0), dim=-1)


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
        }
        if scores:
            record["scores"] = (
                dict(zip(self.class_names, self.scores, strict=True)) if self.scores is not None else None
            )
        return record


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when it is available, else the CPU; ValueError if unusable."""
    if isinstance(device, torch.device):
        resolved = device
    elif device == "auto":
        resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            resolved = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"unknown device {device!r}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA is not available on this machine")
    return resolved


class Predictor:
    """Classify videos with one model, over the model's multi-view protocol.

    ``clips``, ``crops`` and ``aggregate`` override the model file's ``ViewProtocol`` when not
    None; preprocessing always comes from the model file. The model is moved to ``device`` and
    put in eval mode (this changes ``classifier.model`` in place).
    """

    def __init__(
        self,
        classifier: Any,
        *,
        device: str | torch.device = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        clips: int | None = None,
        crops: int | None = None,
        aggregate: Aggregate | str | None = None,
        top_k: int = DEFAULT_TOP_K,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if top_k < 1:
            raise ValueError("top_k must be >= 1")
        self.classifier = classifier
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.top_k = int(top_k)
        self.labels: tuple[str, ...] = tuple(classifier.labels)
        self.preprocessing: Preprocessing = classifier.preprocessing
        self.protocol: ViewProtocol = classifier.protocol.override(
            clips=clips,
            crops=crops,
            aggregate=Aggregate(aggregate) if aggregate is not None else None,
        )
        self.model: torch.nn.Module = classifier.model.to(self.device).eval()

    def describe(self) -> dict[str, Any]:
        """What this predictor runs, JSON-ready (the header of ``--format json``)."""
        return {
            "name": self.classifier.name,
            "source": str(getattr(self.classifier, "source", "")),
            "num_labels": len(self.labels),
            "labels": list(self.labels),
            "device": str(self.device),
            "batch_size": self.batch_size,
            "top_k": self.top_k,
            "preprocessing": self.preprocessing.to_dict(),
            "protocol": self.protocol.to_dict(),
        }

    def logits(self, views: torch.Tensor) -> torch.Tensor:
        """Run ``(V, 3, T, H, W)`` views through the model, ``batch_size`` at a time -> (V, K)."""
        outputs = []
        with torch.inference_mode():
            for start in range(0, views.shape[0], self.batch_size):
                batch = views[start : start + self.batch_size].to(self.device, non_blocking=True)
                outputs.append(self.model(batch).float())
        return torch.cat(outputs, dim=0)

    def predict(self, path: str | os.PathLike[str]) -> Prediction:
        """Classify one video; decoding failures become an error ``Prediction``, never raise."""
        from vidclass.video import load_views

        start = time.perf_counter()
        name = os.fspath(path)
        try:
            views, plan, info = load_views(name, self.preprocessing, self.protocol)
        except Exception as exc:  # noqa: BLE001 - bad input of any kind becomes an error record
            return Prediction(
                path=name,
                error=one_line(exc),
                seconds=time.perf_counter() - start,
                class_names=self.labels,
            )
        probs = aggregate(self.logits(views), self.protocol.aggregate).cpu()
        k = min(self.top_k, probs.numel())
        top = torch.topk(probs, k)
        return Prediction(
            path=name,
            labels=[(self.labels[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)],
            scores=tuple(probs.tolist()),
            views=int(views.shape[0]),
            clips=len(plan.clips),
            crops=len(plan.crops),
            frames=int(info.num_frames),
            fps=float(info.fps),
            duration=float(info.duration),
            width=int(info.width),
            height=int(info.height),
            seconds=time.perf_counter() - start,
            class_names=self.labels,
        )

    def predict_many(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[Prediction]:
        """``predict`` each path in order, yielding as soon as each video is done."""
        for path in paths:
            yield self.predict(path)


def predict(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    model: Any = None,
    *,
    recursive: bool = False,
    device: str | torch.device = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    clips: int | None = None,
    crops: int | None = None,
    aggregate: Aggregate | str | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> Iterator[Prediction]:
    """The library mirror of ``vidclass predict``: yield one ``Prediction`` per video.

    ``paths``: files and directories (videos directly inside, or all below with
    ``recursive=True``), like the command's arguments. ``model``: a loaded classifier, a
    registry name or a model file; None uses the same default as the command
    (``$VIDCLASS_MODEL``, then the bundled ``weights/default.safetensors``).
    The model is loaded and the options checked before this returns (errors raise here);
    videos are then processed lazily, in input order.
    """
    classifier = resolve_model(model)
    predictor = Predictor(
        classifier,
        device=device,
        batch_size=batch_size,
        clips=clips,
        crops=crops,
        aggregate=aggregate,
        top_k=top_k,
    )
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return predictor.predict_many(expand_paths(paths, recursive=recursive))


def one_line(exc: BaseException) -> str:
    """A one-line message for an exception; the type name is kept for unexpected ones."""
    from vidclass.video import VideoError

    message = " ".join(str(exc).split())
    if isinstance(exc, VideoError):
        return message or "cannot read video"
    kind = type(exc).__name__
    return f"{kind}: {message}" if message else kind


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_TOP_K",
    "DEVICES",
    "Prediction",
    "Predictor",
    "aggregate",
    "one_line",
    "predict",
    "resolve_device",
]
