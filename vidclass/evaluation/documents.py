"""The metrics document that ``evaluate`` and ``report`` return, and what is read from it.

Both commands wrap ``compute_metrics``'s result the same way: the model, protocol and
preprocessing from the predictions header, the dataset, the throughput. ``result_fields``
picks the part that is the evaluation's result, equal for resumed, sharded and merged runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vidclass.evaluation.label_sets import LABEL_SET_FIELDS

# The fields that are the evaluation's result: equal for resumed, sharded and merged runs.
RESULT_FIELDS = (
    "counts",
    "complete",
    "num_classes",
    "top1",
    "top5",
    "mean_class_accuracy",
    "per_class",
    "confusion",
    "confused_pairs",
    "failed",
    "missing",
    "unknown_labels",
    # multi-label runs (and single-label runs that saved every score: mAP)
    "multi_label",
    *LABEL_SET_FIELDS,
)


def version() -> str:
    from vidclass import __version__

    return str(__version__)


def throughput(
    new: Sequence[dict[str, Any]], seconds: float | None, processes: int | None, clock: str
) -> dict[str, Any]:
    """Videos per second over ``new`` records: by the wall clock (``seconds``), or, when that
    is None, by the sum of the records' own seconds (``clock="per_video"``)."""
    per_video = [float(r["seconds"]) for r in new if r.get("seconds") is not None]
    if seconds is None:
        seconds = sum(per_video)
    videos = len(new)
    return {
        "videos": videos,
        "seconds": round(seconds, 3),
        "videos_per_second": videos / seconds if seconds > 0 else None,
        "seconds_per_video": sum(per_video) / len(per_video) if per_video else None,
        "processes": processes,
        "clock": clock,
    }


def document(command: str, header: dict[str, Any], core: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``core`` (from ``compute_metrics``) with the provenance a predictions ``header`` holds."""
    model = header["model"]
    return {
        "vidclass": version(),
        "command": command,
        "model": {
            "name": model.get("name"),
            "source": model.get("source"),
            "num_labels": len(model.get("labels") or []),
            "fingerprint": model.get("fingerprint"),
        },
        "protocol": header.get("protocol"),
        "preprocessing": header.get("preprocessing"),
        **extra,
        **core,
    }


def exit_status(metrics: dict[str, Any]) -> int:
    """0 when every video was scored (ignored ones aside) and at least one was, else 1: an
    evaluation that scored nothing (every video ignored) has no result."""
    counts = metrics["counts"]
    return 1 if counts["failed"] or counts["missing"] or counts["pending"] or not counts["scored"] else 0


def nothing_scored(metrics: dict[str, Any]) -> str | None:
    """Why an evaluation with no failed, missing or pending video still failed (it scored
    none), on one line; None when it scored some, or when those other counts say why."""
    counts = metrics["counts"]
    if counts["scored"] or counts["failed"] or counts["missing"] or counts["pending"]:
        return None
    if not counts["ignored"]:
        shard = (metrics.get("dataset") or {}).get("shard")
        where = f"shard {shard['index']}/{shard['count']}" if shard else "the evaluation"
        return f"no video was scored: {where} holds no videos"
    return f"no video was scored: all {counts['ignored']} were ignored (their labels are not the model's), so there is no top-1"


def result_fields(metrics: dict[str, Any]) -> dict[str, Any]:
    """The part of a metrics document that is the result (no timings, paths or provenance)."""
    return {key: metrics[key] for key in RESULT_FIELDS if key in metrics}


__all__ = ["RESULT_FIELDS", "document", "exit_status", "nothing_scored", "result_fields", "throughput", "version"]
