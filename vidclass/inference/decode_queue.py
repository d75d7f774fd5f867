"""The one decode queue: every video's views, decoded in this process or in worker processes.

``DecodeQueue.decoded(paths)`` yields each path's views (or the one-line error that replaced
them) in input order; ``DecodeQueue.plan(path)`` probes one file and plans its views, without
decoding them (``vidclass info``). It owns everything about getting there:

- **the pool**: with ``workers`` >= 1, probing, decoding and view building run in worker
  processes (``vidclass.inference.workers.WorkerPool``, started on first use) with a per-file
  ``timeout``, so a decoder that crashes or hangs costs only its file (``decoder crashed
  (SIGSEGV)``, ``decode timed out after N s``), and FFmpeg's and decord's own log lines stay
  out of the terminal unless ``verbose``. ``workers=0`` decodes here, with none of that: the
  library's default, and ``--workers 0``. ``prestart(options)`` starts the workers' process
  server early, so that its imports overlap the caller's (the command line calls it before it
  imports torch and loads the model);
- **prefetch and look-ahead**: up to ``workers`` videos past the current one are decoding
  while the model runs on it;
- **the fallback**: with ``decoder="auto"``, a file whose decord worker crashed or hung is
  retried with PyAV in a fresh worker, in the order ``vidclass.video.decoders_for`` gives
  (the same order in which ``load_views`` falls back on a decoder's exception);
- **window streams**: ``DecodeQueue.windows(info, windows)`` yields the views of one long
  video's sliding windows (``vidclass.video.plan_windows``) chunk by chunk, each chunk one job
  (``window_job``) with the same isolation, timeout and fallback, at most ``workers`` chunks
  decoding ahead of the caller: memory is bounded by the chunk size, not the video's length.

Workers run the module-level ``decode_job`` (and ``plan_job``, ``window_job``); tests replace them
(``monkeypatch.setattr`` on this module) to make a worker crash or hang. Call ``close()`` to end
the workers. This module imports neither torch nor a decoder until it decodes.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vidclass.defaults import CROPS, WINDOW_CHUNK, WINDOW_CHUNK_BYTES
from vidclass.inference.options import RunOptions
from vidclass.inference.workers import WorkerCrashed, WorkerError, WorkerPool, WorkerTimeout, wait_result
from vidclass.inference.workers import prestart as start_server
from vidclass.protocol import Preprocessing, ViewProtocol

if TYPE_CHECKING:  # imported where used: the command line sets the queue up before torch
    import torch

    from vidclass.video import VideoInfo, Window

# Imported once by the worker processes' fork server: torch first, then the decoders (decord
# and PyAV, via vidclass.video), then this module, so that each worker starts with them
# loaded and nothing opened.
PRELOAD = ("torch", "vidclass.video", __name__)

Job = Callable[[str, Preprocessing, ViewProtocol, str], Any]


@dataclass
class Decoded:
    """A decoded video (its plan and info) or a failed one (``error``), on its way to the model."""

    path: str
    plan: Any = None
    info: Any = None
    seconds: float = 0.0  # decoding (or, for a failure, the time until it failed)
    error: str | None = None


class DecodeQueue:
    """Decode videos into the views of ``protocol``, by ``options``' decoder, workers and timeout."""

    def __init__(self, preprocessing: Preprocessing, protocol: ViewProtocol, options: RunOptions) -> None:
        self.preprocessing = preprocessing
        self.protocol = protocol
        self.options = options
        self._pool: WorkerPool | None = None
        self._pending: dict[str, collections.deque[Future[Any]]] = {}
        self._lock = threading.Lock()
        self.chunks_in_flight = 0  # window chunks submitted to the workers and not yet yielded

    @property
    def workers(self) -> int:
        return self.options.workers

    @property
    def pool(self) -> WorkerPool | None:
        """The decode worker pool (started on first use), or None when decoding in-process."""
        if self.workers < 1:
            return None
        with self._lock:
            if self._pool is None:
                self._pool = WorkerPool(
                    self.workers,
                    timeout=self.options.timeout,
                    max_tasks=self.options.max_tasks,
                    preload=PRELOAD,
                    keep_stderr=self.options.verbose,
                )
            return self._pool

    def prefetch(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Start decoding ``paths`` in the workers now; ``decoded`` picks the results up.

        Without workers this does nothing. Each prefetched path should later be decoded.
        """
        pool = self.pool
        if pool is None:
            return
        for path in paths:
            name = os.fspath(path)
            future = self._submit(pool, decode_job, name, self.options.decoder)
            with self._lock:
                self._pending.setdefault(name, collections.deque()).append(future)

    def lookahead(self, paths: list[str], index: int, submitted: int) -> int:
        """Before decoding ``paths[index]``: prefetch up to ``workers`` videos past it.

        ``submitted`` is how many of ``paths`` were prefetched already; returns the new count.
        """
        if self.workers < 1:
            return submitted
        end = min(len(paths), index + self.workers + 1)
        if end > submitted:
            self.prefetch(paths[submitted:end])
        return max(end, submitted)

    def decoded(
        self, paths: Iterable[str | os.PathLike[str]], read_ahead: bool = True
    ) -> Iterator[tuple[Decoded, torch.Tensor | None]]:
        """Each path's views (None when it failed) with what its prediction needs, in order.

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
                views, plan, info, decode_seconds = self.load(name)
            except Exception as exc:  # noqa: BLE001 - bad input of any kind becomes an error record
                yield Decoded(name, seconds=time.perf_counter() - start, error=failure_message(exc)), None
                continue
            yield Decoded(name, plan, info, decode_seconds), views
            del views  # the batcher keeps what it still needs; don't hold it while the next decodes

    def load(self, name: str) -> tuple[torch.Tensor, Any, Any, float]:
        """(views, plan, info, seconds decoding took) for ``name``, in a worker if there are any."""
        with self._lock:
            queued = self._pending.get(name)
            future = queued.popleft() if queued else None
            if queued is not None and not queued:
                del self._pending[name]
        result: tuple[torch.Tensor, Any, Any, float] = self._run(decode_job, name, future)
        return result

    def plan(self, path: str | os.PathLike[str]) -> Decoded:
        """Probe ``path`` and plan its views (``info`` and ``plan`` set), or the error that stopped it.

        Nothing is decoded past what probing needs; with workers, in a worker, with the timeout.
        """
        name = os.fspath(path)
        start = time.perf_counter()
        try:
            info, plan, seconds = self._run(plan_job, name)
        except Exception as exc:  # noqa: BLE001 - bad input of any kind becomes an error
            return Decoded(name, seconds=time.perf_counter() - start, error=failure_message(exc))
        return Decoded(name, plan, info, seconds)

    def _run(self, job: Job, name: str, future: Future[Any] | None = None) -> Any:
        """``job`` for ``name``: here without workers; else in a worker (``future``, if already
        submitted), and once more with the next decoder when the first one's worker crashed or hung."""
        pool = self.pool
        if pool is None:  # no workers: decode here
            return job(name, self.preprocessing, self.protocol, self.options.decoder)
        try:
            return wait_result(future or self._submit(pool, job, name, self.options.decoder))
        except WorkerError:
            from vidclass.video.decoders import decoders_for

            fallbacks = decoders_for(self.options.decoder)[1:]
            if not fallbacks:
                raise
        # decord crashed or hung (dmlc/decord#373): the next decoder gets the file, in a fresh worker
        return wait_result(self._submit(pool, job, name, fallbacks[0].name))

    def windows(
        self, info: VideoInfo, windows: Sequence[Window], crops: int = 1, chunk: int | None = None
    ) -> Generator[tuple[tuple[Window, ...], torch.Tensor], None, None]:
        """The views of ``windows`` (``plan_windows(info, ...)``), ``chunk`` consecutive windows at a
        time (default ``window_chunk``: up to 64 MiB of views).

        Yields (the chunk's windows, float32 views (len(chunk) * crops, 3, T, crop, crop)),
        window-major, ``crops`` 1 (centre) or 3 (as predict's), normalised as ``build_views``
        does. Each chunk is one forward pass over its stretch of the file (``window_job``); with
        workers, it runs in the pool with the timeout and the decoder fallback, and at most
        ``workers`` chunks decode ahead of the one yielded (``chunks_in_flight`` counts them),
        so memory is about (workers + 1) chunks' views however long the video.

        The chunks decode with ``info.decoder`` when the probe had to fall back to PyAV, else
        with the run's decoder. Any failure (a file that cannot be read past some point, a
        worker that crashed or hung) raises ``VideoError`` (an ``InputError``: it costs this
        file only) whose message is ``failure_message``'s one line, e.g. ``decode timed out
        after 2 s``; the stream ends there. ``ValueError`` at once for ``crops`` or ``chunk``
        out of range.
        """
        if crops not in CROPS:
            raise ValueError(f"crops must be 1 or 3, got {crops!r}")
        if chunk is None:
            chunk = window_chunk(self.preprocessing, crops)
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk must be a whole number of windows >= 1, got {chunk!r}")
        groups = [tuple(windows[i : i + chunk]) for i in range(0, len(windows), chunk)]
        decoder = "pyav" if info.decoder == "pyav" else self.options.decoder
        return self._stream(info, groups, crops, decoder)

    def _stream(
        self, info: VideoInfo, groups: list[tuple[Window, ...]], crops: int, decoder: str
    ) -> Generator[tuple[tuple[Window, ...], torch.Tensor], None, None]:
        pool = self.pool
        queued: collections.deque[Future[Any]] = collections.deque()
        submitted = 0
        try:
            for group in groups:
                future = None
                if pool is not None:
                    while submitted < len(groups) and len(queued) <= self.workers:  # this one + workers ahead
                        queued.append(
                            pool.submit(window_job, info, groups[submitted], self.preprocessing, crops, decoder)
                        )
                        submitted += 1
                    future = queued.popleft()
                    self.chunks_in_flight = len(queued)
                views = self._window_chunk(future, info, group, crops, decoder)
                yield group, views
                del views  # the caller keeps what it needs; don't hold it while the next chunk waits
        finally:
            for pending in queued:
                pending.cancel()
            self.chunks_in_flight = 0

    def _window_chunk(
        self, future: Future[Any] | None, info: VideoInfo, group: tuple[Window, ...], crops: int, decoder: str
    ) -> torch.Tensor:
        from vidclass.video import VideoError, decoders_for

        try:
            if future is None:  # no workers: decode here
                views: torch.Tensor = window_job(info, group, self.preprocessing, crops, decoder)
                return views
            try:
                views = wait_result(future)
                return views
            except WorkerError:
                fallbacks = decoders_for(decoder)[1:]
                if not fallbacks:
                    raise
            # decord crashed or hung on this stretch: the next decoder gets it, in a fresh worker
            pool = self.pool
            assert pool is not None
            views = wait_result(pool.submit(window_job, info, group, self.preprocessing, crops, fallbacks[0].name))
            return views
        except VideoError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure costs this file: one line, as predict's records
            raise VideoError(failure_message(exc)) from exc

    def close(self) -> None:
        """End the worker processes (queued decodes are dropped); the next decode restarts them."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._pending.clear()
        if pool is not None:
            pool.close()

    def _submit(self, pool: WorkerPool, job: Job, name: str, decoder: str) -> Future[Any]:
        # callers pass this module's globals, read at each call: a test's replacement reaches the workers
        return pool.submit(job, name, self.preprocessing, self.protocol, decoder)


def prestart(options: RunOptions) -> None:
    """With workers, start their process server now, loading torch and the decoders, and return.

    Its imports then run while the caller imports torch and loads a model, instead of after.
    """
    if options.workers >= 1:
        start_server(PRELOAD)


def decode_job(
    path: str, prep: Preprocessing, protocol: ViewProtocol, decoder: str
) -> tuple[torch.Tensor, Any, Any, float]:
    """One file's views: ``load_views``, and the seconds it took (what a decode worker runs)."""
    from vidclass.video import load_views

    start = time.perf_counter()
    views, plan, info = load_views(path, prep, protocol, decoder=decoder)
    return views, plan, info, time.perf_counter() - start


def window_chunk(prep: Preprocessing, crops: int) -> int:
    """The default windows per chunk: as many as fit in ``WINDOW_CHUNK_BYTES`` of float32 views,
    from 1 to ``WINDOW_CHUNK`` (vidclass.defaults says why)."""
    view_bytes = 4 * 3 * prep.num_frames * prep.crop_size**2 * crops
    return max(1, min(WINDOW_CHUNK, WINDOW_CHUNK_BYTES // view_bytes))


def window_job(
    info: VideoInfo, windows: tuple[Window, ...], prep: Preprocessing, crops: int, decoder: str
) -> torch.Tensor:
    """One chunk of windows' views: ``load_window_views`` (what ``DecodeQueue.windows`` runs per chunk)."""
    from vidclass.video import load_window_views

    return load_window_views(info, windows, prep, crops, decoder=decoder)


def plan_job(path: str, prep: Preprocessing, protocol: ViewProtocol, decoder: str) -> tuple[Any, Any, float]:
    """One file's info and view plan, and the seconds they took (what ``DecodeQueue.plan`` runs)."""
    from vidclass.video import first_that_works, plan_views

    start = time.perf_counter()
    info = first_that_works(path, decoder, lambda chosen: chosen.probe(path))
    return info, plan_views(info, prep, protocol), time.perf_counter() - start


def failure_message(exc: BaseException) -> str:
    """The one-line error a failed decode puts in its record."""
    if isinstance(exc, WorkerTimeout):
        return f"decode timed out after {exc.seconds:g} s"
    if isinstance(exc, WorkerCrashed):
        return f"decoder crashed ({exc.signal or f'exit code {exc.exitcode}'})"
    return one_line(exc)


def one_line(exc: BaseException) -> str:
    """A one-line message for an exception; the type name is kept for unexpected ones."""
    from vidclass.video import VideoError

    message = " ".join(str(exc).split())
    if isinstance(exc, VideoError):
        return message or "cannot read video"
    kind = type(exc).__name__
    return f"{kind}: {message}" if message else kind


__all__ = [
    "DecodeQueue",
    "Decoded",
    "decode_job",
    "failure_message",
    "one_line",
    "plan_job",
    "prestart",
    "window_job",
]
