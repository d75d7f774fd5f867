"""Sabotage for decode workers, named by ``$VIDCLASS_DECODE_HOOK`` in tests only.

``sabotage(path, decoder)`` runs in the worker before each file is decoded: a file whose
name contains "crash" kills the worker with SIGSEGV, one containing "hang" sleeps for an
hour. "decordcrash" crashes only when decord would read it (decoder "auto" or "decord"),
like a file that crashes decord but not PyAV.
"""

from __future__ import annotations

import os
import signal
import time

HOOK = "tests.decode_hooks:sabotage"


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
