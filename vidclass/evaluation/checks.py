"""What a ``predictions.jsonl`` line must hold to be read: ``check_header`` and ``check_record``.

Each raises ``ValueError`` naming the first field that is missing or of the wrong kind;
``vidclass.evaluation.records`` turns that into a ``PredictionsError`` naming ``file:line``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from vidclass.errors import require
from vidclass.evaluation.metrics import STATUSES


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_header(header: dict[str, Any]) -> None:
    """ValueError unless ``header`` has what reading and merging use: the model's labels (a
    list of strings), the dataset (an object), and a shard and limit of the right kinds."""
    model: Any = header.get("model")
    require(isinstance(model, dict), "model is not an object")
    labels = model.get("labels")
    require(isinstance(labels, list) and bool(labels), "model.labels is not a list of labels")
    require(all(isinstance(label, str) for label in labels), "model.labels holds a label that is not a string")
    dataset: Any = header.get("dataset")
    require(isinstance(dataset, dict), "dataset is not an object")
    require(dataset.get("evaluated") is None or _count(dataset["evaluated"]), "dataset.evaluated is not a count")
    require(header.get("limit") is None or _count(header["limit"]), "limit is not a count")
    shard: Any = header.get("shard")
    require(shard is None or isinstance(shard, dict), "shard is not an object")
    if shard is not None:
        require(_count(shard.get("index")) and _count(shard.get("count")), "shard.index or shard.count is not a count")


def check_record(record: dict[str, Any], labels: Sequence[str], multi_label: bool = False) -> None:
    """ValueError unless ``record`` is one video's record as eval writes it, for a model with
    ``labels``: what merging and ``compute_metrics`` read is there and of the right kind. A
    multi-label run's record (``multi_label``) has ``true_labels`` (a list of the model's
    labels, possibly empty) and, when scored, every class's score under ``scores``."""
    require(isinstance(record.get("id"), str) and bool(record["id"]), "id is not a non-empty string")
    status = record.get("status")
    require(status in STATUSES, f"status is not one of {', '.join(STATUSES)}")
    true = record.get("true_label")
    if multi_label:
        _check_label_set(record, labels, status)
    elif status == "ignored":
        require(true is None or isinstance(true, str), "true_label is not a string")
    else:
        require(isinstance(true, str) and true in labels, "true_label is not one of the model's labels")
    for name in ("path", "dataset_label", "error"):
        require(record.get(name) is None or isinstance(record[name], str), f"{name} is not a string")
    require(record.get("correct") is None or isinstance(record["correct"], bool), "correct is not true or false")
    seconds = record.get("seconds")
    require(seconds is None or (_number(seconds) and seconds >= 0), "seconds is not a number of seconds")
    top = record.get("labels", [])
    require(isinstance(top, list), "labels is not a list")
    require(status != "scored" or bool(top), "a scored record without labels")
    for item in top:
        require(isinstance(item, dict), "labels holds an item that is not an object")
        require(item.get("label") in labels, "labels holds a label that is not one of the model's labels")
        require(_number(item.get("score")), "labels holds a score that is not a finite number")
    scores = record.get("scores")
    if scores is not None and status == "scored":
        require(isinstance(scores, dict), "scores is not an object")
        require(len(scores) == len(labels) and set(scores) == set(labels), "scores does not hold every model label")
        require(all(_number(v) for v in scores.values()), "scores holds a score that is not a finite number")


def _check_label_set(record: dict[str, Any], labels: Sequence[str], status: Any) -> None:
    true: Any = record.get("true_labels")
    require(isinstance(true, list), "true_labels is not a list")
    require(all(label in labels for label in true), "true_labels holds a label that is not one of the model's labels")
    require(len(set(true)) == len(true), "true_labels holds a label twice")
    dataset = record.get("dataset_labels")
    require(
        dataset is None or (isinstance(dataset, list) and all(isinstance(x, str) for x in dataset)),
        "dataset_labels is not a list of labels",
    )
    require(status != "scored" or isinstance(record.get("scores"), dict), "a scored multi-label record without scores")


__all__ = ["check_header", "check_record"]
