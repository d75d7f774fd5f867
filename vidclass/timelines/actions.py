"""A timeline scored against actions that overlap: Charades' per-frame mAP
(docs/timeline-segments.md, "Metrics against actions").

Truth here is a Charades-format dataset (``vidclass.data.load_dataset``: an ``id,...,actions``
CSV, its class list): each video, keyed by its id (a file's stem), has actions ``(label, start,
end)`` in seconds that may overlap, so several labels can hold at once. Charades' localisation
task scores that at points, not segments:

- ``point_times(duration)``: ``POINTS`` (25) equally spaced times, ``t_i = i * duration / 25``
  for ``i = 0, ..., 24`` (Charades' convention: the first at 0, the last a 25th before the end).
- ``action_points``: each point's scores are those of the window whose stretch holds it: the
  stretches ``segments`` gives the windows (``stretch_cuts``: from the midpoint between its
  centre and the one before to the midpoint between its centre and the one after, the first
  from 0, the last to the end; a time on a midpoint belongs to the later window), which is the
  window with the nearest centre. The windows' scores as scored (before any smoothing): a
  multi-label model's sigmoids, a single-label model's softmax. Each point's targets are the
  classes of the actions active at it, ``start <= t <= end``.
- ``score_points``: ``frame_map``, the mean over the classes with at least one positive point
  of each class's exact AP (``vidclass.scores.ranking``: ties grouped, no interpolation) over
  the points; several videos' points are pooled into one ranking. ``chance_frame_map`` is the
  mean prevalence of those classes (what random scores get on average).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vidclass.data import Action, DatasetError, LabelMatch, Sample, load_dataset, match_labels
from vidclass.data.annotations import read_text, sniff
from vidclass.data.layouts import ANNOTATION_SUFFIXES
from vidclass.scores.ranking import ap_columns
from vidclass.timelines.segments import TimelineError, WindowScores, stretch_cuts

POINTS = 25  # Charades' time points per video


def point_times(duration: float, count: int = POINTS) -> np.ndarray:
    """``count`` times ``i * duration / count``, ``i = 0, ..., count - 1``."""
    if not math.isfinite(duration) or duration < 0:
        raise TimelineError(f"duration {duration:g} s: it must be a finite number of seconds, at least 0")
    if count < 1:
        raise TimelineError(f"{count} points: it needs at least 1")
    return np.arange(count, dtype=np.float64) * float(duration) / count


def windows_at(windows: Sequence[WindowScores], duration: float, times: np.ndarray) -> np.ndarray:
    """For each time, the index (into ``windows``) of the window whose stretch holds it; a time
    at or past ``duration`` goes to the last window with a stretch."""
    if not windows:
        raise TimelineError("no windows to take scores from")
    for before, after in zip(windows, windows[1:], strict=False):
        if after.centre < before.centre:
            raise TimelineError(f"windows {before.index} and {after.index} are out of time order")
    cuts = np.asarray(stretch_cuts(windows, duration), dtype=np.float64)
    # the last k with cuts[k] <= t: an empty stretch (cuts[k] == cuts[k + 1]) is never it
    index = np.searchsorted(cuts, times, side="right") - 1
    last = len(windows) - 1
    while last > 0 and cuts[last] >= cuts[last + 1]:
        last -= 1  # the last window whose stretch is not empty
    return np.clip(index, 0, last)


@dataclass(frozen=True)
class ActionPoints:
    """One video's points: ``times`` (P,), ``scores`` (P, K) and ``targets`` (P, K), K the
    model's labels in order."""

    times: np.ndarray
    scores: np.ndarray
    targets: np.ndarray


def action_points(
    windows: Sequence[WindowScores],
    duration: float,
    actions: Iterable[Action | tuple[str, float, float]],
    labels: Sequence[str],
    mapping: Mapping[str, str] | None = None,
    count: int = POINTS,
) -> ActionPoints:
    """The points of one video (the module's docstring has the rules). ``actions``: ``Action``
    or ``(label, start, end)``; ``mapping`` turns an action's label into one of ``labels`` (by
    default the label itself); an action whose label does not end up among ``labels`` is a
    ``TimelineError``."""
    times = point_times(duration, count)
    column = {label: k for k, label in enumerate(labels)}
    for window in windows:
        if np.shape(window.probs) != (len(labels),):
            raise TimelineError(f"window {window.index} has {np.size(window.probs)} scores for {len(labels)} labels")
    chosen = windows_at(windows, duration, times)
    scores = np.stack([np.asarray(windows[k].probs, dtype=np.float64) for k in chosen.tolist()])
    targets = np.zeros((len(times), len(labels)), dtype=bool)
    for item in actions:
        label, start, end = (item.label, item.start, item.end) if isinstance(item, Action) else item
        name = mapping.get(label, label) if mapping is not None else label
        if name not in column:
            raise TimelineError(f"action {label!r} is not among the model's labels")
        targets[(start <= times) & (times <= end), column[name]] = True
    return ActionPoints(times, scores, targets)


@dataclass(frozen=True)
class FrameMetrics:
    """``score_points``' figures: ``frame_map`` and ``chance_frame_map`` (None when no class
    has a positive point), over ``points`` points, ``classes_with_positives`` classes."""

    frame_map: float | None
    points: int
    classes_with_positives: int
    chance_frame_map: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_points(points: ActionPoints | Sequence[ActionPoints]) -> FrameMetrics:
    """Per-frame mAP over one video's points, or over several videos' points pooled."""
    parts = [points] if isinstance(points, ActionPoints) else list(points)
    if not parts:
        raise TimelineError("no points to score")
    scores = np.concatenate([p.scores for p in parts]).astype(np.float64)
    targets = np.concatenate([p.targets for p in parts]).astype(bool)
    ap = ap_columns(scores, targets)
    has = ~np.isnan(ap)
    kept = int(has.sum())
    return FrameMetrics(
        frame_map=float(ap[has].mean()) if kept else None,
        points=len(scores),
        classes_with_positives=kept,
        chance_frame_map=float(targets[:, has].mean(axis=0).mean()) if kept else None,
    )


@dataclass(frozen=True)
class ActionTruth:
    """A Charades-format dataset read as truth: its ``samples`` by id and its ``class_names``."""

    source: str
    samples: dict[str, Sample]
    class_names: dict[str, str]

    def lookup(self, path: str | os.PathLike[str]) -> Sample | None:
        """The entry of the video at ``path``: the one whose id is the file's stem."""
        return self.samples.get(os.path.splitext(os.path.basename(os.fspath(path)))[0])

    def match(self, found: Iterable[Sample], model_labels: Sequence[str]) -> LabelMatch:
        """The action labels of ``found`` matched to ``model_labels`` by id or through their class
        name (``match_labels``); ``unknown`` lists those the model lacks. ``TimelineError`` when
        there are labels and the model has none of them."""
        wanted = {action.label for sample in found for action in sample.actions}
        try:
            matched = match_labels(wanted, model_labels, ignore_unknown=True, names=self.class_names)
        except DatasetError as exc:
            raise TimelineError(str(exc)) from exc
        if wanted and not matched.mapping:
            shown = ", ".join(sorted(wanted)[:5]) + (f" and {len(wanted) - 5} more" if len(wanted) > 5 else "")
            raise TimelineError(
                f"none of these videos' action classes ({shown}) is among the model's labels, by id or by class name"
            )
        return matched


def _is_charades(path: str) -> bool:
    try:
        return sniff(read_text(path)) == "charades"
    except DatasetError:
        return False


def read_action_truth(path: str | os.PathLike[str], classes: str | os.PathLike[str] | None = None) -> ActionTruth:
    """A Charades CSV, or a folder holding exactly one (among its top-level files), as truth
    (``load_dataset``'s charades layout; its class list found beside the CSV unless ``classes``
    names one). Every listed video counts, whether or not its file is beside the CSV.
    ``DatasetError`` if it cannot be read."""
    name = os.fspath(path)
    if os.path.isdir(name):
        found = [
            os.path.join(name, entry)
            for entry in sorted(os.listdir(name))
            if not entry.startswith(".")
            and entry.lower().endswith(ANNOTATION_SUFFIXES)
            and os.path.isfile(os.path.join(name, entry))
            and _is_charades(os.path.join(name, entry))
        ]
        if not found:
            raise DatasetError(f"{name}: holds no Charades CSV (a CSV with an 'id' and an 'actions' column)")
        if len(found) > 1:
            listed = ", ".join(os.path.basename(f) for f in found)
            raise DatasetError(f"{name} holds several Charades CSVs ({listed}); give the one to use")
        name = found[0]
    dataset = load_dataset(name, layout="charades", classes=classes)
    return ActionTruth(
        source=os.fspath(path),
        samples={sample.key: sample for sample in dataset.listed},
        class_names=dict(dataset.class_names),
    )


__all__ = [
    "POINTS",
    "ActionPoints",
    "ActionTruth",
    "FrameMetrics",
    "action_points",
    "point_times",
    "read_action_truth",
    "score_points",
    "windows_at",
]
