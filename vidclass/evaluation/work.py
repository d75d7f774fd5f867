"""What an evaluation runs and writes per video: ``Work`` (one video to run through the model)
and the ``predictions.jsonl`` record made for it (``make_record``), or for a video that is not
run (``instant_record``: a label the model lacks, a missing file).

A single-label run's record has ``true_label`` and ``dataset_label``; a multi-label run's has
``true_labels`` (the model's labels of its set, in the model's order; possibly empty) and
``dataset_labels``, and always every class's score under ``scores``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vidclass.data import Sample
from vidclass.scores import Prediction


@dataclass(frozen=True)
class Work:
    """One video to run through the model."""

    key: str
    path: str  # to open
    shown: str  # as written in records: relative to the dataset root where possible
    dataset_label: str | None
    true_label: str | None
    # A multi-label run: the video's label set as the dataset writes it, and as model labels.
    dataset_labels: tuple[str, ...] | None = None
    true_labels: tuple[str, ...] | None = None


def shown_path(path: str, root: str) -> str:
    """``path`` relative to the dataset ``root`` with / separators, or as it is when outside."""
    try:
        rel = os.path.relpath(path, root)
    except ValueError:  # another drive
        return path
    if rel == ".." or rel.startswith(".." + os.sep):
        return path
    return rel.replace(os.sep, "/")


def _base_record(
    key: str,
    shown: str,
    dataset_label: str | None,
    true_label: str | None,
    dataset_labels: Sequence[str] | None = None,
    true_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": key,
        "path": shown,
        "status": None,
        "true_label": true_label,
        "dataset_label": dataset_label,
        "correct": None,
    }
    if true_labels is not None:  # a multi-label run: the label sets instead
        record.update(true_label=None, dataset_label=None, true_labels=list(true_labels))
        record["dataset_labels"] = list(dataset_labels or ())
    return record


def make_record(work: Work, prediction: Prediction, save_scores: bool = False) -> dict[str, Any]:
    """The predictions.jsonl line for one video that was run. A multi-label run's record
    always holds every class's score (``report`` recomputes mAP from them)."""
    record = _base_record(
        work.key, work.shown, work.dataset_label, work.true_label, work.dataset_labels, work.true_labels
    )
    record["status"] = "scored" if prediction.ok else "failed"
    if work.true_labels is None:
        record["correct"] = (prediction.label == work.true_label) if prediction.ok else None
    body = prediction.to_record(scores=save_scores or work.true_labels is not None)
    body.pop("path")
    record.update(body)
    return record


def instant_record(
    sample: Sample,
    shown: str,
    true_label: str | None,
    status: str,
    error: str,
    labels: Sequence[str],
    true_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    record = _base_record(
        sample.key, shown, sample.label if true_labels is None else None, true_label, sample.label_set, true_labels
    )
    record["status"] = status
    body = Prediction(path=shown, error=error, class_names=tuple(labels)).to_record()
    body.pop("path")
    record.update(body)
    return record


__all__ = ["Work", "instant_record", "make_record", "shown_path"]
