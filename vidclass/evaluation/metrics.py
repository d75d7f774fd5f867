"""Classification metrics from per-video prediction records: a pure function of the records.

A record (one line of ``predictions.jsonl``) has ``status`` ``scored``, ``failed``, ``missing``
or ``ignored``, the ``true_label`` (a model label; None when ignored) and, when scored, the
top-k ``labels`` best first (``[{"label": ..., "score": ...}, ...]``). ``compute_metrics``
turns records into the metrics document that ``vidclass eval`` and ``vidclass report`` print:

- ``top1``: the fraction of scored videos whose first label is the true one; ``top5``: whose
  first five hold it (None when the model has 5 classes or fewer, where it says nothing).
- ``mean_class_accuracy``: the mean of the per-class top-1 accuracies over classes with scored
  videos.
- ``per_class``: for each class that is a true label or a prediction, in model order: support
  (scored videos), correct, accuracy (None without support), top-5 accuracy, how often it was
  predicted, precision (None if never predicted), and the class's failed and missing videos.
- ``confusion``: counts with true classes as rows and predicted (top-1) classes as columns, over
  the same classes as ``per_class``; ``confused_pairs``: the largest off-diagonal cells.

Accuracies are over scored videos; ``counts`` says how many failed, were missing or ignored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

STATUSES = ("scored", "failed", "missing", "ignored")
TOP5_MIN_CLASSES = 6  # top-5 is reported only for models with more than 5 classes
CONFUSED_PAIRS = 20


def top5_applies(num_classes: int) -> bool:
    return num_classes >= TOP5_MIN_CLASSES


def compute_metrics(
    records: Iterable[dict[str, Any]], labels: Sequence[str], expected: int | None = None
) -> dict[str, Any]:
    """The metrics of one record per video over a model with ``labels``.

    ``expected``: how many videos the evaluation covers; those without a record count as
    ``pending``. Raises ValueError for a record that names a label the model does not have.
    """
    labels = list(labels)
    index = {label: i for i, label in enumerate(labels)}
    use_top5 = top5_applies(len(labels))
    counts = Counter({status: 0 for status in STATUSES})
    support: Counter[int] = Counter()
    correct: Counter[int] = Counter()
    correct5: Counter[int] = Counter()
    predicted: Counter[int] = Counter()
    failed_per: Counter[int] = Counter()
    missing_per: Counter[int] = Counter()
    cells: Counter[tuple[int, int]] = Counter()
    failed: list[dict[str, Any]] = []
    missing: list[str] = []
    unknown: Counter[str] = Counter()
    total = 0
    for record in records:
        total += 1
        status = record_status(record)
        counts[status] += 1
        if status == "ignored":
            unknown[str(record.get("dataset_label"))] += 1
            continue
        true = _label_index(index, record.get("true_label"), record)
        if status == "failed":
            failed_per[true] += 1
            failed.append({"path": record.get("path"), "error": record.get("error")})
            continue
        if status == "missing":
            missing_per[true] += 1
            missing.append(str(record.get("path")))
            continue
        top = [_label_index(index, item["label"], record) for item in record.get("labels") or []]
        if not top:
            raise ValueError(f"{record.get('id')!r}: a scored record without labels")
        support[true] += 1
        predicted[top[0]] += 1
        cells[(true, top[0])] += 1
        if top[0] == true:
            correct[true] += 1
        if true in top[:5]:
            correct5[true] += 1
    scored = counts["scored"]
    involved = sorted(set(support) | set(predicted) | set(failed_per) | set(missing_per))
    per_class: list[dict[str, Any]] = []
    for i in involved:
        n = support[i]
        per_class.append(
            {
                "label": labels[i],
                "support": n,
                "correct": correct[i],
                "accuracy": correct[i] / n if n else None,
                "top5_accuracy": (correct5[i] / n if n else None) if use_top5 else None,
                "predicted": predicted[i],
                "precision": cells[(i, i)] / predicted[i] if predicted[i] else None,
                "failed": failed_per[i],
                "missing": missing_per[i],
            }
        )
    accuracies = [row["accuracy"] for row in per_class if row["accuracy"] is not None]
    position = {i: k for k, i in enumerate(involved)}
    matrix = [[0] * len(involved) for _ in involved]
    for (t, p), n in cells.items():
        matrix[position[t]][position[p]] = n
    pairs = sorted(((n, t, p) for (t, p), n in cells.items() if t != p), key=lambda x: (-x[0], x[1], x[2]))
    return {
        **count_fields(counts, total, expected),
        "num_classes": len(labels),
        "top1": sum(correct.values()) / scored if scored else None,
        "top5": (sum(correct5.values()) / scored if scored else None) if use_top5 else None,
        "mean_class_accuracy": sum(accuracies) / len(accuracies) if accuracies else None,
        "per_class": per_class,
        "confusion": {"labels": [labels[i] for i in involved], "matrix": matrix},
        "confused_pairs": [
            {"true": labels[t], "predicted": labels[p], "count": n, "fraction": n / support[t]}
            for n, t, p in pairs[:CONFUSED_PAIRS]
        ],
        "failed": sorted(failed, key=lambda f: str(f["path"])),
        "missing": sorted(missing),
        "unknown_labels": dict(sorted(unknown.items())),
    }


def record_status(record: dict[str, Any]) -> str:
    """``record``'s status, one of ``STATUSES``; ValueError for anything else."""
    status = record.get("status")
    if status not in STATUSES:
        raise ValueError(f"{record.get('id')!r}: unknown status {status!r}")
    return str(status)


def count_fields(counts: Counter[str], total: int, expected: int | None) -> dict[str, Any]:
    """A metrics document's ``counts`` (per status, and ``pending``: videos of the ``expected``
    with no record among the ``total``) and ``complete``."""
    pending = max(0, expected - total) if expected is not None else 0
    return {
        "counts": {
            "samples": expected if expected is not None else total,
            **{status: counts[status] for status in STATUSES},
            "pending": pending,
        },
        "complete": pending == 0,
    }


def worst_classes(metrics: dict[str, Any], n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` classes with the lowest accuracy (more support first on ties)."""
    rows = [row for row in metrics["per_class"] if row["accuracy"] is not None]
    return sorted(rows, key=lambda row: (row["accuracy"], -row["support"], row["label"]))[:n]


def _label_index(index: dict[str, int], label: Any, record: dict[str, Any]) -> int:
    try:
        return index[label]
    except (KeyError, TypeError):
        raise ValueError(f"{record.get('id')!r}: label {label!r} is not one of the model's labels") from None


__all__ = ["STATUSES", "compute_metrics", "count_fields", "record_status", "top5_applies", "worst_classes"]
