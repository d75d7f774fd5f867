"""How the ``vidclass`` command ends when it is stopped: Ctrl-C, SIGTERM, a closed pipe.

- Once ``handled`` is entered, Ctrl-C (SIGINT) raises ``KeyboardInterrupt`` in the main
  thread, as Python does, and SIGTERM ``Terminated``, a ``KeyboardInterrupt`` too; while a
  module is being imported or a finalizer runs, either waits for it to end (see ``RETRY``).
  Either way the command unwinds: its ``finally`` blocks and context managers run (the temporary beside a
  result file is removed, the worker processes are ended). What was streamed stays (``predict``'s
  jsonl and csv records, ``eval``'s predictions.jsonl); only Ctrl-C has ``predict`` write a json
  or table document of the results finished so far: after a SIGTERM, a ``--output`` file keeps
  its old content.
- It then ends with one line on stderr and the status a shell gives for the signal:
  ``error: interrupted`` and 130 for SIGINT, ``error: terminated`` and 143 for SIGTERM
  (``stop_word``, ``stop_status``). Inside the command, ``vidclass.cli.main.LazyGroup`` turns the
  interruption into a ``CliError`` that says so; ``handled`` says it for one that comes before
  (while Python imports click and the command line). Once the command has ended, while
  Python shuts down, both signals are ignored: the exit status is the command's.
- A closed pipe (``vidclass predict ... | head -1``) ends the command quietly with exit 0
  (``LazyGroup``): the reader wanted no more, which is no failed input.

Only the standard library and ``vidclass.errors`` are imported here: ``python -m vidclass``
enters ``handled`` before it imports click. Processes forked from the command (``synth``'s
renderers) inherit the SIGTERM handler; in them it ends the process as SIGTERM's default does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

from vidclass.errors import EXIT_INTERRUPTED, EXIT_TERMINATED


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread the way Ctrl-C raises ``KeyboardInterrupt``: every
    ``except KeyboardInterrupt`` and ``finally`` handles the two alike."""


def stop_word(exc: KeyboardInterrupt) -> str:
    """What stopped the command, for its one ``error:`` line."""
    return "terminated" if isinstance(exc, Terminated) else "interrupted"


def stop_status(exc: KeyboardInterrupt) -> int:
    """The command's exit status: 128 + the signal's number, as a shell reports it."""
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


_owner: int | None = None  # the process that entered handled(), while it is inside
_deferring = 0  # how many deferred() blocks the main thread is inside
_pending: type[KeyboardInterrupt] | None = None  # a stop held back until an import or finalizer has ended

# A stop that comes while a module is being imported, or while a finalizer runs (decord's
# VideoReader.__del__: Python prints "Exception ignored" and drops the exception, and a
# training run carried on), is held back until the main thread has left it. Raised inside an
# import, the KeyboardInterrupt does not always come out as itself. torch's C code
# imports numpy and clears an error raised there and goes on (the command then ran to its end
# as if never stopped, or failed later with an ImportError traceback: "cannot load module more
# than once per process"); Python turns one raised in a class's __set_name__ into a
# RuntimeError traceback. Imports take seconds at most (torch's); the held stop is tried again
# every RETRY seconds (SIGALRM) and raised once the main thread is out of both.
RETRY = 0.05


def _unsafe(frame: FrameType | None) -> bool:
    """Whether the main thread, at ``frame``, is somewhere a ``KeyboardInterrupt`` would not
    come out as itself: running a module's code for an import (the script being run,
    ``__main__``, is not an import) or the import system's own code, or a finalizer
    (``__del__``, a ``weakref.finalize`` callback, the import system's weakref callbacks), where
    Python prints "Exception ignored" and drops it, so the command ran on."""
    if _deferring:
        return True
    while frame is not None:
        code = frame.f_code
        module = frame.f_globals.get("__name__")
        if code.co_name == "<module>" and module != "__main__":
            return True
        if code.co_name == "__del__" or module in _UNSAFE_MODULES:
            return True
        frame = frame.f_back
    return False


# Modules whose every frame is an import or a finalizer: weakref's (weakref.finalize), and the
# import system's own, whose module locks are dropped by a weakref callback
# (importlib._bootstrap's _get_module_lock.<locals>.cb) that can run at any later moment, where
# a stop was printed as "Exception ignored" and lost: a timeline ran on for minutes.
_UNSAFE_MODULES = frozenset({"weakref", "importlib._bootstrap", "importlib._bootstrap_external"})


def _raise(kind: type[KeyboardInterrupt], frame: FrameType | None) -> None:
    """Raise ``kind`` now, or once the main thread has left the import or finalizer it is in
    (SIGALRM)."""
    global _pending
    if _unsafe(frame):
        _pending = _pending or kind
        signal.setitimer(signal.ITIMER_REAL, RETRY)
        return
    _pending = None
    raise kind


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _raise(KeyboardInterrupt, frame)


def _terminate(signum: int, frame: FrameType | None) -> None:
    if os.getpid() != _owner:  # a forked child of the command: SIGTERM's default, death
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _raise(Terminated, frame)


def _held(signum: int, frame: FrameType | None) -> None:
    if _pending is not None and os.getpid() == _owner:
        _raise(_pending, frame)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold a stop that comes inside the block until it is left (as one during an import).

    For work that runs Python code from C++ callbacks, where an exception raised in the
    callback can come out as another one: loading a model through torch and safetensors, where
    a SIGTERM half a second into ``predict`` once ended as a usage error about ``TypedStorage``
    instead of exit 143. The stop is raised at most ``RETRY`` seconds after the block ends."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1


def _ignore_stops() -> None:
    with contextlib.suppress(ValueError):
        signal.setitimer(signal.ITIMER_REAL, 0)
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Run the command line inside: Ctrl-C raises ``KeyboardInterrupt`` and SIGTERM
    ``Terminated`` (held back while a module is imported, see ``RETRY``); an
    interruption that reaches here (none from inside a command does) is one ``error:`` line and
    exit 130 or 143; when the block is left, both signals are ignored for the rest of the
    process's life. A signal ignored by whoever started the process (a shell's background job
    ignores SIGINT) stays ignored.

    Entered again (``python -m vidclass`` enters it, then the command line's group) or outside
    the main thread, it does nothing.
    """
    global _owner
    if _owner is not None or threading.current_thread() is not threading.main_thread():
        yield
        return
    _owner = os.getpid()
    for number, handler in ((signal.SIGINT, _interrupt), (signal.SIGTERM, _terminate)):
        if signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, handler)
    signal.signal(signal.SIGALRM, _held)
    try:
        yield
    except KeyboardInterrupt as exc:
        _ignore_stops()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"error: {stop_word(exc)}\n")
            sys.stderr.flush()
        sys.exit(stop_status(exc))
    finally:
        _ignore_stops()  # Python's shutdown runs next: a signal would only add a traceback
        _owner = None
        _forget_interrupts()


def _forget_interrupts() -> None:
    """Keep the exit status asked for. CPython remembers a ``KeyboardInterrupt`` that left code
    run by ``exec`` of a string (dataclasses and namedtuple build their methods so, while a
    module is imported), even one caught later, and at exit kills its own process with SIGINT
    instead of exiting with the status given to ``sys.exit``. The next such ``exec`` that ends
    without one forgets it."""
    exec("")  # noqa: S102 - an empty string: nothing runs


__all__ = ["Terminated", "deferred", "handled", "stop_status", "stop_word"]
