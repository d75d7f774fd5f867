"""``--compile``: run the model through ``torch.compile``, compiled once, up front.

``compile_model`` compiles with ``dynamic=False``: one graph for one input shape. Every new
batch size would compile another graph (seconds each), so the ``Predictor`` only ever feeds a
compiled model batches of exactly ``batch_size`` views: batches are cut across videos, and the
last one of a run is padded (``vidclass.inference.batching``). The graph is compiled before the
first video, by a warm-up call on a batch of that shape, so a failure to compile (no C++
compiler for the CPU backend, an operator the compiler cannot handle) is a ``CompileError``
with a one-line message at start-up, never a failure in the middle of a run. Compiled fp32
logits are not bit-identical to the plain forward (the compiler fuses and reorders
operations); they agree to about 1e-6.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from vidclass.errors import VidclassError

# Loggers silenced while compiling, unless $TORCH_LOGS asks for torch's logs: a failure is
# reported in one line (the CompileError), not in the pages the compiler logs about it, and a
# warning such as "No CUDA runtime is found" (the C++ extension helper on a CPU-only machine)
# says nothing about the results.
QUIET_LOGGERS = ("torch._dynamo", "torch._inductor", "torch.utils.cpp_extension")
LOGS_ENV = "TORCH_LOGS"


class CompileError(VidclassError, RuntimeError):
    """``torch.compile`` could not compile the model (exit 2); the message is one line."""


def compile_model(model: torch.nn.Module, warm_up: Callable[[Callable[..., Any]], object]) -> tuple[Any, float]:
    """``torch.compile(model, dynamic=False)``, compiled now by ``warm_up(compiled)``.

    ``warm_up`` runs the compiled module on an input of the one shape it will see, in the
    same context (``inference_mode``, autocast) as the real calls. Returns the compiled module
    and the seconds compiling took; raises ``CompileError``.
    """
    compiled = torch.compile(model, dynamic=False)
    started = time.perf_counter()
    try:
        with _quiet():
            warm_up(compiled)
    except Exception as exc:  # noqa: BLE001 - whatever the compiler raises becomes one line
        raise CompileError(f"torch.compile failed: {first_line(exc)}") from exc
    return compiled, time.perf_counter() - started


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name when it has none)."""
    for line in str(exc).splitlines():
        if line.strip():
            return " ".join(line.split())
    return type(exc).__name__


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    if os.environ.get(LOGS_ENV):
        yield
        return
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


__all__ = ["CompileError", "compile_model", "first_line"]
