"""Run a video classifier over the multi-view test protocol and aggregate the views.

``Predictor`` wraps one loaded ``VideoClassifier``: it decodes each video into the views its
``ViewProtocol`` asks for (``vidclass.video.load_views``), runs them through the model in
batches and combines the per-view logits into one probability vector (``aggregate``).
``predict_many`` cuts its batches from the views of consecutive videos
(``vidclass.engine.batching``), so that small videos still fill a batch; each video is
yielded as soon as the batch holding its last view has run. Bad input never raises: a file
that cannot be decoded becomes a ``Prediction`` whose ``error`` holds a one-line message, so a
batch run always completes.

With ``workers`` >= 1, decoding and view building run in worker processes
(``vidclass.engine.workers.WorkerPool``) with a per-file ``timeout``: a decoder that crashes
or hangs costs only its file (``decoder crashed ...``, ``decode timed out after N s``); with
``decoder="auto"`` the file is first retried with PyAV in a fresh worker.
``workers=0`` (the library default) decodes in this process. Call ``close()`` (or use the
predictor as a context manager) to end the workers. As with any ``multiprocessing`` code, a
script that uses workers needs an ``if __name__ == "__main__":`` guard: worker processes
import the main script.

``predict`` is the library mirror of ``vidclass predict``::

    for p in vidclass.engine.predict(["clips/"], model="weights/default.safetensors"):
        print(p.path, p.label, p.score)
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch

from vidclass.defaults import DEFAULT_BATCH_SIZE, DEFAULT_TOP_K, DEVICES
from vidclass.engine.batching import batch_views
from vidclass.engine.compiling import CompileError, compile_model
from vidclass.engine.inputs import expand_paths
from vidclass.engine.precision import PRECISIONS, autocast, resolve_precision
from vidclass.engine.resolve import resolve_model
from vidclass.engine.workers import (
    DEFAULT_MAX_TASKS,
    DEFAULT_TIMEOUT,
    WorkerCrashed,
    WorkerError,
    WorkerPool,
    WorkerTimeout,
    wait_result,
)
from vidclass.video.protocol import Aggregate, Preprocessing, ViewProtocol

DECODE_HOOK_ENV = "VIDCLASS_DECODE_HOOK"  # tests only: "module:function" run on each path in the worker


def aggregate(logits: torch.Tensor, mode: Aggregate | str = Aggregate.SOFTMAX) -> torch.Tensor:
    """Combine per-view logits ``(V, K)`` into one probability vector ``(K,)``.

    ``SOFTMAX``: the mean of the per-view softmax probabilities (the ViViT paper's protocol).
    ``LOGITS``: the softmax of the mean logits (what scenic's evaluation code does).
    Either way the result sums to 1.
    """
    if logits.dim() != 2 or logits.shape[0] < 1:
        raise ValueError(f"expected logits of shape (views, classes), got {tuple(logits.shape)}")
    mode = Aggregate(mode)
    logits = logits.float()
    if mode is Aggregate.SOFTMAX:
        return torch.softmax(logits, dim=-1).mean(dim=0)
    return torch.softmax(logits.mean(dim=0), dim=-1)


@dataclass
class Prediction:
    """The result for one video; ``error`` is set (and the scores empty) when it failed."""

    path: str
    labels: list[tuple[str, float]] = field(default_factory=list)  # top-k, best first
    scores: tuple[float, ...] | None = None  # every class, in the model's label order
    views: int | None = None
    clips: int | None = None
    crops: int | None = None
    frames: int | None = None  # frames in the decoded video
    fps: float | None = None
    duration: float | None = None  # seconds
    width: int | None = None
    height: int | None = None
    seconds: float = 0.0  # wall time spent on this video (decode + model)
    error: str | None = None
    decoder: str | None = None  # "decord" or "pyav": which decoder read the video
    class_names: tuple[str, ...] = ()  # the model's labels, matching ``scores``

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def label(self) -> str | None:
        """The top-1 label, or None for a failed video."""
        return self.labels[0][0] if self.labels else None

    @property
    def score(self) -> float | None:
        """The top-1 probability, or None for a failed video."""
        return self.labels[0][1] if self.labels else None

    def to_record(self, scores: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; ``scores=True`` adds ``"scores": {label: probability}``."""
        record: dict[str, Any] = {
            "path": self.path,
            "ok": self.ok,
            "labels": [{"label": label, "score": score} for label, score in self.labels],
            "views": self.views,
            "clips": self.clips,
            "crops": self.crops,
            "frames": self.frames,
            "fps": self.fps,
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
            "seconds": round(self.seconds, 4),
            "error": self.error,
            "decoder": self.decoder,
        }
        if scores:
            record["scores"] = (
                dict(zip(self.class_names, self.scores, strict=True)) if self.scores is not None else None
            )
        return record


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when it is available, else the CPU; ValueError if unusable."""
    if isinstance(device, torch.device):
        resolved = device
    elif device == "auto":
        resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            resolved = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"unknown device {device!r}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA is not available on this machine")
    return resolved


class Predictor:
    """Classify videos with one model, over the model's multi-view protocol.

    ``clips``, ``crops`` and ``aggregate`` override the model file's ``ViewProtocol`` when not
    None; preprocessing always comes from the model file. The model is moved to ``device`` and
    put in eval mode (this changes ``classifier.model`` in place). ``precision``: ``fp32``
    (the stored weights, no autocast), ``bf16``, ``fp16`` (CUDA) or ``auto`` (the default,
    see ``vidclass.engine.precision``); ``self.precision`` is the mode that runs. Logits are
    cast to float32 before aggregation whatever the mode.

    ``batch_size`` views go through the model at a time; ``predict_many`` cuts the batches
    across videos. ``compile=True`` runs the model through ``torch.compile`` (static shapes):
    it is compiled here, before the first video, on one batch of ``batch_size`` views, and a
    run's short last batch is padded to that size so nothing recompiles
    (``vidclass.engine.compiling``); ``CompileError`` if it cannot be compiled.
    ``self.compile_seconds`` says how long compiling took.
    """

    def __init__(
        self,
        classifier: Any,
        *,
        device: str | torch.device = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        clips: int | None = None,
        crops: int | None = None,
        aggregate: Aggregate | str | None = None,
        top_k: int = DEFAULT_TOP_K,
        decoder: str = "auto",
        workers: int = 0,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_tasks: int = DEFAULT_MAX_TASKS,
        precision: str = "auto",
        compile: bool = False,
    ) -> None:
        from vidclass.video import DECODERS

        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; choose from {', '.join(DECODERS)}")
        if workers < 0:
            raise ValueError("workers must be >= 0")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be > 0")
        if max_tasks < 1:
            raise ValueError("max_tasks must be >= 1")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if top_k < 1:
            raise ValueError("top_k must be >= 1")
        self.classifier = classifier
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.batch_size = int(batch_size)
        self.top_k = int(top_k)
        self.labels: tuple[str, ...] = tuple(classifier.labels)
        self.preprocessing: Preprocessing = classifier.preprocessing
        self.protocol: ViewProtocol = classifier.protocol.override(
            clips=clips,
            crops=crops,
            aggregate=Aggregate(aggregate) if aggregate is not None else None,
        )
        self.model: torch.nn.Module = classifier.model.to(self.device).eval()
        self.decoder = decoder
        self.workers = int(workers)
        self.timeout = timeout
        self.max_tasks = int(max_tasks)
        self._hook = os.environ.get(DECODE_HOOK_ENV) or None
        self._pool: WorkerPool | None = None
        self._pending: dict[str, collections.deque[Future[Any]]] = {}
        self._lock = threading.Lock()
        self.compile = bool(compile)
        self.compile_seconds: float | None = None
        self._module: Any = self.model  # what ``forward`` calls: the model, or its compiled form
        if self.compile:
            prep = self.preprocessing
            example = torch.zeros(self.batch_size, 3, prep.num_frames, prep.crop_size, prep.crop_size)

            def warm_up(compiled: Any) -> None:
                self._module = compiled
                self.forward(example)

            self._module, self.compile_seconds = compile_model(self.model, warm_up)

    @property
    def pool(self) -> WorkerPool | None:
        """The decode worker pool (started on first use), or None when decoding in-process."""
        if self.workers < 1:
            return None
        with self._lock:
            if self._pool is None:
                self._pool = WorkerPool(self.workers, timeout=self.timeout, max_tasks=self.max_tasks)
            return self._pool

    def prefetch(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Start decoding ``paths`` in the workers now; ``predict`` on them picks the result up.

        Without workers this does nothing. Each prefetched path should later be predicted.
        """
        pool = self.pool
        if pool is None:
            return
        for path in paths:
            name = os.fspath(path)
            future = pool.submit(decode_job, name, self.preprocessing, self.protocol, self.decoder, self._hook)
            with self._lock:
                self._pending.setdefault(name, collections.deque()).append(future)

    def lookahead(self, paths: list[str], index: int, submitted: int) -> int:
        """Before predicting ``paths[index]``: prefetch up to ``workers`` videos past it.

        ``submitted`` is how many of ``paths`` were prefetched already; returns the new count.
        """
        if self.workers < 1:
            return submitted
        end = min(len(paths), index + self.workers + 1)
        if end > submitted:
            self.prefetch(paths[submitted:end])
        return max(end, submitted)

    def close(self) -> None:
        """End the worker processes (queued decodes are dropped); predict restarts them."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._pending.clear()
        if pool is not None:
            pool.close()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        """What this predictor runs, JSON-ready (the header of ``--format json``)."""
        return {
            "name": self.classifier.name,
            "source": str(getattr(self.classifier, "source", "")),
            "num_labels": len(self.labels),
            "labels": list(self.labels),
            "device": str(self.device),
            "precision": self.precision,
            "batch_size": self.batch_size,
            "compile": self.compile,
            "top_k": self.top_k,
            "preprocessing": self.preprocessing.to_dict(),
            "protocol": self.protocol.to_dict(),
            "decoder": self.decoder,
            "workers": self.workers,
            "timeout": self.timeout,
        }

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """One batch ``(B, 3, T, H, W)`` through the model -> float32 logits (B, K)."""
        with torch.inference_mode(), autocast(self.precision, self.device):
            return self._module(batch.to(self.device, non_blocking=True)).float()

    def logits(self, views: torch.Tensor) -> torch.Tensor:
        """Run ``(V, 3, T, H, W)`` views through the model, ``batch_size`` at a time -> (V, K)."""
        ((_, logits, _),) = batch_views([(None, views)], self.forward, self.batch_size, pad=self.compile)
        assert logits is not None
        return logits

    def predict(self, path: str | os.PathLike[str]) -> Prediction:
        """Classify one video; decoding failures become an error ``Prediction``, never raise.

        With workers, a decode started by ``prefetch`` is picked up, else one is started now.
        """
        ((video, logits, model_seconds),) = batch_views(
            self._decoded([path], read_ahead=False), self.forward, self.batch_size, pad=self.compile
        )
        return self._prediction(video, logits, model_seconds)

    def predict_many(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[Prediction]:
        """``predict`` each path in order, yielding as soon as each video is done.

        The views of consecutive videos share batches of ``batch_size`` views, so a video's
        result waits for later videos only as far as the batch it shares with them. With
        workers, up to ``workers`` videos ahead are decoding while the model runs.
        """
        results = batch_views(self._decoded(paths, read_ahead=True), self.forward, self.batch_size, pad=self.compile)
        for video, logits, model_seconds in results:
            yield self._prediction(video, logits, model_seconds)

    def _decoded(
        self, paths: Iterable[str | os.PathLike[str]], read_ahead: bool
    ) -> Iterator[tuple[_Decoded, torch.Tensor | None]]:
        """Each path's views (None when it failed) with what the prediction needs, in order.

        ``read_ahead``: with workers, keep up to ``workers`` videos past the current one decoding.
        """
        if self.workers < 1 or not read_ahead:
            names: Iterable[str] = (os.fspath(p) for p in paths)
            ahead: list[str] = []
        else:
            ahead = [os.fspath(p) for p in paths]
            names = ahead
        submitted = 0
        for index, name in enumerate(names):
            submitted = self.lookahead(ahead, index, submitted)
            start = time.perf_counter()
            try:
                views, plan, info, decode_seconds = self._load(name)
            except Exception as exc:  # noqa: BLE001 - bad input of any kind becomes an error record
                yield _Decoded(name, seconds=time.perf_counter() - start, error=self._message(exc)), None
                continue
            yield _Decoded(name, plan, info, decode_seconds), views
            del views  # batch_views keeps what it still needs; don't hold it while the next decodes

    def _prediction(self, video: _Decoded, logits: torch.Tensor | None, model_seconds: float) -> Prediction:
        if logits is None:
            return Prediction(path=video.path, error=video.error, seconds=video.seconds, class_names=self.labels)
        started = time.perf_counter()
        probs = aggregate(logits, self.protocol.aggregate).cpu()
        k = min(self.top_k, probs.numel())
        top = torch.topk(probs, k)
        info = video.info
        return Prediction(
            path=video.path,
            labels=[(self.labels[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)],
            scores=tuple(probs.tolist()),
            views=int(logits.shape[0]),
            clips=len(video.plan.clips),
            crops=len(video.plan.crops),
            frames=int(info.num_frames),
            fps=float(info.fps),
            duration=float(info.duration),
            width=int(info.width),
            height=int(info.height),
            # decode (in a worker or here) + this video's share of its batches + aggregation
            seconds=video.seconds + model_seconds + (time.perf_counter() - started),
            class_names=self.labels,
            decoder=getattr(info, "decoder", None),
        )

    def _load(self, name: str) -> tuple[torch.Tensor, Any, Any, float]:
        """(views, plan, info, seconds decoding took) for ``name``, in a worker if there are any."""
        if self.workers < 1:
            from vidclass.video import load_views

            start = time.perf_counter()
            views, plan, info = load_views(name, self.preprocessing, self.protocol, decoder=self.decoder)
            return views, plan, info, time.perf_counter() - start
        with self._lock:
            queued = self._pending.get(name)
            future = queued.popleft() if queued else None
            if queued is not None and not queued:
                del self._pending[name]
        if future is None:
            pool = self.pool
            assert pool is not None
            future = pool.submit(decode_job, name, self.preprocessing, self.protocol, self.decoder, self._hook)
        try:
            return wait_result(future)
        except WorkerError:
            if self.decoder != "auto":
                raise
        # decord crashed or hung (dmlc/decord#373): PyAV gets the file, in a fresh worker
        pool = self.pool
        assert pool is not None
        return wait_result(pool.submit(decode_job, name, self.preprocessing, self.protocol, "pyav", self._hook))

    def _message(self, exc: BaseException) -> str:
        if isinstance(exc, WorkerTimeout):
            return f"decode timed out after {exc.seconds:g} s"
        if isinstance(exc, WorkerCrashed):
            return f"decoder crashed ({exc.signal or f'exit code {exc.exitcode}'})"
        return one_line(exc)


@dataclass
class _Decoded:
    """A decoded video (its plan and info) or a failed one (``error``), on its way to the model."""

    path: str
    plan: Any = None
    info: Any = None
    seconds: float = 0.0  # decoding (or, for a failure, the time until it failed)
    error: str | None = None


def predict(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    model: Any = None,
    *,
    recursive: bool = False,
    device: str | torch.device = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    clips: int | None = None,
    crops: int | None = None,
    aggregate: Aggregate | str | None = None,
    top_k: int = DEFAULT_TOP_K,
    decoder: str = "auto",
    workers: int = 0,
    timeout: float | None = DEFAULT_TIMEOUT,
    precision: str = "auto",
    compile: bool = False,
) -> Iterator[Prediction]:
    """The library mirror of ``vidclass predict``: yield one ``Prediction`` per video.

    ``paths``: files and directories (videos directly inside, or all below with
    ``recursive=True``), like the command's arguments. ``model``: a loaded classifier, a
    registry name or a model file; None uses the same default as the command
    (``$VIDCLASS_MODEL``, then the bundled ``weights/default.safetensors``).
    The model is loaded and the options checked before this returns (errors raise here);
    videos are then processed lazily, in input order. ``workers`` >= 1 decodes in that many
    worker processes (see ``Predictor``); they end when the iterator is exhausted or closed.
    ``precision``: ``auto`` (default), ``fp32``, ``bf16`` or ``fp16`` (see ``Predictor``).
    ``batch_size`` views run at a time, cut across consecutive videos; ``compile=True``
    compiles the model first (``CompileError`` if it cannot; see ``Predictor``).
    """
    classifier = resolve_model(model)
    predictor = Predictor(
        classifier,
        device=device,
        batch_size=batch_size,
        clips=clips,
        crops=crops,
        aggregate=aggregate,
        top_k=top_k,
        decoder=decoder,
        workers=workers,
        timeout=timeout,
        precision=precision,
        compile=compile,
    )
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return _closing(predictor, predictor.predict_many(expand_paths(paths, recursive=recursive)))


def _closing(predictor: Predictor, results: Iterator[Prediction]) -> Iterator[Prediction]:
    try:
        yield from results
    finally:
        predictor.close()


def decode_job(
    path: str, prep: Preprocessing, protocol: ViewProtocol, decoder: str, hook: str | None = None
) -> tuple[torch.Tensor, Any, Any, float]:
    """What a decode worker runs for one file: ``load_views`` (after the test hook, if any).

    Returns the views, plan and info, and the seconds decoding took.
    """
    if hook:
        import importlib

        module, _, function = hook.partition(":")
        getattr(importlib.import_module(module), function)(path, decoder)
    from vidclass.video import load_views

    start = time.perf_counter()
    views, plan, info = load_views(path, prep, protocol, decoder=decoder)
    return views, plan, info, time.perf_counter() - start


def one_line(exc: BaseException) -> str:
    """A one-line message for an exception; the type name is kept for unexpected ones."""
    from vidclass.video import VideoError

    message = " ".join(str(exc).split())
    if isinstance(exc, VideoError):
        return message or "cannot read video"
    kind = type(exc).__name__
    return f"{kind}: {message}" if message else kind


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "CompileError",
    "DEFAULT_TOP_K",
    "DEVICES",
    "PRECISIONS",
    "Prediction",
    "Predictor",
    "aggregate",
    "decode_job",
    "one_line",
    "predict",
    "resolve_device",
]
