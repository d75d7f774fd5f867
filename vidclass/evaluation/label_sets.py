"""The metrics of an evaluation from its records, single-label or multi-label: ``score_records``.

A single-label run (one true label per video) is scored by ``compute_metrics`` (top-1, top-5,
mean class accuracy, confusion). When every scored record also holds every class's score
(``eval --save-scores``), its document gains ``mAP`` over those scores too, each video's one
label as its positive, as some papers score Kinetics.

A multi-label run (the dataset gives label sets, or the model is multi-label; the header says
``multi_label``) is scored by ``compute_label_set_metrics``: mAP (the mean over classes with at
least one positive of each class's exact average precision), per-class AP, micro and macro F1
and example-based precision and recall at the run's threshold (``vidclass.evaluation.multilabel``
defines each). Its ``top1``, ``top5``, ``mean_class_accuracy`` and ``confusion`` are None, and
``per_class`` has one row per class with a positive or a prediction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from vidclass.defaults import DEFAULT_THRESHOLD
from vidclass.evaluation.metrics import STATUSES, compute_metrics, count_fields, record_status
from vidclass.evaluation.multilabel import METRIC_KEYS, multilabel_metrics

# The multi-label fields of a metrics document, taken from ``multilabel_metrics``.
LABEL_SET_FIELDS = tuple(key for key in METRIC_KEYS if key != "per_class")


def score_records(records: Sequence[dict[str, Any]], header: dict[str, Any], expected: int | None) -> dict[str, Any]:
    """The metrics of one record per video of the evaluation whose predictions ``header`` is."""
    labels = header["model"]["labels"]
    threshold = header.get("threshold")
    threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    if header.get("multi_label"):
        return compute_label_set_metrics(records, labels, expected, threshold)
    core = compute_metrics(records, labels, expected=expected)
    scored = [r for r in records if r.get("status") == "scored"]
    if scored and all(isinstance(r.get("scores"), dict) for r in scored):
        index = {label: i for i, label in enumerate(labels)}
        targets = np.zeros((len(scored), len(labels)), dtype=bool)
        for row, record in enumerate(scored):
            targets[row, index[record["true_label"]]] = True
        ranked = multilabel_metrics(_score_matrix(scored, labels), targets, labels, threshold)
        core.update({key: ranked[key] for key in ("mAP", "chance_mAP", "classes_with_positives")})
        ap = {row["label"]: row["ap"] for row in ranked["per_class"]}
        for row in core["per_class"]:
            row["ap"] = ap.get(row["label"])
    return core


def compute_label_set_metrics(
    records: Iterable[dict[str, Any]], labels: Sequence[str], expected: int | None, threshold: float
) -> dict[str, Any]:
    """The metrics of a multi-label run's records (``true_labels``, ``scores``)."""
    labels = list(labels)
    counts = Counter({status: 0 for status in STATUSES})
    failed: list[dict[str, Any]] = []
    missing: list[str] = []
    scored: list[dict[str, Any]] = []
    unknown: Counter[str] = Counter()
    total = 0
    for record in records:
        total += 1
        status = record_status(record)
        counts[status] += 1
        if status == "ignored":
            for label in record.get("dataset_labels") or []:
                unknown[str(label)] += 1
        elif status == "failed":
            failed.append({"path": record.get("path"), "error": record.get("error")})
        elif status == "missing":
            missing.append(str(record.get("path")))
        elif status == "scored":
            scored.append(record)
    index = {label: i for i, label in enumerate(labels)}
    targets = np.zeros((len(scored), len(labels)), dtype=bool)
    for row, record in enumerate(scored):
        for label in record.get("true_labels") or []:
            if label not in index:
                raise ValueError(f"{record.get('id')!r}: label {label!r} is not one of the model's labels")
            targets[row, index[label]] = True
    ranked = multilabel_metrics(_score_matrix(scored, labels), targets, labels, threshold)
    return {
        **count_fields(counts, total, expected),
        "num_classes": len(labels),
        "multi_label": True,
        "top1": None,
        "top5": None,
        "mean_class_accuracy": None,
        **{key: ranked[key] for key in LABEL_SET_FIELDS},
        "per_class": [row for row in ranked["per_class"] if row["positives"] or row["predicted"]],
        "confusion": None,
        "confused_pairs": [],
        "failed": sorted(failed, key=lambda f: str(f["path"])),
        "missing": sorted(missing),
        "unknown_labels": dict(sorted(unknown.items())),
    }


def _score_matrix(scored: Sequence[dict[str, Any]], labels: Sequence[str]) -> np.ndarray:
    """(N, K) float64: each scored record's ``scores`` in the model's label order."""
    matrix = np.zeros((len(scored), len(labels)), dtype=np.float64)
    for row, record in enumerate(scored):
        scores = record["scores"]
        matrix[row] = [float(scores[label]) for label in labels]
    return matrix


def lowest_ap(metrics: dict[str, Any], n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` classes with the lowest AP (more positives first on ties)."""
    rows = [row for row in metrics["per_class"] if row.get("ap") is not None]
    return sorted(rows, key=lambda row: (row["ap"], -row["positives"], row["label"]))[:n]


__all__ = ["LABEL_SET_FIELDS", "compute_label_set_metrics", "lowest_ap", "score_records"]
