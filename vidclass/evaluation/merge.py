"""``report``: prediction files in, the metrics document out (what ``vidclass report`` runs).

Shards, resumed runs and concatenations merge: each video counts once, a scored record beats
a failed one, and scored records that disagree are refused (``records.merge_records``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from vidclass.evaluation.documents import document, throughput
from vidclass.evaluation.label_sets import score_records
from vidclass.evaluation.records import (
    PredictionsError,
    PredictionsFile,
    check_compatible,
    conflict_error,
    merge_records,
    read_predictions,
)
from vidclass.evaluation.reports import write_reports
from vidclass.evaluation.request import PREDICTIONS, EvalError, Listener


def report(
    paths: Iterable[str | os.PathLike[str]],
    output: str | os.PathLike[str] | None = None,
    listener: Listener | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """The library mirror of ``vidclass report``: merge prediction files, return the metrics.

    ``paths``: predictions.jsonl files, or the ``--output`` folders holding them.
    Files must come from one model, protocol and preprocessing (``PredictionsError``
    otherwise). A video recorded more than once counts once: a scored record beats a failed
    one; scored records that disagree are refused. A torn last line is dropped (the file is
    left as it is). With ``output``, the report files are written there. ``threshold``: score
    a multi-label run's F1, precision and recall at it instead of the run's own (its mAP is
    computed again from every video's scores either way).
    """
    listener = listener or Listener()
    names = [os.fspath(p) for p in paths]
    files = [read_predictions(os.path.join(p, PREDICTIONS) if os.path.isdir(p) else p) for p in names]
    if not files:
        raise EvalError("no prediction files given")
    headers: list[dict[str, Any]] = []
    for pf in files:
        headers.append(_checked_header(pf, listener))
        if len(headers) > 1:
            check_compatible(
                headers[0],
                headers[-1],
                pf.path,
                than=files[0].path,
                remedy="report merges the files of one evaluation: report each evaluation's files on their own",
            )
    header = headers[0]
    merged = merge_records(record for pf in files for record in pf.records)
    if merged.conflicts:
        raise conflict_error(merged.conflicts, merged.records)
    if merged.duplicates:
        listener.note(f"{merged.duplicates} duplicate record(s) merged (retries, or the same results given twice)")
    evaluated = {h["dataset"].get("evaluated") for h in headers}
    limits = {h.get("limit") for h in headers}
    expected: int | None = None
    if len(evaluated) == 1 and len(limits) == 1:
        expected = evaluated.pop()
    else:
        listener.warning("the files cover different datasets or limits; completeness is not checked")
    shards = sorted({(h["shard"]["index"], h["shard"]["count"]) for h in headers if h.get("shard")})
    records = sorted(merged.records.values(), key=lambda r: str(r["id"]))
    if expected is not None and len(records) > expected:
        listener.warning(
            f"{len(records)} videos recorded but the evaluation had {expected}; completeness is not checked"
        )
        expected = None
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0:
            raise EvalError(f"threshold must be a probability from 0 to 1, got {threshold!r}")
        header = {**header, "threshold": float(threshold)}
    core = score_records(records, header, expected=expected)
    if core["counts"]["pending"]:
        listener.warning(
            f"{core['counts']['pending']} of {expected} videos have no result yet (a shard or run is missing)"
        )
    dataset = dict(header["dataset"])
    dataset.update({"limit": header.get("limit"), "shard": None, "shards": [f"{i}/{n}" for i, n in shards]})
    result = document(
        "report",
        header,
        core,
        dataset=dataset,
        inputs=[os.path.abspath(pf.path) for pf in files],
        throughput=throughput([r for r in records if r["status"] in ("scored", "failed")], None, None, "per_video"),
    )
    if output is not None:
        write_reports(result, os.fspath(output))
    return result


def _checked_header(pf: PredictionsFile, listener: Listener) -> dict[str, Any]:
    if pf.header is None:
        raise PredictionsError(f"{pf.path}: empty")
    if pf.torn:
        listener.warning(f"{pf.path}: dropped a torn last line (its run was killed while writing it)")
    return pf.header


__all__ = ["report"]
