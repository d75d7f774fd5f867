"""Planning an evaluation: which videos to run, and which records are already known.

``make_plan`` reads the dataset, matches its labels to the model's, picks the videos (a
stratified ``limit``, then every N-th for a ``shard``), writes (or checks, on ``--resume``)
the predictions header, and sorts every chosen video into one of three piles:

- ``results``: already recorded by the run being resumed (scored, or a still-missing file);
- ``instant``: records to write without the model (a label the model lacks, a missing file);
- ``work``: videos to run through the model.

Only rank 0 plans; the other torchrun processes receive ``work``.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from vidclass.checkpoints import VideoClassifier
from vidclass.data import Dataset, DatasetError, Sample, load_dataset, match_labels, stratified_sample
from vidclass.evaluation.documents import version
from vidclass.evaluation.records import (
    COMPATIBLE_FIELDS,
    FORMAT,
    VERSION,
    PredictionsWriter,
    check_compatible,
    conflict_error,
    merge_records,
    read_predictions,
)
from vidclass.evaluation.reports import LABEL_SET_REPORT_FILES, REPORT_FILES
from vidclass.evaluation.request import PREDICTIONS, EvalError, Listener, Request
from vidclass.evaluation.work import Work, instant_record, make_record, shown_path
from vidclass.inference import Predictor

MISSING_ERROR = "file not found"
RESUME_FIELDS = (*COMPATIBLE_FIELDS, "limit", "shard.index", "shard.count")


@dataclass
class Plan:
    """Rank 0's evaluation: its header, its videos in order, and the three piles (see above).

    A plan holds the predictions file open (and locked) while it lives: ``close`` it."""

    header: dict[str, Any]
    keys: list[str]
    work: list[Work] = field(default_factory=list)
    instant: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    writer: PredictionsWriter | None = None
    output: str | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def model_fingerprint(classifier: VideoClassifier) -> str:
    """A SHA-256 of the model's weights (names, dtypes, shapes and bytes), 16 hex digits."""
    digest = hashlib.sha256()
    for name, tensor in sorted(classifier.model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def make_plan(predictor: Predictor, classifier: VideoClassifier, request: Request, listener: Listener) -> Plan:
    """Read the dataset, choose the videos, open the predictions file and sort the videos."""
    ds = load_dataset(
        request.dataset,
        annotations=request.annotations,
        layout=request.layout,
        classes=request.classes,
        allow_outside_root=request.allow_outside_root,
    )
    labels = list(predictor.labels)
    if ds.unlabelled:
        listener.warning(
            f"{len(ds.unlabelled)} video(s) directly in {ds.root} have no class folder and are not evaluated"
            f" (e.g. {ds.unlabelled[0]})"
        )
    if ds.duplicates:
        listener.note(f"{ds.duplicates} repeated line(s) in {ds.annotations} list a video already listed; read once")
    multi_label = ds.multi_label or classifier.multi_label
    match = match_labels(
        ds.classes, labels, ignore_unknown=request.ignore_unknown or ds.multi_label, names=ds.class_names or None
    )
    if match.named:
        example = match.named[0]
        listener.note(
            f"{len(match.named)} dataset label(s) matched the model's through the class list"
            f" (e.g. {example!r} -> {match.mapping[example]!r})"
        )
    if ds.multi_label:
        _unknown_in_label_sets(ds, match.unknown, request.ignore_unknown, listener)
    if multi_label and not classifier.multi_label:
        listener.note(
            "a single-label (softmax) model on a multi-label dataset: its mAP, F1, precision and recall come"
            " from its softmax scores, which share one unit of probability between the classes"
        )
    if match.inexact:
        example = match.inexact[0]
        listener.note(
            f"{len(match.inexact)} dataset label(s) matched the model's after ignoring case, underscores or quotes"
            f" (e.g. {example!r} -> {match.mapping[example]!r})"
        )
    listed = ds.listed
    known = [s for s in listed if ds.multi_label or s.label in match.mapping]
    if match.unknown and not ds.multi_label:
        skipped = len(listed) - len(known)
        listener.warning(
            f"{skipped} video(s) with {len(match.unknown)} label(s) the model lacks are skipped: "
            + ", ".join(repr(label) for label in match.unknown[:5])
            + (" ..." if len(match.unknown) > 5 else "")
        )
    selected = listed
    if request.limit is not None:
        selected = stratified_sample(known, request.limit)
        if len(selected) < len(known):
            listener.note(f"--limit {request.limit}: a stratified sample of {len(selected)} of {len(known)} videos")
    evaluated = len(selected)
    if request.shard is not None:
        selected = selected[request.shard[0] :: request.shard[1]]
    missing_keys = {s.key for s in ds.missing}
    chosen_missing = [s for s in selected if s.key in missing_keys]
    if chosen_missing:
        examples = ", ".join(shown_path(s.path, ds.root) for s in chosen_missing[:3])
        listener.warning(
            f"{len(chosen_missing)} listed video(s) are not on disk (e.g. {examples}); they are counted as missing"
        )
    if request.output is not None:
        refuse_overwriting_inputs(request.output, ds)
    header = _header(predictor, classifier, request, ds, labels, evaluated, len(selected))
    header["multi_label"] = multi_label
    plan = Plan(header=header, keys=[s.key for s in selected], output=request.output)
    try:
        existing = _open_predictions(plan, request, listener)
        _sort(plan, ds, selected, match.mapping, labels, existing, multi_label)
    except BaseException:
        plan.close()  # and its lock
        raise
    if request.resume and existing:
        done = len(plan.results)
        listener.note(f"resuming: {done} of {len(plan.keys)} videos already done, {len(plan.work)} to run")
    return plan


def _unknown_in_label_sets(ds: Dataset, unknown: Sequence[str], ignore: bool, listener: Listener) -> None:
    """Labels of a multi-label dataset that the model lacks: an error naming them, or, with
    ``--ignore-unknown``, left out of every video's label set (the videos stay)."""
    if not unknown:
        return
    shown = ", ".join(repr(label) for label in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
    if not ignore:
        raise DatasetError(
            f"{len(unknown)} dataset label(s) not among the model's labels: {shown}"
            " (--ignore-unknown leaves them out of the videos' label sets)"
        )
    lacking = set(unknown)
    touched = sum(any(label in lacking for label in s.label_set) for s in ds.listed)
    listener.warning(f"{len(unknown)} label(s) the model lacks are left out of {touched} video(s)' label sets: {shown}")


def refuse_overwriting_inputs(output: str, ds: Dataset) -> None:
    """``EvalError`` when a file eval writes in ``output`` (predictions.jsonl or a report) is one
    of the dataset's files, its annotation file or a video, by name, symbolic link or hard link
    (the same inode): ``--overwrite`` would truncate it and ``--resume`` append to it. Checked
    before the folder is created or anything is written."""
    written: dict[tuple[int, int], str] = {}
    for name in dict.fromkeys((PREDICTIONS, *REPORT_FILES, *LABEL_SET_REPORT_FILES)):
        try:
            st = os.stat(os.path.join(output, name))
        except OSError:  # not there (or not reachable): writing it creates a new file
            continue
        written[(st.st_dev, st.st_ino)] = name
    if not written:
        return
    inputs = [s.path for s in ds.samples]
    if ds.annotations:
        inputs.insert(0, ds.annotations)
    for path in inputs:
        try:
            st = os.stat(path)
        except OSError:
            continue
        hit = written.get((st.st_dev, st.st_ino))
        if hit is not None:
            raise EvalError(
                f"--output {output}: {hit} there is the dataset's file {path}; writing it would destroy"
                " the dataset: choose another --output folder"
            )


def _header(
    predictor: Predictor,
    classifier: VideoClassifier,
    request: Request,
    ds: Dataset,
    labels: list[str],
    evaluated: int,
    samples: int,
) -> dict[str, Any]:
    shard = request.shard
    return {
        "type": "header",
        "format": FORMAT,
        "version": VERSION,
        "vidclass": version(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "name": classifier.name,
            "source": str(classifier.source),
            "labels": labels,
            "fingerprint": model_fingerprint(classifier),
            "multi_label": classifier.multi_label,
        },
        "threshold": predictor.threshold,
        "protocol": predictor.protocol.to_dict(),
        "preprocessing": predictor.preprocessing.to_dict(),
        "top_k": predictor.top_k,
        "precision": predictor.precision,
        "dataset": {
            "root": os.path.abspath(ds.root),
            "layout": ds.layout,
            "annotations": os.path.abspath(ds.annotations) if ds.annotations else None,
            "listed": len(ds),
            "missing_on_disk": len(ds.missing),
            "classes": len(ds.classes),
            "multi_label": ds.multi_label,
            "evaluated": evaluated,
        },
        "limit": request.limit,
        "shard": {"index": shard[0], "count": shard[1], "samples": samples} if shard else None,
    }


def _open_predictions(plan: Plan, request: Request, listener: Listener) -> dict[str, dict[str, Any]]:
    """Open ``output/predictions.jsonl`` (when there is an output) and return the records of the
    run being resumed, one per video; a new or restarted file gets the plan's header."""
    if request.output is None:
        return {}
    existing: dict[str, dict[str, Any]] = {}
    try:
        os.makedirs(request.output, exist_ok=True)
        path = os.path.join(request.output, PREDICTIONS)
        writer = plan.writer = PredictionsWriter(path)
    except OSError as exc:
        raise EvalError(f"--output {request.output}: {exc.strerror or exc}") from exc
    if writer.size > 0:
        if request.overwrite:
            writer.truncate()
        elif not request.resume:
            raise EvalError(f"{path} already holds results; add --resume to continue it, or --overwrite to start again")
        else:
            previous = read_predictions(path, repair=True)
            if previous.torn:
                listener.warning(f"{path}: dropped a torn last line (a run was killed while writing it)")
            if previous.header is None:  # only a torn header was there
                writer.truncate()
            else:
                check_compatible(  # the file (its values shown first) against this run
                    plan.header,
                    previous.header,
                    f"--resume {path}",
                    RESUME_FIELDS,
                    than="this run",
                    remedy="resume with the same model and options, or start again with --overwrite or another --output",
                )
                merged = merge_records(previous.records)
                if merged.conflicts:
                    raise conflict_error(merged.conflicts, merged.records)
                existing = merged.records
    if writer.size == 0:
        writer.append(plan.header)
    keyset = set(plan.keys)
    stale = [key for key in existing if key not in keyset]
    if stale:
        listener.warning(f"{len(stale)} record(s) in {PREDICTIONS} are not part of this evaluation and are left out")
    return existing


def _sort(
    plan: Plan,
    ds: Dataset,
    selected: Sequence[Sample],
    mapping: dict[str, str],
    labels: Sequence[str],
    existing: dict[str, dict[str, Any]],
    multi_label: bool = False,
) -> None:
    """Put each selected video in ``results``, ``instant`` or ``work``."""
    if multi_label:
        _sort_label_sets(plan, ds, selected, mapping, labels, existing)
        return
    missing_keys = {s.key for s in ds.missing}
    for sample in selected:
        held = existing.get(sample.key)
        shown = shown_path(sample.path, ds.root)
        true = mapping.get(sample.label)
        if held is not None and held.get("status") == "scored":
            if held.get("true_label") != true:
                raise EvalError(
                    f"{sample.key}: the dataset labels it {sample.label!r} but the run being resumed had"
                    f" {held.get('dataset_label')!r}; start again with --overwrite"
                )
            plan.results[sample.key] = held
        elif true is None:
            if held is not None and held.get("status") == "ignored":
                plan.results[sample.key] = held
            else:
                reason = "label not among the model's labels"
                plan.instant.append(instant_record(sample, shown, None, "ignored", reason, labels))
        elif sample.key in missing_keys:
            if held is not None and held.get("status") == "missing" and held.get("true_label") == true:
                plan.results[sample.key] = held
            else:
                plan.instant.append(instant_record(sample, shown, true, "missing", MISSING_ERROR, labels))
        else:
            plan.work.append(Work(sample.key, sample.path, shown, sample.label, true))


def _sort_label_sets(
    plan: Plan,
    ds: Dataset,
    selected: Sequence[Sample],
    mapping: dict[str, str],
    labels: Sequence[str],
    existing: dict[str, dict[str, Any]],
) -> None:
    """``_sort`` for a multi-label run: every video of a multi-label dataset has a label set
    (its labels the model has, in the model's order; possibly empty), so none is ignored; a
    single-label dataset's video (a multi-label model's run) is a set of one, or ignored when
    the model lacks its label (``--ignore-unknown``)."""
    order = {label: i for i, label in enumerate(labels)}
    missing_keys = {s.key for s in ds.missing}
    for sample in selected:
        held = existing.get(sample.key)
        shown = shown_path(sample.path, ds.root)
        if not ds.multi_label and sample.label not in mapping:
            if held is None or held.get("status") != "ignored":
                reason = "label not among the model's labels"
                held = instant_record(sample, shown, None, "ignored", reason, labels, true_labels=[])
                plan.instant.append(held)
            else:
                plan.results[sample.key] = held
            continue
        true = sorted({mapping[label] for label in sample.label_set if label in mapping}, key=order.__getitem__)
        if held is not None and held.get("status") in ("scored", "missing"):
            if held.get("true_labels") != true:
                raise EvalError(
                    f"{sample.key}: the dataset labels it {list(sample.label_set)!r} but the run being resumed had"
                    f" {held.get('dataset_labels')!r}; start again with --overwrite"
                )
            if held["status"] == "scored" or sample.key in missing_keys:
                plan.results[sample.key] = held
                continue
        if sample.key in missing_keys:
            plan.instant.append(instant_record(sample, shown, None, "missing", MISSING_ERROR, labels, true_labels=true))
        else:
            dataset_labels = tuple(sample.label_set)
            plan.work.append(Work(sample.key, sample.path, shown, None, None, dataset_labels, tuple(true)))


__all__ = [
    "MISSING_ERROR",
    "Plan",
    "Work",
    "make_plan",
    "make_record",
    "model_fingerprint",
    "refuse_overwriting_inputs",
    "shown_path",
]
