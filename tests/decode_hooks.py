"""Sabotage for decode workers, injected by tests only.

``install(monkeypatch)`` replaces the decode queue's ``decode_job`` (what each worker runs for
a file) with ``sabotaged_decode_job``, and its ``plan_job`` (what ``vidclass info`` runs) with
``sabotaged_plan_job``, and its ``window_job`` with ``sabotaged_window_job``; each calls ``sabotage(path, decoder)`` first: a file
whose name contains "crash" kills the worker with SIGSEGV, one containing "hang" sleeps for
an hour. "decordcrash" crashes only when decord would read it (decoder "auto" or "decord"),
like a file that crashes decord but not PyAV. The workers receive the function by name, so
they import this module. ``main()`` runs the ``vidclass`` command line sabotaged, for tests
that need a real process (``python -c "from tests.decode_hooks import main; main()" ARGS``).
"""

from __future__ import annotations

import os
import signal
import time

from vidclass.inference import decode_queue

_REAL_DECODE_JOB = decode_queue.decode_job
_REAL_PLAN_JOB = decode_queue.plan_job
_REAL_WINDOW_JOB = decode_queue.window_job
SABOTAGED_CLI = "import sys; from tests.decode_hooks import main; sys.argv[0] = 'vidclass'; main()"


def install(monkeypatch) -> None:
    monkeypatch.setattr(decode_queue, "decode_job", sabotaged_decode_job)
    monkeypatch.setattr(decode_queue, "plan_job", sabotaged_plan_job)
    monkeypatch.setattr(decode_queue, "window_job", sabotaged_window_job)


def sabotaged_decode_job(path, prep, protocol, decoder):
    sabotage(path, decoder)
    return _REAL_DECODE_JOB(path, prep, protocol, decoder)


def sabotaged_plan_job(path, prep, protocol, decoder):
    sabotage(path, decoder)
    return _REAL_PLAN_JOB(path, prep, protocol, decoder)


def sabotaged_window_job(info, windows, prep, crops, decoder):
    """A window chunk: sabotaged as a file is, but only from the chunk holding window 2 on
    (a decoder that fails mid-file, after some chunks came back)."""
    if windows[-1].index >= 2:
        sabotage(info.path, decoder)
    return _REAL_WINDOW_JOB(info, windows, prep, crops, decoder)


def main() -> None:
    from vidclass.cli.main import main as cli

    decode_queue.decode_job = sabotaged_decode_job
    decode_queue.plan_job = sabotaged_plan_job
    cli()


def sabotage(path: str, decoder: str) -> None:
    name = os.path.basename(path)
    if "decordcrash" in name:
        if decoder != "pyav":
            os.kill(os.getpid(), signal.SIGSEGV)
    elif "crash" in name:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "hang" in name:
        time.sleep(3600)


_LEAKED: list[bytearray] = []


def leak(size: int) -> int:
    """Keep ``size`` bytes alive in this worker (touched, so resident); returns the pid."""
    block = bytearray(size)
    block[::4096] = b"\x01" * len(block[::4096])
    _LEAKED.append(block)
    return os.getpid()
