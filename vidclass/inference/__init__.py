"""Inference: a video's views through the model, into scores.

- ``RunOptions`` (``options.py``): every run setting, one frozen, validated record.
- ``DecodeQueue`` (``decode_queue.py``): the one decode queue, which owns the worker pool
  (``workers.py``, replies through ``handoff.py``), prefetch, the per-file timeout and the
  decord -> PyAV fallback.
- ``Predictor`` (``predictor.py``): runs the model on batches cut across videos
  (``batching.py``), at a precision (``precision.py``), optionally compiled
  (``compiling.py``), and aggregates each video's views into a ``Prediction``.
- ``predict`` (``api.py``): the library mirror of ``vidclass predict``.

The names below are imported on first use (PEP 562), as ``vidclass``'s are: ``RunOptions``
and the decode queue's process server can be set up before torch is imported, so that the
decode workers' start-up runs beside the command's own imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports these
    from vidclass.inference.api import predict
    from vidclass.inference.compiling import CompileError
    from vidclass.inference.decode_queue import DecodeQueue
    from vidclass.inference.options import OptionsError, RunOptions
    from vidclass.inference.predictor import Predictor, resolve_device

_LAZY = {
    "predict": "vidclass.inference.api",
    "CompileError": "vidclass.inference.compiling",
    "DecodeQueue": "vidclass.inference.decode_queue",
    "OptionsError": "vidclass.inference.options",
    "RunOptions": "vidclass.inference.options",
    "Predictor": "vidclass.inference.predictor",
    "resolve_device": "vidclass.inference.predictor",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = ["CompileError", "DecodeQueue", "OptionsError", "Predictor", "RunOptions", "predict", "resolve_device"]
