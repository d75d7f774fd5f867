"""``timeline``: the library mirror of ``vidclass timeline``: a long video labelled window by window.

::

    for record in vidclass.timeline("match.mp4"):
        print(record)                # {"type": "window", ...} per window, then the segments

Windows (``vidclass.video.windows.plan_windows``) are one model clip each, on the model's own
frame-rate grid; they stream out of the predictor's decode queue chunk by chunk, in a worker
process (``DecodeQueue.windows``: one pass forward through the file, bounded memory), and run
through the model in batches as predict's views do. Each window's crops combine as predict's
views do (``aggregate``: by default the mean of their softmax). The windows, smoothed, then merge into segments that tile the video
(``vidclass.timelines.segments``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from vidclass.checkpoints import ModelSpec, load_classifier
from vidclass.errors import InputError
from vidclass.inference import Predictor, RunOptions
from vidclass.scores import aggregate
from vidclass.timelines.segments import Segment, WindowScores, segment_record, segments, window_record
from vidclass.video.windows import plan_windows


class TimelineInputError(InputError):
    """The video could not be read, wholly or part of the way through."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class TimelineSettings:
    """How a timeline is cut and merged; checked once, passed whole."""

    window: float | None = None  # seconds; None: the model's clip span
    stride: float | None = None  # seconds; None: half the window
    crops: int = 1
    smooth: int = 1
    min_score: float | None = None
    top_k: int = 5
    scores: bool = False

    def __post_init__(self) -> None:
        if self.crops not in (1, 3):
            raise ValueError(f"crops must be 1 or 3, got {self.crops}")
        if self.smooth < 1:
            raise ValueError(f"smooth must be at least 1 window, got {self.smooth}")
        if self.min_score is not None and not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be between 0 and 1, got {self.min_score}")


@dataclass
class Timeline:
    """One video's windows and segments, as they were computed."""

    path: str
    duration: float
    labels: tuple[str, ...]
    windows: list[WindowScores] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    fps: float = 0.0
    width: int = 0
    height: int = 0


def stream_windows(
    predictor: Predictor, path: str | os.PathLike[str], settings: TimelineSettings, timeline: Timeline
) -> Iterator[WindowScores]:
    """Each window's scores, in order, as soon as its chunk has run; ``timeline`` gets the
    video's duration and size first and every window as it comes. Errors: ``TimelineInputError``."""
    name = os.fspath(path)
    probed = predictor.queue.plan(name)
    if probed.error is not None:
        raise TimelineInputError(name, probed.error)
    info = probed.info
    timeline.duration, timeline.fps = float(info.duration), float(info.fps)
    timeline.width, timeline.height = int(info.width), int(info.height)
    try:
        windows = plan_windows(info, predictor.preprocessing, settings.window, settings.stride)
    except ValueError as exc:
        raise TimelineInputError(name, str(exc)) from exc
    chunks = predictor.queue.windows(info, windows, settings.crops)
    try:
        for chunk, views in chunks:
            logits = predictor.logits(views).view(len(chunk), settings.crops, -1)  # (n, crops, K)
            # a window's crops combine as predict's views do (--aggregate)
            probs = torch.stack(
                [aggregate(crops, predictor.protocol.aggregate, predictor.multi_label) for crops in logits]
            )
            for window, p in zip(chunk, probs.numpy().astype(np.float64), strict=True):
                scored = WindowScores(window.index, window.start, window.end, p)
                timeline.windows.append(scored)
                yield scored
    except InputError as exc:  # the queue's one-line VideoError (a decode failed part-way), or NonFiniteScores
        raise TimelineInputError(name, str(exc)) from exc
    finally:
        chunks.close()


def finish(timeline: Timeline, settings: TimelineSettings) -> list[Segment]:
    timeline.segments = segments(
        timeline.windows, timeline.labels, timeline.duration, min_score=settings.min_score, smooth=settings.smooth
    )
    return timeline.segments


def timeline_records(
    predictor: Predictor, path: str | os.PathLike[str], settings: TimelineSettings
) -> Iterator[dict[str, Any]]:
    """The window records as they come, then the segment records (what jsonl streams)."""
    result = Timeline(os.fspath(path), 0.0, predictor.labels)
    for scored in stream_windows(predictor, path, settings, result):
        yield {"path": result.path, **window_record(scored, predictor.labels, settings.top_k, scores=settings.scores)}
    for segment in finish(result, settings):
        yield {"path": result.path, **segment_record(segment)}


def timeline(
    path: str | os.PathLike[str],
    model: ModelSpec = None,
    *,
    settings: TimelineSettings | None = None,
    options: RunOptions | None = None,
    **changes: Any,
) -> Iterator[dict[str, Any]]:
    """Yield ``vidclass timeline``'s records for one video: a ``{"type": "window"}`` record per
    window as it is scored, then a ``{"type": "segment"}`` record per segment. ``settings``
    (``TimelineSettings``: window, stride, crops, smooth, min_score, top_k, scores); ``options``
    or keywords: the run settings, as for ``predict``. A video that cannot be read raises
    ``TimelineInputError`` (an ``InputError``), possibly after some windows were yielded."""
    settings = settings or TimelineSettings()
    options = RunOptions.build(options, **changes)
    predictor = Predictor(load_classifier(model), options)
    try:
        yield from timeline_records(predictor, path, settings)
    finally:
        predictor.close()


__all__ = [
    "Timeline",
    "TimelineInputError",
    "TimelineSettings",
    "finish",
    "stream_windows",
    "timeline",
    "timeline_records",
]
