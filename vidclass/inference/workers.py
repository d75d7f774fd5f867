"""A small pool of worker processes that isolates work that can crash, hang or leak.

Decoders (decord above all, see docs/reliability.md) can segfault on corrupt files, loop
forever holding the GIL, or grow memory. ``WorkerPool`` runs each job in a separate process:

- ``submit(fn, *args)`` returns a ``concurrent.futures.Future``; ``fn`` must be a
  module-level function (it is pickled by name), its arguments and result picklable.
  ``submit`` is thread-safe, so several threads may feed one pool.
- A job that runs past ``timeout`` seconds gets ``WorkerTimeout``; a worker that dies (a
  signal, ``os._exit``) gets ``WorkerCrashed``. Either way the process is killed, a fresh one
  replaces it for the next job, and the other jobs are unaffected. An exception ``fn`` raises
  is re-raised by ``Future.result()`` as is.
- Workers are recycled after ``max_tasks`` jobs, or when their resident memory has grown
  more than ``max_rss_growth`` bytes since their first job, so leaks cannot accumulate.
- Processes come from the ``forkserver`` context on Linux (each worker is forked from a clean
  server that has imported the caller's ``preload`` modules (the decode queue's: torch and
  decord) but opened nothing: decord deadlocks when readers opened in a parent cross a fork,
  dmlc/decord#294) and ``spawn`` elsewhere.
  ``prestart(preload)`` starts that server ahead of the first job, so that its imports run
  while the caller does its own work (loading a model).
  Workers run torch on one thread; the server and its workers keep SIGINT and SIGTERM
  blocked (``start_server``): Ctrl-C and a SIGTERM to the process group reach the parent
  alone, which ``close()``s the pool. Their stderr goes to /dev/null (FFmpeg and decord log there, and
  the parent reports each failure itself) unless the pool is made with ``keep_stderr``
  (``--verbose``) or ``$VIDCLASS_WORKER_STDERR`` is set.
- A worker whose parent dies (SIGKILL, SIGTERM) kills itself at once, even mid-job, so a
  killed command leaves no decoder running (one caught in a loop that never releases the GIL
  cannot run the thread that watches, and lingers).

One parent-side thread per worker hands jobs over a pipe and waits with the timeout.
Replies travel as ``vidclass.inference.handoff`` sends them: pickled, with large tensors in
anonymous memory files that nothing can leave behind.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import Any

from vidclass.defaults import DEFAULT_TIMEOUT
from vidclass.inference import handoff
from vidclass.inference.handoff import SHM_MIN_BYTES

DEFAULT_MAX_TASKS = 200  # jobs per worker process before it is replaced
DEFAULT_MAX_RSS_GROWTH = 1 << 30  # bytes of RSS growth since the first job before replacement
STARTUP_TIMEOUT = 120.0  # seconds a new worker may take to import its modules
STDERR_ENV = "VIDCLASS_WORKER_STDERR"  # set: workers keep stderr (for debugging decoders)
_STOP = b""
_Job = tuple[Future, Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class WorkerError(Exception):
    """A job lost with its worker process."""


class WorkerCrashed(WorkerError):
    """The worker process died while running the job; ``signal`` names the signal, if any."""

    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode
        self.signal = _signal_name(-exitcode) if exitcode is not None and exitcode < 0 else None
        how = f"signal {self.signal}" if self.signal else f"exit code {exitcode}"
        super().__init__(f"worker process died ({how})")


class WorkerTimeout(WorkerError):
    """The job ran past the timeout and its worker was killed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"timed out after {seconds:g} s")


def context(preload: tuple[str, ...] = ()) -> ForkServerContext | SpawnContext:
    """forkserver on Linux (with the ``preload`` modules imported in the server), spawn elsewhere."""
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return multiprocessing.get_context("spawn")


def prestart(preload: tuple[str, ...] = ()) -> None:
    """Start the process server (forkserver, on Linux) now, importing ``preload``, without waiting.

    Its imports (seconds, for torch) then run beside the caller's own work, and the first
    worker forks from a ready server. A pool made later with the same ``preload`` uses it.
    Elsewhere (spawn) there is no server and this does nothing.
    """
    start_server(context(preload))


def start_server(ctx: ForkServerContext | SpawnContext) -> None:
    """Start ``ctx``'s process server if it is not running (forkserver; spawn has none), with
    SIGINT and SIGTERM blocked: the server and every worker forked from it keep them blocked, so
    Ctrl-C (sent to the whole process group) and a SIGTERM to the group reach the command alone,
    which ends its workers itself; the server, importing torch for seconds, would otherwise print
    a traceback. Blocked in this thread for the start only: a signal then is delayed, not lost."""
    if not isinstance(ctx, ForkServerContext):
        return
    from multiprocessing import forkserver, resource_tracker

    resource_tracker.ensure_running()  # first: starting it unblocks both signals when done
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


class WorkerPool:
    """``workers`` processes running submitted jobs; see the module docstring."""

    def __init__(
        self,
        workers: int,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_tasks: int = DEFAULT_MAX_TASKS,
        max_rss_growth: int | None = DEFAULT_MAX_RSS_GROWTH,
        preload: tuple[str, ...] = (),
        keep_stderr: bool = False,
    ) -> None:
        if workers < 1:  # the caller's settings are validated (RunOptions); this is the pool's own rule
            raise ValueError("workers must be >= 1")
        self.timeout = timeout
        self.max_tasks = max_tasks
        self.max_rss_growth = max_rss_growth
        self.keep_stderr = keep_stderr or bool(os.environ.get(STDERR_ENV))
        self.started = 0  # worker processes started so far (replacements included)
        self.recycled = 0  # workers retired by max_tasks or memory growth
        self._ctx = context(preload)
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self._slots = [_Slot(self, i) for i in range(workers)]
        for slot in self._slots:
            slot.thread.start()

    @property
    def workers(self) -> int:
        return len(self._slots)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
            self._jobs.put((future, fn, args, kwargs))
        return future

    def pids(self) -> list[int]:
        """The live worker processes' ids (for tests and diagnostics)."""
        return [slot.process.pid for slot in self._slots if slot.process is not None and slot.process.pid]

    def close(self, wait: float = 5.0) -> None:
        """Cancel queued jobs, end every worker (killing busy ones) and stop the threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self._slots:
            self._jobs.put(None)
        for slot in self._slots:
            slot.kill()
        for slot in self._slots:
            slot.thread.join(wait)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Slot:
    """One worker process and the parent thread that feeds it."""

    def __init__(self, pool: WorkerPool, index: int) -> None:
        self.pool = pool
        self.process: Any = None
        self.conn: Any = None
        self.tasks = 0
        self.base_rss: int | None = None
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.loop, name=f"vidclass-worker-{index}", daemon=True)

    def loop(self) -> None:
        while True:
            job = self.pool._jobs.get()
            if job is None:
                break
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = self.run(fn, args, kwargs)
            except BaseException as exc:  # noqa: BLE001 - every failure belongs to the job's future
                future.set_exception(exc)
            else:
                future.set_result(result)
        self.stop()

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        conn = self.ensure_started()
        try:
            conn.send_bytes(pickle.dumps((fn, args, kwargs), protocol=5))
        except (BrokenPipeError, EOFError, OSError):  # died while idle: a fresh one, once
            self.kill()
            conn = self.ensure_started()
            conn.send_bytes(pickle.dumps((fn, args, kwargs), protocol=5))
        try:
            ready = conn.poll(self.pool.timeout)
        except (EOFError, OSError):
            ready = True
        if not ready:
            self.kill()
            raise WorkerTimeout(self.pool.timeout or 0)
        try:
            status, value, rss = handoff.recv(conn)
        except (EOFError, OSError):
            raise WorkerCrashed(self.kill()) from None
        self.tasks += 1
        if self.base_rss is None:
            self.base_rss = rss
        grown = self.pool.max_rss_growth is not None and rss - self.base_rss > self.pool.max_rss_growth
        if self.tasks >= self.pool.max_tasks or grown:
            self.pool.recycled += 1
            self.stop()
        if status == "error":
            raise value
        return value

    def ensure_started(self) -> Any:
        with self.lock:
            if self.process is not None:
                return self.conn
            if self.pool._closed:
                raise RuntimeError("the worker pool is closed")
            start_server(self.pool._ctx)  # if it is not running yet (or any more)
            parent, child = self.pool._ctx.Pipe(duplex=True)
            process = self.pool._ctx.Process(
                target=_worker_main, args=(child, self.pool.keep_stderr), daemon=True, name="vidclass-decoder"
            )
            process.start()
            child.close()
            self.process, self.conn, self.tasks, self.base_rss = process, parent, 0, None
            self.pool.started += 1
        if not parent.poll(STARTUP_TIMEOUT):
            self.kill()
            raise WorkerError("worker process did not start")
        try:
            parent.recv_bytes()  # the worker's "ready"
        except (EOFError, OSError):
            raise WorkerCrashed(self.kill()) from None
        return parent

    def stop(self) -> None:
        """End the worker gracefully (it finishes nothing: it is idle), killing it if it lingers."""
        with self.lock:
            process, conn = self.process, self.conn
            if process is None:
                return
            try:
                conn.send_bytes(_STOP)
            except OSError:
                pass
        process.join(2.0)
        self.kill()

    def kill(self) -> int | None:
        """Kill the worker now; returns its exit code."""
        with self.lock:
            process, conn = self.process, self.conn
            self.process = self.conn = None
        if process is None:
            return None
        if process.is_alive():
            process.kill()
        process.join(5.0)
        code = process.exitcode
        conn.close()
        process.close() if code is not None else None
        return code


SIGNAL_POLL = 0.2  # seconds between the main thread's checks for Ctrl-C while it waits


def wait_result(future: Future[Any]) -> Any:
    """``future.result()``, waited for in short slices so that Ctrl-C is always seen.

    A plain blocking wait is woken by SIGINT only if the kernel delivers the signal to the
    main thread itself; delivered to one of the pool's threads (or torch's), it only sets
    Python's flag, and the main thread would sleep on until the decode ended (up to the
    whole ``--timeout``). Waking every ``SIGNAL_POLL`` s lets the interpreter raise
    ``KeyboardInterrupt`` whichever thread took the signal.
    """
    while True:
        done, _ = wait([future], timeout=SIGNAL_POLL)
        if done:
            return future.result()


def _worker_main(conn: Any, keep_stderr: bool) -> None:
    """The worker process: run pickled ``(fn, args)`` jobs until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent()
    if not keep_stderr:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)  # FFmpeg's and decord's own log lines would break "one line per error"
        os.close(devnull)
    import torch

    torch.set_num_threads(1)
    conn.send_bytes(b"ready")
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if message == _STOP:
            return
        fn, args, kwargs = pickle.loads(message)
        try:
            reply: tuple[str, Any] = ("ok", fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - the parent re-raises it
            reply = ("error", exc)
        try:
            handoff.send(conn, (*reply, _rss()))
        except OSError:  # the parent is gone
            return
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
            handoff.send(conn, ("error", RuntimeError(f"{type(exc).__name__}: {exc}"), _rss()))


def _die_with_parent() -> None:
    """Kill this worker as soon as the process that started it is gone, whatever it is doing.

    A parent killed by SIGKILL cannot end its workers; without this, a busy one would decode
    on (or hang) with no one to report to. ``parent_process().sentinel`` turns ready when the
    parent's end of the start-up pipe closes, which the kernel does when the parent dies.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="vidclass-parent-watch", daemon=True).start()


def _rss() -> int:
    """This process's resident set size in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


__all__ = [
    "DEFAULT_MAX_RSS_GROWTH",
    "DEFAULT_MAX_TASKS",
    "DEFAULT_TIMEOUT",
    "SHM_MIN_BYTES",
    "WorkerCrashed",
    "WorkerError",
    "WorkerPool",
    "WorkerTimeout",
    "context",
    "prestart",
    "start_server",
]
