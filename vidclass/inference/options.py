"""``RunOptions``: every setting of an inference run, in one frozen, validated record.

The command line builds one from its options (``vidclass predict``, ``vidclass eval``), a
library caller builds one or passes the same keywords (``RunOptions.build``), and it travels
down whole: to the ``Predictor`` (model, precision, batching, scores) and to its
``DecodeQueue`` (decoder, workers, timeout). The defaults are ``vidclass.defaults``'s, the same
values ``--help`` shows; a bad value raises ``OptionsError`` here, before any work starts.
The accepted ranges are ``vidclass.defaults``' bounds (``MAX_CLIPS``, ``CROPS``,
``MAX_BATCH_SIZE``, ``MAX_TOP_K``, ``MAX_WORKERS``, ``MAX_TIMEOUT``), the ones the command line
enforces when it parses its options: a count is an ``int`` within its range, and ``timeout`` a
finite number of seconds (an infinite or NaN timeout is refused; None means no limit).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

from vidclass.defaults import (
    CROPS,
    DECODERS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_THRESHOLD,
    DEFAULT_TIMEOUT,
    DEFAULT_TOP_K,
    MAX_BATCH_SIZE,
    MAX_CLIPS,
    MAX_TIMEOUT,
    MAX_TOP_K,
    MAX_WORKERS,
    RUNTIMES,
)
from vidclass.errors import VidclassError, require
from vidclass.inference.workers import DEFAULT_MAX_TASKS
from vidclass.protocol import Aggregate


class OptionsError(VidclassError, ValueError):
    """A run setting that cannot work (exit status 2)."""


@dataclass(frozen=True)
class RunOptions:
    """How videos are decoded, batched, run through the model and scored.

    - ``device``: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``; resolved
      against the machine by the ``Predictor``.
    - ``batch_size``: views per forward pass, cut across consecutive videos.
    - ``clips``, ``crops``, ``aggregate``: override the model file's view protocol when set.
    - ``top_k``: labels reported per video.
    - ``threshold``: a multi-label model's records also list every label whose probability is
      at least this (from 0 to 1); a single-label model's ignore it.
    - ``decoder``: ``auto`` (decord, then PyAV when decord fails), ``decord`` or ``pyav``.
    - ``workers``: decode worker processes (0 decodes in this process); ``timeout``: seconds a
      worker may spend on one file (None: no limit); ``max_tasks``: files per worker process.
    - ``verbose``: let the decoders' own log lines (FFmpeg, decord) through to stderr; by
      default the workers discard them (see ``vidclass.inference.decode_queue``).
    - ``precision``: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (see ``vidclass.precision``).
    - ``compile``: run the model through ``torch.compile`` (static shapes).
    - ``runtime``: ``torch``, or ``onnxruntime``: the model exported to ONNX
      (``vidclass.export``) and run by onnxruntime, on the CPU in fp32 (so ``device`` must be
      ``auto`` or ``cpu``, ``precision`` ``auto`` or ``fp32``, and ``compile`` off).
    """

    device: Any = "auto"  # a name, or a torch.device
    batch_size: int = DEFAULT_BATCH_SIZE
    clips: int | None = None
    crops: int | None = None
    aggregate: Aggregate | None = None
    top_k: int = DEFAULT_TOP_K
    threshold: float = DEFAULT_THRESHOLD
    decoder: str = "auto"
    workers: int = 0
    timeout: float | None = DEFAULT_TIMEOUT
    max_tasks: int = DEFAULT_MAX_TASKS
    verbose: bool = False
    precision: str = "auto"
    compile: bool = False
    runtime: str = "torch"

    def __post_init__(self) -> None:
        if self.aggregate is not None and not isinstance(self.aggregate, Aggregate):
            try:
                object.__setattr__(self, "aggregate", Aggregate(self.aggregate))
            except ValueError as exc:
                raise OptionsError(str(exc)) from None
        if self.decoder not in DECODERS:
            raise OptionsError(f"unknown decoder {self.decoder!r}; choose from {', '.join(DECODERS)}")
        _count("workers", self.workers, 0, MAX_WORKERS)
        _count("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        _count("top_k", self.top_k, 1, MAX_TOP_K)
        real = isinstance(self.threshold, numbers.Real) and not isinstance(self.threshold, bool)
        require(
            real and 0.0 <= self.threshold <= 1.0,
            f"threshold must be a probability from 0 to 1, got {self.threshold!r}",
            OptionsError,
        )
        if self.clips is not None:
            _count("clips", self.clips, 1, MAX_CLIPS)
        if self.crops is not None:
            require(
                _is_int(self.crops) and self.crops in CROPS,
                f"crops must be {' or '.join(map(str, CROPS))}, got {self.crops!r}",
                OptionsError,
            )
        if self.timeout is not None:
            number = isinstance(self.timeout, numbers.Real) and not isinstance(self.timeout, bool)
            require(
                number and math.isfinite(self.timeout) and 0 < self.timeout <= MAX_TIMEOUT,
                f"timeout must be a number of seconds > 0 and <= {MAX_TIMEOUT:g}, got {self.timeout!r}",
                OptionsError,
            )
        _count("max_tasks", self.max_tasks, 1, None)
        require(
            self.runtime in RUNTIMES,
            f"unknown runtime {self.runtime!r}; choose from {', '.join(RUNTIMES)}",
            OptionsError,
        )
        if self.runtime == "onnxruntime":
            require(
                str(self.device) in ("auto", "cpu"),
                "--runtime onnxruntime runs on the CPU: drop --device",
                OptionsError,
            )
            require(
                self.precision in ("auto", "fp32"), "--runtime onnxruntime runs in fp32: drop --precision", OptionsError
            )
            require(not self.compile, "--runtime onnxruntime and --compile contradict each other", OptionsError)

    @classmethod
    def build(cls, options: RunOptions | None = None, **changes: Any) -> RunOptions:
        """``options`` (or the defaults) with ``changes`` applied: what the library's keywords
        build. An unknown keyword is a ``TypeError``, as for any function."""
        base = options if options is not None else cls()
        return dataclasses.replace(base, **changes) if changes else base

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with ``changes``, validated again."""
        return dataclasses.replace(self, **changes)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _count(name: str, value: Any, low: int, high: int | None) -> None:
    """``OptionsError`` unless ``value`` is an ``int`` from ``low`` to ``high`` (None: no bound)."""
    within = _is_int(value) and value >= low and (high is None or value <= high)
    bound = f">= {low}" if high is None else f"from {low} to {high}"
    require(within, f"{name} must be a whole number {bound}, got {value!r}", OptionsError)


__all__ = ["DEFAULT_MAX_TASKS", "OptionsError", "RunOptions"]
