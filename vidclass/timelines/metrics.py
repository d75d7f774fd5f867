"""How well a timeline's segments match the truth (docs/timeline-segments.md).

Truth is a list of ``(start, end, label)`` in time order, or of anything with ``start``,
``end`` and ``label`` attributes (``vidclass.synth.read_sequences(out_dir)[i].segments`` as
they are). ``score_timeline`` measures:

- ``accuracy``: the timeline is sampled at the centre of every frame, ``(i + 0.5) / fps`` for
  each ``i`` with that time before the truth's end (``fps``: the truth video's frame rate,
  or ``1 / step`` for a fixed step; default ``DEFAULT_FPS``). At each time the predicted label
  (the segment with ``start <= t < end``; the last segment also holds its ``end``) is compared
  with the truth's (the same rule); background or no segment counts as wrong. Times that no
  truth segment holds are skipped. ``accuracy`` is the fraction right.
- ``precision`` / ``recall`` at ``iou`` (0.5): a predicted segment with a label matches a
  truth segment with the same label whose temporal IoU (overlap / union of the two spans) is
  at least ``iou``. Matching is one-to-one and greedy: the pair with the highest IoU first
  (ties: earlier truth, then earlier prediction), then the best of the rest, and so on.
  ``precision`` = matches / predicted segments with a label (background is not counted),
  ``recall`` = matches / truth segments; None when the count they divide by is 0.
- ``boundary_error``: the truth's boundaries are the ends of its segments but the last; the
  timeline's are the ends of its segments but the last, plus 0 and the end of its last
  segment (so a timeline that misses a change is measured to the video's nearest end). For
  each truth boundary, the distance in seconds to the nearest timeline boundary; the mean
  of those, or None when the truth has no boundary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from vidclass.timelines.segments import Segment, TimelineError

DEFAULT_FPS = 100.0  # samples per second when the truth's frame rate is not given (a 10 ms step)
IOU = 0.5


class TruthSegment(Protocol):
    """What a truth segment needs: ``vidclass.synth.Segment`` has it."""

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def label(self) -> str: ...


Truth = Iterable[tuple[float, float, str] | TruthSegment]


@dataclass(frozen=True)
class TimelineMetrics:
    """``score_timeline``'s figures; ``samples``, ``predicted``, ``truth`` and ``matched`` are
    the counts behind them."""

    accuracy: float | None
    precision: float | None
    recall: float | None
    boundary_error: float | None
    samples: int
    predicted: int
    truth: int
    matched: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def truth_spans(truth: Truth) -> list[tuple[float, float, str]]:
    """``truth`` as ``(start, end, label)`` tuples, checked: time order, no overlap, end >=
    start."""
    spans = []
    for item in truth:
        if isinstance(item, tuple):
            start, end, label = item
        else:
            start, end, label = item.start, item.end, item.label
        spans.append((float(start), float(end), str(label)))
    for k, (start, end, _) in enumerate(spans):
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise TimelineError(f"truth segment {k} runs from {start:g} s to {end:g} s")
        if k and start < spans[k - 1][1]:
            raise TimelineError(f"truth segment {k} starts at {start:g} s, before the one before it ends")
    return spans


def labels_at(spans: Sequence[tuple[float, float, str | None]], times: np.ndarray) -> list[tuple[bool, str | None]]:
    """For each time ``t``: (whether a span holds it, that span's label). A span holds ``start
    <= t < end``; the last one also its ``end``. Spans are in time order."""
    if not spans:
        return [(False, None)] * len(times)
    starts = np.array([s[0] for s in spans], dtype=np.float64)
    ends = np.array([s[1] for s in spans], dtype=np.float64)
    index = np.searchsorted(starts, times, side="right") - 1
    out: list[tuple[bool, str | None]] = []
    for t, k in zip(times.tolist(), index.tolist(), strict=True):
        held = k >= 0 and (t < ends[k] or (k == len(spans) - 1 and t == ends[k]))
        out.append((True, spans[k][2]) if held else (False, None))
    return out


def sample_times(duration: float, fps: float) -> np.ndarray:
    """The centres of the frames of a video ``duration`` seconds long at ``fps``: ``(i + 0.5) /
    fps`` for every ``i`` with that time before ``duration``."""
    if not (math.isfinite(fps) and fps > 0):
        raise TimelineError(f"fps {fps:g}: it must be a positive number")
    count = math.ceil(duration * fps) + 1
    times = (np.arange(count, dtype=np.float64) + 0.5) / fps
    return times[times < duration]


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Temporal intersection over union of two spans (0 when both are empty)."""
    overlap = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return overlap / union if union > 0 else 0.0


def match_segments(
    predicted: Sequence[Segment], truth: Sequence[tuple[float, float, str]], threshold: float = IOU
) -> list[tuple[int, int]]:
    """The one-to-one greedy matches (predicted index, truth index), best IoU first."""
    pairs = []
    for p, seg in enumerate(predicted):
        if seg.label is None:
            continue
        for t, (start, end, label) in enumerate(truth):
            if label == seg.label:
                value = iou((seg.start, seg.end), (start, end))
                if value >= threshold:
                    pairs.append((-value, t, p))
    pairs.sort()
    used_p: set[int] = set()
    used_t: set[int] = set()
    matches = []
    for _, t, p in pairs:
        if p not in used_p and t not in used_t:
            used_p.add(p)
            used_t.add(t)
            matches.append((p, t))
    return sorted(matches)


def boundary_error(predicted: Sequence[Segment], truth: Sequence[tuple[float, float, str]]) -> float | None:
    """The mean distance (s) from each truth boundary to the nearest timeline boundary."""
    wanted = [end for _, end, _ in truth[:-1]]
    if not wanted:
        return None
    found = [0.0] + [s.end for s in predicted]
    return float(np.mean([min(abs(b - f) for f in found) for b in wanted]))


def score_timeline(
    predicted: Sequence[Segment], truth: Truth, fps: float | None = None, iou_threshold: float = IOU
) -> TimelineMetrics:
    """Frame accuracy, segment precision and recall at ``iou_threshold``, and the mean
    boundary error of ``predicted`` against ``truth`` (the module's docstring has the rules)."""
    spans = truth_spans(truth)
    for before, after in zip(predicted, predicted[1:], strict=False):
        if after.start < before.start:
            raise TimelineError("the timeline's segments are out of time order")
    times = sample_times(spans[-1][1] if spans else 0.0, DEFAULT_FPS if fps is None else fps)
    pred_spans = [(s.start, s.end, s.label) for s in predicted]
    right = samples = 0
    for (held, want), (_, got) in zip(labels_at(spans, times), labels_at(pred_spans, times), strict=True):
        if held:
            samples += 1
            right += got is not None and got == want
    labelled = sum(s.label is not None for s in predicted)
    matched = len(match_segments(predicted, spans, iou_threshold))
    return TimelineMetrics(
        accuracy=right / samples if samples else None,
        precision=matched / labelled if labelled else None,
        recall=matched / len(spans) if spans else None,
        boundary_error=boundary_error(predicted, spans),
        samples=samples,
        predicted=labelled,
        truth=len(spans),
        matched=matched,
    )


__all__ = [
    "DEFAULT_FPS",
    "IOU",
    "TimelineMetrics",
    "TruthSegment",
    "boundary_error",
    "iou",
    "labels_at",
    "match_segments",
    "sample_times",
    "score_timeline",
    "truth_spans",
]
