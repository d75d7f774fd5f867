"""``evaluate``: run a classifier over a labelled dataset (what ``vidclass eval`` runs).

One process: plan (``plan.make_plan``), write the instant records, run the videos
(``run_videos``), write each record the moment it is done, and build the metrics document.
Under ``torchrun`` rank 0 plans and broadcasts the work; every rank runs its share (every
world-th video) and sends its records to rank 0, which writes them all and broadcasts the
metrics (``vidclass.distributed``). Each video runs in batches of its own views, so its
scores do not depend on which process or shard ran it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch

from vidclass.checkpoints import ModelSpec, VideoClassifier, load_classifier
from vidclass.data import DatasetError
from vidclass.distributed import Group, launched
from vidclass.evaluation.documents import document, throughput
from vidclass.evaluation.label_sets import score_records
from vidclass.evaluation.plan import Plan, Work, make_plan, make_record
from vidclass.evaluation.records import PredictionsError
from vidclass.evaluation.reports import write_reports
from vidclass.evaluation.request import EvalError, Listener, Request
from vidclass.inference import CompileError, Predictor, RunOptions
from vidclass.inference.workers import wait_result
from vidclass.scores import Prediction

# What planning may raise that every rank must raise too (rank 0 broadcasts it by name).
_PLAN_ERRORS: dict[str, type[Exception]] = {
    "EvalError": EvalError,
    "DatasetError": DatasetError,
    "PredictionsError": PredictionsError,
}


def evaluate(
    dataset: str | os.PathLike[str],
    model: ModelSpec = None,
    *,
    annotations: str | os.PathLike[str] | None = None,
    classes: str | os.PathLike[str] | None = None,
    layout: str = "auto",
    ignore_unknown: bool = False,
    allow_outside_root: bool = False,
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
    ``annotations``/``layout`` force one (see ``vidclass.data.load_dataset``); ``classes``: a
    class list naming the dataset's label ids (Charades' ``c000 name`` lines), by default the
    one found beside a Charades CSV, so that ids match a model labelled by name; an annotation
    path that leads outside the dataset root is a ``DatasetError`` unless ``allow_outside_root``.
    ``model``: as for
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
    for labels the model lacks) or ``vidclass.evaluation.PredictionsError``; a model that
    cannot be loaded raises as ``vidclass.checkpoints.load_classifier`` does.
    """
    if options is None:
        changes.setdefault("workers", 1)  # eval runs one video at a time unless told otherwise
    try:
        options = RunOptions.build(options, **changes)
    except ValueError as exc:
        raise EvalError(str(exc)) from exc
    if options.workers < 1:
        raise EvalError("workers must be at least 1")
    request = Request.build(
        dataset,
        annotations=annotations,
        classes=classes,
        layout=layout,
        ignore_unknown=ignore_unknown,
        allow_outside_root=allow_outside_root,
        limit=limit,
        shard=shard,
        output=output,
        resume=resume,
        overwrite=overwrite,
        save_scores=save_scores,
    )
    listener = listener or Listener()
    group = Group.from_env(options.device) if launched() else Group()  # Group(): this process alone
    try:
        classifier = load_classifier(model)
        predictor = _predictor(classifier, options, group, isolate)
        try:
            with _share_cores(predictor, options.workers):
                if group.main:
                    return _run_main(predictor, classifier, request, options.workers, group, listener)
                return _run_other(predictor, request, options.workers, group)
        finally:
            predictor.close()
    finally:
        group.close()


def _predictor(classifier: VideoClassifier, options: RunOptions, group: Group, isolate: bool) -> Predictor:
    try:
        return Predictor(
            classifier,
            options.replace(
                device=group.device if launched() else options.device,
                top_k=max(options.top_k, min(5, len(classifier.labels))),
                workers=options.workers if isolate else 0,
            ),
        )
    except (ValueError, CompileError) as exc:
        raise EvalError(str(exc)) from exc


@contextlib.contextmanager
def _share_cores(predictor: Predictor, workers: int) -> Iterator[None]:
    """Several videos at once on the CPU: each gets its share of the cores (not all, which thrashes)."""
    if workers <= 1 or predictor.device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // workers))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _run_main(
    predictor: Predictor, classifier: VideoClassifier, request: Request, workers: int, group: Group, listener: Listener
) -> dict[str, Any]:
    """Rank 0 (or the only process): plan, run its share, write every record, report."""
    try:
        plan = make_plan(predictor, classifier, request, listener)
    except tuple(_PLAN_ERRORS.values()) as exc:
        group.broadcast((type(exc).__name__, str(exc)))  # the other ranks raise it too
        raise
    with contextlib.closing(plan):
        group.broadcast(plan.work)
        sink = _Sink(plan, listener)
        started = time.perf_counter()
        listener.start(len(plan.keys), len(plan.results), classifier.name)
        for record in plan.instant:
            sink(record)
        receiver = group.receive(sink) if group.world > 1 else None
        for item, prediction in run_videos(predictor, plan.work[:: group.world], workers):
            sink(make_record(item, prediction, request.save_scores))
        if receiver is not None:
            receiver.wait()
        elapsed = time.perf_counter() - started
        listener.finish()
        metrics = _eval_document(plan, sink.new, elapsed, group.world)
        if request.output is not None:
            plan.close()  # the predictions file is complete before the reports are written
            write_reports(metrics, request.output)
    shared: dict[str, Any] = group.broadcast(metrics)
    return shared


def _run_other(predictor: Predictor, request: Request, workers: int, group: Group) -> dict[str, Any]:
    """Any other torchrun rank: receive the work, run its share, send the records to rank 0."""
    shared: list[Work] | tuple[str, str] = group.broadcast(None)
    if isinstance(shared, tuple):
        kind, message = shared
        raise _PLAN_ERRORS.get(kind, EvalError)(message)
    for item, prediction in run_videos(predictor, shared[group.rank :: group.world], workers):
        group.send(make_record(item, prediction, request.save_scores))
    group.send(None)
    metrics: dict[str, Any] = group.broadcast(None)
    return metrics


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

    def __init__(self, plan: Plan, listener: Listener) -> None:
        self.plan = plan
        self.listener = listener
        self.lock = threading.Lock()
        self.new: list[dict[str, Any]] = []  # records of videos run now (for the throughput)

    def __call__(self, record: dict[str, Any]) -> None:
        with self.lock:
            if self.plan.writer is not None:
                self.plan.writer.append(record)
            self.plan.results[record["id"]] = record
            if record["status"] in ("scored", "failed"):
                self.new.append(record)
            self.listener.record(record)


def _eval_document(plan: Plan, new: Sequence[dict[str, Any]], elapsed: float, processes: int) -> dict[str, Any]:
    header = plan.header
    records = [plan.results[key] for key in plan.keys if key in plan.results]
    core = score_records(records, header, expected=len(plan.keys))
    return document(
        "eval",
        header,
        core,
        dataset={**header["dataset"], "limit": header["limit"], "shard": header["shard"]},
        output=os.path.abspath(plan.output) if plan.output else None,
        throughput=throughput(new, elapsed, processes, "wall"),
    )


__all__ = ["evaluate", "run_videos"]
