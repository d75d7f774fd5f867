"""Evaluate a classifier on a labelled dataset: what ``vidclass eval`` and ``vidclass report`` run.

``evaluate(dataset, model, ...)`` reads the dataset (``vidclass.data``), matches its labels to
the model's, picks the videos (``limit``: a stratified sample; ``shard``: every N-th), runs
each through ``Predictor`` and returns the metrics document (``vidclass.engine.metrics``).
With ``output``, every video's record is appended to ``output/predictions.jsonl`` the moment
it is done (``vidclass.engine.records``), and the reports are written at the end
(``vidclass.engine.reports``). ``resume=True`` continues such a file: videos already scored
are skipped, failed ones are tried again, and the metrics come out the same as those of one
uninterrupted run. Under ``torchrun`` the videos are split across the processes and rank 0
writes everything (``vidclass.distributed``).

``report(paths)`` is the pure counterpart: prediction files in, the same metrics document
out. Shards, resumed runs and concatenations merge; results that disagree are refused.
"""

from __future__ import annotations

import collections
import datetime
import hashlib
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

from vidclass.checkpoints import load_classifier
from vidclass.data import (
    DatasetError,
    load_dataset,
    match_labels,
    parse_shard,
    stratified_sample,
)
from vidclass.distributed import Group, launched
from vidclass.engine.metrics import compute_metrics
from vidclass.engine.records import (
    COMPATIBLE_FIELDS,
    FORMAT,
    VERSION,
    PredictionsError,
    PredictionsWriter,
    check_compatible,
    conflict_error,
    merge_records,
    read_predictions,
)
from vidclass.engine.reports import write_reports
from vidclass.inference import CompileError, Predictor, RunOptions
from vidclass.inference.workers import wait_result
from vidclass.scores import Prediction

PREDICTIONS = "predictions.jsonl"
MISSING_ERROR = "file not found"
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
)
RESUME_FIELDS = (*COMPATIBLE_FIELDS, "limit", "shard.index", "shard.count")


class EvalError(ValueError):
    """An evaluation that cannot run as asked; the message is one line."""


class Listener:
    """What an evaluation tells its caller as it goes; the command line shows it on stderr."""

    def start(self, total: int, done: int, description: str) -> None:
        """``total`` videos in this evaluation, ``done`` of them already recorded."""

    def record(self, record: dict[str, Any]) -> None:
        """A record was just written (called on rank 0 only, one at a time)."""

    def note(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Work:
    """One video to run through the model."""

    key: str
    path: str  # to open
    shown: str  # as written in records: relative to the dataset root where possible
    dataset_label: str
    true_label: str


@dataclass
class _State:
    header: dict[str, Any]
    keys: list[str]
    work: list[Work]
    instant: list[dict[str, Any]]  # missing / ignored records to write without the model
    results: dict[str, dict[str, Any]]
    writer: PredictionsWriter | None = None
    output: str | None = None
    pending_before: int = 0
    notes: list[str] = field(default_factory=list)


def model_fingerprint(classifier: Any) -> str:
    """A SHA-256 of the model's weights (names, dtypes, shapes and bytes), 16 hex digits."""
    digest = hashlib.sha256()
    for name, tensor in sorted(classifier.model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def _shown(path: str, root: str) -> str:
    try:
        rel = os.path.relpath(path, root)
    except ValueError:  # another drive
        return path
    if rel == ".." or rel.startswith(".." + os.sep):
        return path
    return rel.replace(os.sep, "/")


def _base_record(key: str, shown: str, dataset_label: str, true_label: str | None) -> dict[str, Any]:
    return {
        "id": key,
        "path": shown,
        "status": None,
        "true_label": true_label,
        "dataset_label": dataset_label,
        "correct": None,
    }


def make_record(work: Work, prediction: Prediction, save_scores: bool = False) -> dict[str, Any]:
    """The predictions.jsonl line for one video that was run."""
    record = _base_record(work.key, work.shown, work.dataset_label, work.true_label)
    record["status"] = "scored" if prediction.ok else "failed"
    record["correct"] = (prediction.label == work.true_label) if prediction.ok else None
    body = prediction.to_record(scores=save_scores)
    body.pop("path")
    record.update(body)
    return record


def _instant_record(
    key: str, shown: str, dataset_label: str, true_label: str | None, status: str, error: str, labels: Sequence[str]
) -> dict[str, Any]:
    record = _base_record(key, shown, dataset_label, true_label)
    record["status"] = status
    body = Prediction(path=shown, error=error, class_names=tuple(labels)).to_record()
    body.pop("path")
    record.update(body)
    return record


def _shard_arg(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    if shard is None:
        return None
    if isinstance(shard, str):
        try:
            return parse_shard(shard)
        except ValueError as exc:
            raise EvalError(str(exc)) from exc
    index, count = int(shard[0]), int(shard[1])
    if not 0 <= index < count:
        raise EvalError(f"shard index counts from 0: I must be below N={count}, got {index}")
    return index, count


def _prepare(
    predictor: Predictor,
    classifier: Any,
    dataset: str | os.PathLike[str],
    *,
    annotations: str | os.PathLike[str] | None,
    layout: str,
    ignore_unknown: bool,
    limit: int | None,
    shard: tuple[int, int] | None,
    output: str | None,
    resume: bool,
    overwrite: bool,
    listener: Listener,
) -> _State:
    ds = load_dataset(dataset, annotations=annotations, layout=layout)
    labels = list(predictor.labels)
    if ds.unlabelled:
        listener.warning(
            f"{len(ds.unlabelled)} video(s) directly in {ds.root} have no class folder and are not evaluated"
            f" (e.g. {ds.unlabelled[0]})"
        )
    if ds.duplicates:
        listener.note(f"{ds.duplicates} repeated line(s) in {ds.annotations} list a video already listed; read once")
    match = match_labels(ds.classes, labels, ignore_unknown=ignore_unknown)
    if match.inexact:
        example = match.inexact[0]
        listener.note(
            f"{len(match.inexact)} dataset label(s) matched the model's after ignoring case, underscores or quotes"
            f" (e.g. {example!r} -> {match.mapping[example]!r})"
        )
    listed = ds.listed
    known = [s for s in listed if s.label in match.mapping]
    if match.unknown:
        skipped = len(listed) - len(known)
        listener.warning(
            f"{skipped} video(s) with {len(match.unknown)} label(s) the model lacks are skipped: "
            + ", ".join(repr(label) for label in match.unknown[:5])
            + (" ..." if len(match.unknown) > 5 else "")
        )
    if limit is not None:
        if limit < 1:
            raise EvalError("--limit must be at least 1")
        selected = stratified_sample(known, limit)
        if len(selected) < len(known):
            listener.note(f"--limit {limit}: a stratified sample of {len(selected)} of {len(known)} videos")
    else:
        selected = listed
    evaluated = len(selected)
    if shard is not None:
        selected = selected[shard[0] :: shard[1]]
    missing_keys = {s.key for s in ds.missing}
    chosen_missing = [s for s in selected if s.key in missing_keys]
    if chosen_missing:
        examples = ", ".join(_shown(s.path, ds.root) for s in chosen_missing[:3])
        listener.warning(
            f"{len(chosen_missing)} listed video(s) are not on disk (e.g. {examples}); they are counted as missing"
        )
    header = {
        "type": "header",
        "format": FORMAT,
        "version": VERSION,
        "vidclass": _version(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "name": classifier.name,
            "source": str(getattr(classifier, "source", "")),
            "labels": labels,
            "fingerprint": model_fingerprint(classifier),
        },
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
            "evaluated": evaluated,
        },
        "limit": limit,
        "shard": {"index": shard[0], "count": shard[1], "samples": len(selected)} if shard else None,
    }
    state = _State(header=header, keys=[s.key for s in selected], work=[], instant=[], results={}, output=output)
    try:
        _plan_work(state, ds, selected, match.mapping, labels, output, resume, overwrite, listener)
    except BaseException:
        if state.writer is not None:
            state.writer.close()  # and its lock
        raise
    return state


def _plan_work(
    state: _State,
    ds: Any,
    selected: Sequence[Any],
    mapping: dict[str, str],
    labels: Sequence[str],
    output: str | None,
    resume: bool,
    overwrite: bool,
    listener: Listener,
) -> None:
    """Open (or continue) the predictions file and decide what is left to run."""
    header = state.header
    missing_keys = {s.key for s in ds.missing}
    existing: dict[str, dict[str, Any]] = {}
    if output is not None:
        try:
            os.makedirs(output, exist_ok=True)
            path = os.path.join(output, PREDICTIONS)
            state.writer = PredictionsWriter(path)
        except OSError as exc:
            raise EvalError(f"--output {output}: {exc.strerror or exc}") from exc
        if state.writer.size > 0:
            if overwrite:
                state.writer.truncate()
            elif not resume:
                raise EvalError(
                    f"{path} already holds results; add --resume to continue it, or --overwrite to start again"
                )
            else:
                previous = read_predictions(path, repair=True)
                if previous.torn:
                    listener.warning(f"{path}: dropped a torn last line (a run was killed while writing it)")
                if previous.header is None:  # only a torn header was there
                    state.writer.truncate()
                else:
                    check_compatible(previous.header, header, f"--resume {path}", RESUME_FIELDS)
                    merged = merge_records(previous.records)
                    if merged.conflicts:
                        raise conflict_error(merged.conflicts, merged.records)
                    existing = merged.records
        if state.writer.size == 0:
            state.writer.append(header)
    keyset = set(state.keys)
    stale = [key for key in existing if key not in keyset]
    if stale:
        listener.warning(f"{len(stale)} record(s) in {PREDICTIONS} are not part of this evaluation and are left out")
    for sample in selected:
        held = existing.get(sample.key)
        shown = _shown(sample.path, ds.root)
        true = mapping.get(sample.label)
        if held is not None and held.get("status") == "scored":
            if held.get("true_label") != true:
                raise EvalError(
                    f"{sample.key}: the dataset labels it {sample.label!r} but the run being resumed had"
                    f" {held.get('dataset_label')!r}; start again with --overwrite"
                )
            state.results[sample.key] = held
            continue
        if true is None:
            if held is not None and held.get("status") == "ignored":
                state.results[sample.key] = held
                continue
            state.instant.append(
                _instant_record(
                    sample.key, shown, sample.label, None, "ignored", "label not among the model's labels", labels
                )
            )
        elif sample.key in missing_keys:
            if held is not None and held.get("status") == "missing" and held.get("true_label") == true:
                state.results[sample.key] = held
                continue
            state.instant.append(
                _instant_record(sample.key, shown, sample.label, true, "missing", MISSING_ERROR, labels)
            )
        else:
            state.work.append(Work(sample.key, sample.path, shown, sample.label, true))
    if resume and existing:
        done = len(state.results)
        listener.note(f"resuming: {done} of {len(state.keys)} videos already done, {len(state.work)} to run")


def _version() -> str:
    from vidclass import __version__

    return __version__


# --------------------------------------------------------------------------- running


def run_videos(predictor: Predictor, items: Sequence[Work], workers: int = 1) -> Iterator[tuple[Work, Prediction]]:
    """``predictor.predict`` each item, in order; ``workers`` > 1 runs that many at once.

    Each video runs in batches of its own views, not shared with other videos as ``predict``
    shares them: a video's scores then do not depend on which videos ran beside it, so
    shards, resumed runs and torchrun processes score each video the same way.
    """
    if workers <= 1:
        for item in items:
            yield item, predictor.predict(item.path)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vidclass-eval")
    pending: collections.deque[tuple[Work, Future[Prediction]]] = collections.deque()
    source = iter(items)
    try:
        for item in source:
            pending.append((item, pool.submit(predictor.predict, item.path)))
            if len(pending) >= workers:
                break
        while pending:
            item, future = pending.popleft()
            prediction = wait_result(future)  # Ctrl-C is seen whichever thread takes it
            following = next(source, None)
            if following is not None:
                pending.append((following, pool.submit(predictor.predict, following.path)))
            yield item, prediction
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Sink:
    """Rank 0's one place where records land: the file, the results, the listener."""

    def __init__(self, state: _State, listener: Listener) -> None:
        self.state = state
        self.listener = listener
        self.lock = threading.Lock()
        self.new: list[dict[str, Any]] = []

    def __call__(self, record: dict[str, Any]) -> None:
        with self.lock:
            if self.state.writer is not None:
                self.state.writer.append(record)
            self.state.results[record["id"]] = record
            if record["status"] in ("scored", "failed"):
                self.new.append(record)
            self.listener.record(record)


def evaluate(
    dataset: str | os.PathLike[str],
    model: Any = None,
    *,
    annotations: str | os.PathLike[str] | None = None,
    layout: str = "auto",
    ignore_unknown: bool = False,
    limit: int | None = None,
    shard: str | tuple[int, int] | None = None,
    output: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    save_scores: bool = False,
    isolate: bool = True,
    listener: Listener | None = None,
    options: RunOptions | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """The library mirror of ``vidclass eval``: evaluate ``model`` on ``dataset``, return the metrics.

    ``dataset``: a folder (class folders, or an annotation file inside) or an annotation file;
    ``annotations``/``layout`` force one (see ``vidclass.data.load_dataset``). ``model``: as for
    ``vidclass.predict`` (None: the default model). ``limit``: a stratified sample of that many
    videos. ``shard``: ``"I/N"`` or ``(I, N)``, every N-th video from the I-th (counting from 0).
    ``output``: a folder for ``predictions.jsonl`` and the reports; ``resume`` continues it,
    ``overwrite`` starts it again (without either, an existing one is an error).
    ``save_scores``: records hold every class's probability.

    ``options`` (a ``RunOptions``, or keywords that build one) say how videos run, as for
    ``vidclass.predict``, with one difference: ``workers`` is how many videos run at once
    (default 1). ``isolate``: decode in ``workers`` worker processes, each file with the
    ``timeout`` (a decoder crash or hang fails that video only, see
    ``vidclass.inference.workers``); ``isolate=False`` decodes in this process. The header
    records the precision that ran; a model that cannot be compiled is an ``EvalError``.
    Records keep at least the top 5 labels, so that top-5 accuracy can be computed.

    Usage problems raise ``EvalError``, ``vidclass.data.DatasetError`` (``UnknownLabelsError``
    for labels the model lacks) or ``vidclass.engine.records.PredictionsError``; a model that
    cannot be loaded raises as ``vidclass.checkpoints.load_classifier`` does.
    """
    if options is None:
        changes.setdefault("workers", 1)  # eval runs one video at a time unless told otherwise
    try:
        options = RunOptions.build(options, **changes)
    except ValueError as exc:
        raise EvalError(str(exc)) from exc
    workers = options.workers
    listener = listener or Listener()
    shard_spec = _shard_arg(shard)
    out = os.fspath(output) if output is not None else None
    if resume and out is None:
        raise EvalError("--resume needs --output DIR (the folder holding predictions.jsonl)")
    if resume and overwrite:
        raise EvalError("--resume and --overwrite contradict each other")
    if workers < 1:
        raise EvalError("workers must be at least 1")
    group = Group.from_env(options.device) if launched() else None
    state: _State | None = None
    threads: int | None = None
    predictor: Predictor | None = None
    try:
        classifier = load_classifier(model)
        try:
            predictor = Predictor(
                classifier,
                options.replace(
                    device=group.device if group is not None else options.device,
                    top_k=max(options.top_k, min(5, len(classifier.labels))),
                    workers=workers if isolate else 0,
                ),
            )
        except (ValueError, CompileError) as exc:
            raise EvalError(str(exc)) from exc
        if workers > 1 and predictor.device.type == "cpu":
            # Share the cores out: several videos each running on every core thrash.
            threads = torch.get_num_threads()
            torch.set_num_threads(max(1, threads // workers))
        main = group is None or group.main
        failure: str | None = None
        if main:
            try:
                state = _prepare(
                    predictor,
                    classifier,
                    dataset,
                    annotations=annotations,
                    layout=layout,
                    ignore_unknown=ignore_unknown,
                    limit=limit,
                    shard=shard_spec,
                    output=out,
                    resume=resume,
                    overwrite=overwrite,
                    listener=listener,
                )
            except (EvalError, DatasetError, PredictionsError) as exc:
                if group is None:
                    raise
                failure = f"{type(exc).__name__}\n{exc}"
        if group is not None:
            if not main:
                payload: Any = None
            elif failure is not None:
                payload = failure
            else:
                payload = state.work  # type: ignore[union-attr]
            shared = group.broadcast(payload)
            if isinstance(shared, str):
                kind, message = shared.split("\n", 1)
                error = {"DatasetError": DatasetError, "PredictionsError": PredictionsError}.get(kind, EvalError)
                raise error(message)
            work: list[Work] = shared
        else:
            work = state.work  # type: ignore[union-attr]
        mine = work[group.rank :: group.world] if group is not None else work
        sink = _Sink(state, listener) if state is not None else None
        receiver = None
        started = time.perf_counter()
        if state is not None and sink is not None:
            listener.start(len(state.keys), len(state.results), classifier.name)
            for record in state.instant:
                sink(record)
            if group is not None and group.world > 1:
                receiver = group.receive(sink)
        for item, prediction in run_videos(predictor, mine, workers):
            record = make_record(item, prediction, save_scores)
            if sink is not None:
                sink(record)
            else:
                group.send(record)  # type: ignore[union-attr]
        if group is not None and not group.main:
            group.send(None)
        if receiver is not None:
            while receiver.is_alive():
                receiver.join(0.2)
            if receiver.error is not None:  # type: ignore[attr-defined]
                raise receiver.error  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - started
        metrics: dict[str, Any] | None = None
        if state is not None and sink is not None:
            listener.finish()
            metrics = _eval_document(state, sink.new, elapsed, group.world if group is not None else 1)
            if out is not None:
                if state.writer is not None:
                    state.writer.close()
                write_reports(metrics, out)
        if group is not None:
            metrics = group.broadcast(metrics)
        return metrics  # type: ignore[return-value]
    finally:
        if predictor is not None:
            predictor.close()
        if threads is not None:
            torch.set_num_threads(threads)
        if state is not None and state.writer is not None:
            state.writer.close()
        if group is not None:
            group.close()


def _throughput(
    new: Sequence[dict[str, Any]], seconds: float | None, processes: int | None, clock: str
) -> dict[str, Any]:
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


def _document(command: str, header: dict[str, Any], core: dict[str, Any], **extra: Any) -> dict[str, Any]:
    model = header["model"]
    return {
        "vidclass": _version(),
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


def _eval_document(state: _State, new: Sequence[dict[str, Any]], elapsed: float, processes: int) -> dict[str, Any]:
    header = state.header
    records = [state.results[key] for key in state.keys if key in state.results]
    core = compute_metrics(records, header["model"]["labels"], expected=len(state.keys))
    dataset = dict(header["dataset"])
    return _document(
        "eval",
        header,
        core,
        dataset={**dataset, "limit": header["limit"], "shard": header["shard"]},
        output=os.path.abspath(state.output) if state.output else None,
        throughput=_throughput(new, elapsed, processes, "wall"),
    )


# --------------------------------------------------------------------------- report


def report(
    paths: Iterable[str | os.PathLike[str]],
    output: str | os.PathLike[str] | None = None,
    listener: Listener | None = None,
) -> dict[str, Any]:
    """The library mirror of ``vidclass report``: merge prediction files, return the metrics.

    ``paths``: predictions.jsonl files, or the ``--output`` folders holding them.
    Files must come from one model, protocol and preprocessing (``PredictionsError``
    otherwise). A video recorded more than once counts once: a scored record beats a failed
    one; scored records that disagree are refused. A torn last line is dropped (the file is
    left as it is). With ``output``, the report files are written there.
    """
    listener = listener or Listener()
    names = [os.fspath(p) for p in paths]
    files = [read_predictions(os.path.join(p, PREDICTIONS) if os.path.isdir(p) else p) for p in names]
    if not files:
        raise EvalError("no prediction files given")
    header = None
    for pf in files:
        if pf.header is None:
            raise PredictionsError(f"{pf.path}: empty")
        if pf.torn:
            listener.warning(f"{pf.path}: dropped a torn last line (its run was killed while writing it)")
        if header is None:
            header = pf.header
        else:
            check_compatible(header, pf.header, pf.path)
    assert header is not None
    merged = merge_records(record for pf in files for record in pf.records)
    if merged.conflicts:
        raise conflict_error(merged.conflicts, merged.records)
    if merged.duplicates:
        listener.note(f"{merged.duplicates} duplicate record(s) merged (retries, or the same results given twice)")
    headers = [pf.header for pf in files if pf.header is not None]
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
    core = compute_metrics(records, header["model"]["labels"], expected=expected)
    if core["counts"]["pending"]:
        listener.warning(
            f"{core['counts']['pending']} of {expected} videos have no result yet (a shard or run is missing)"
        )
    dataset = dict(header["dataset"])
    dataset.update({"limit": header.get("limit"), "shard": None, "shards": [f"{i}/{n}" for i, n in shards]})
    document = _document(
        "report",
        header,
        core,
        dataset=dataset,
        inputs=[os.path.abspath(pf.path) for pf in files],
        throughput=_throughput([r for r in records if r["status"] in ("scored", "failed")], None, None, "per_video"),
    )
    if output is not None:
        write_reports(document, os.fspath(output))
    return document


def exit_status(metrics: dict[str, Any]) -> int:
    """0 when every video was scored (ignored ones aside), else 1."""
    counts = metrics["counts"]
    return 1 if counts["failed"] or counts["missing"] or counts["pending"] else 0


def result_fields(metrics: dict[str, Any]) -> dict[str, Any]:
    """The part of a metrics document that is the result (no timings, paths or provenance)."""
    return {key: metrics[key] for key in RESULT_FIELDS}


__all__ = [
    "PREDICTIONS",
    "RESULT_FIELDS",
    "EvalError",
    "Listener",
    "Work",
    "evaluate",
    "exit_status",
    "make_record",
    "model_fingerprint",
    "report",
    "result_fields",
    "run_videos",
]
