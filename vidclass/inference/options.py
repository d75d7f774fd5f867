"""``RunOptions``: every setting of an inference run, in one frozen, validated record.

The command line builds one from its options (``vidclass predict``, ``vidclass eval``), a
library caller builds one or passes the same keywords (``RunOptions.build``), and it travels
down whole: to the ``Predictor`` (model, precision, batching, scores) and to its
``DecodeQueue`` (decoder, workers, timeout). The defaults are ``vidclass.defaults``'s, the same
values ``--help`` shows; a bad value raises ``OptionsError`` here, before any work starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from vidclass.defaults import DECODERS, DEFAULT_BATCH_SIZE, DEFAULT_TIMEOUT, DEFAULT_TOP_K
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
    - ``decoder``: ``auto`` (decord, then PyAV when decord fails), ``decord`` or ``pyav``.
    - ``workers``: decode worker processes (0 decodes in this process); ``timeout``: seconds a
      worker may spend on one file (None: no limit); ``max_tasks``: files per worker process.
    - ``precision``: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (see ``vidclass.precision``).
    - ``compile``: run the model through ``torch.compile`` (static shapes).
    """

    device: Any = "auto"  # a name, or a torch.device
    batch_size: int = DEFAULT_BATCH_SIZE
    clips: int | None = None
    crops: int | None = None
    aggregate: Aggregate | None = None
    top_k: int = DEFAULT_TOP_K
    decoder: str = "auto"
    workers: int = 0
    timeout: float | None = DEFAULT_TIMEOUT
    max_tasks: int = DEFAULT_MAX_TASKS
    precision: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.aggregate is not None and not isinstance(self.aggregate, Aggregate):
            try:
                object.__setattr__(self, "aggregate", Aggregate(self.aggregate))
            except ValueError as exc:
                raise OptionsError(str(exc)) from None
        if self.decoder not in DECODERS:
            raise OptionsError(f"unknown decoder {self.decoder!r}; choose from {', '.join(DECODERS)}")
        require(self.workers >= 0, "workers must be >= 0", OptionsError)
        require(self.timeout is None or self.timeout > 0, "timeout must be > 0", OptionsError)
        require(self.max_tasks >= 1, "max_tasks must be >= 1", OptionsError)
        require(self.batch_size >= 1, "batch_size must be >= 1", OptionsError)
        require(self.top_k >= 1, "top_k must be >= 1", OptionsError)

    @classmethod
    def build(cls, options: RunOptions | None = None, **changes: Any) -> RunOptions:
        """``options`` (or the defaults) with ``changes`` applied: what the library's keywords
        build. An unknown keyword is a ``TypeError``, as for any function."""
        base = options if options is not None else cls()
        return dataclasses.replace(base, **changes) if changes else base

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with ``changes``, validated again."""
        return dataclasses.replace(self, **changes)


__all__ = ["DEFAULT_MAX_TASKS", "OptionsError", "RunOptions"]
