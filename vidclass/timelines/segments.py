"""From per-window scores to the segments of a timeline (docs/timeline-segments.md).

A window is a stretch of the video (``start`` to ``end`` seconds) the model scored as a whole:
its ``probs`` sum to 1 over the model's labels. Windows come in time order: their centres
``(start + end) / 2`` never decrease.

- ``smooth(windows, n)``: window ``i``'s probabilities become the mean over the windows
  ``i - (n - 1) // 2`` to ``i + n // 2`` (``n`` windows, centred; an even ``n`` takes one more
  window after ``i`` than before), of those that exist: at the ends the mean is over fewer.
- ``segments(windows, labels, duration)``: each window stands for the time from the midpoint of
  its centre and the centre before it to the midpoint of its centre and the centre after it;
  the first window's time starts at 0, the last one's ends at ``duration`` (every midpoint is
  clamped into ``[0, duration]``). A window whose time is empty (three or more equal centres,
  or a centre beyond ``duration``) is dropped. Neighbouring windows with the same top label
  merge into one segment, whose ``score`` is the mean top probability of its windows. With
  ``min_score``, a window whose top probability is below it is background (``label`` and
  ``score`` None) and merges with neighbouring background. So the segments tile ``[0,
  duration]``: the first starts at 0, each starts where the one before it ends, the last ends
  at ``duration``, none is empty, and two neighbours never share a label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidclass.errors import VidclassError


class TimelineError(VidclassError, ValueError):
    """Windows, labels or settings a timeline cannot be built from (exit 2)."""


@dataclass(frozen=True)
class WindowScores:
    """One scored window: ``index`` (its place in the video's windows), ``start`` and ``end``
    in seconds, and ``probs``, one probability per label (they sum to 1)."""

    index: int
    start: float
    end: float
    probs: np.ndarray

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True)
class Segment:
    """A stretch of the timeline, ``start`` to ``end`` seconds, with one ``label`` and its
    ``score`` (the mean top probability of its windows); both are None for background."""

    start: float
    end: float
    label: str | None
    score: float | None


def _check_order(windows: Sequence[WindowScores]) -> None:
    for before, after in zip(windows, windows[1:], strict=False):
        if after.centre < before.centre:
            raise TimelineError(
                f"windows {before.index} and {after.index} are out of time order (centres "
                f"{before.centre:g} s, then {after.centre:g} s)"
            )


def smooth(windows: Sequence[WindowScores], n: int) -> list[WindowScores]:
    """Each window's probabilities averaged with its neighbours': a centred moving average over
    ``n`` windows (``i - (n - 1) // 2`` to ``i + n // 2``; at the ends, over those that exist).
    ``n`` 1 leaves them unchanged. Start, end and index stay."""
    if n < 1:
        raise TimelineError(f"smoothing over {n} windows: it needs at least 1")
    _check_order(windows)
    if n == 1 or not windows:
        return list(windows)
    probs = np.stack([np.asarray(w.probs, dtype=np.float64) for w in windows])
    sums = np.concatenate([np.zeros((1, probs.shape[1])), np.cumsum(probs, axis=0)])
    out = []
    for i, window in enumerate(windows):
        lo, hi = max(0, i - (n - 1) // 2), min(len(windows), i + n // 2 + 1)
        mean = (sums[hi] - sums[lo]) / (hi - lo)
        out.append(WindowScores(window.index, window.start, window.end, mean))
    return out


def segments(
    windows: Sequence[WindowScores],
    labels: Sequence[str],
    duration: float,
    min_score: float | None = None,
    smooth: int = 1,
) -> list[Segment]:
    """The segments that tile ``[0, duration]`` (the module's docstring has the rules).

    ``smooth`` windows are averaged first (``smooth(windows, n)``); top labels are taken
    after. A top-probability tie goes to the label that comes first in ``labels``. No windows
    give one background segment over the whole video; ``duration`` 0 gives none."""
    if not math.isfinite(duration) or duration < 0:
        raise TimelineError(f"duration {duration:g} s: it must be a finite number of seconds, at least 0")
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise TimelineError(f"min_score {min_score:g} is outside [0, 1]")
    for window in windows:
        if np.shape(window.probs) != (len(labels),):
            raise TimelineError(
                f"window {window.index} has {np.size(window.probs)} probabilities for {len(labels)} labels"
            )
        if not np.all(np.isfinite(window.probs)):
            raise TimelineError(f"window {window.index} has a probability that is not a finite number")
    scored = _smooth_windows(windows, smooth)
    if duration == 0:
        return []
    if not scored:
        return [Segment(0.0, float(duration), None, None)]
    cuts = stretch_cuts(scored, duration)
    out: list[Segment] = []
    tops: list[float] = []  # the top probabilities of the windows in out[-1]
    for k, window in enumerate(scored):
        start, end = cuts[k], cuts[k + 1]
        if end <= start:
            continue  # a window whose time is empty
        probs = np.asarray(window.probs, dtype=np.float64)
        top = int(np.argmax(probs))
        p = float(probs[top])
        label = None if min_score is not None and p < min_score else labels[top]
        if out and out[-1].label == label:
            tops.append(p)
            out[-1] = Segment(out[-1].start, end, label, None)
        else:
            _close(out, tops)
            tops = [p]
            out.append(Segment(start, end, label, None))
    _close(out, tops)
    return out


def stretch_cuts(windows: Sequence[WindowScores], duration: float) -> list[float]:
    """Where each window's stretch of time begins and ends: window ``k`` stands for
    ``[cuts[k], cuts[k + 1])``. 0, then the midpoints of neighbouring centres, then
    ``duration``, each clamped into ``[0, duration]`` (a stretch may be empty)."""
    centres = [w.centre for w in windows]
    inner = [min(max((a + b) / 2, 0.0), duration) for a, b in zip(centres, centres[1:], strict=False)]
    return [0.0, *inner, float(duration)]


def _smooth_windows(windows: Sequence[WindowScores], n: int) -> list[WindowScores]:
    """``smooth``, under a name that ``segments``' argument ``smooth`` does not hide."""
    return smooth(windows, n)


def _close(out: list[Segment], tops: list[float]) -> None:
    """Give the last segment its score: the mean of ``tops`` (None for background)."""
    if out and out[-1].label is not None:
        last = out[-1]
        out[-1] = Segment(last.start, last.end, last.label, float(np.mean(tops)))


def _ms(seconds: float) -> float:
    return round(float(seconds), 3)


def window_record(w: WindowScores, labels: Sequence[str], top_k: int, scores: bool = False) -> dict[str, Any]:
    """One window as a record: ``{"type": "window", "start", "end", "labels": [{"label",
    "score"}, ...]}`` (the ``top_k`` best, best first; a tie goes to the label first in
    ``labels``), with ``scores`` also ``"scores": {label: probability}`` for every label.
    Seconds are rounded to milliseconds; probabilities are not rounded."""
    if top_k < 1:
        raise TimelineError(f"top_k {top_k}: it must be at least 1")
    probs = np.asarray(w.probs, dtype=np.float64)
    order = np.argsort(-probs, kind="stable")[:top_k]
    record: dict[str, Any] = {
        "type": "window",
        "start": _ms(w.start),
        "end": _ms(w.end),
        "labels": [{"label": labels[i], "score": float(probs[i])} for i in order],
    }
    if scores:
        record["scores"] = {label: float(p) for label, p in zip(labels, probs, strict=True)}
    return record


def segment_record(s: Segment) -> dict[str, Any]:
    """One segment as a record: ``{"type": "segment", "start", "end", "label", "score"}``,
    seconds rounded to milliseconds (``label`` and ``score`` null for background)."""
    return {"type": "segment", "start": _ms(s.start), "end": _ms(s.end), "label": s.label, "score": s.score}


__all__ = [
    "Segment",
    "TimelineError",
    "WindowScores",
    "segment_record",
    "segments",
    "smooth",
    "stretch_cuts",
    "window_record",
]
