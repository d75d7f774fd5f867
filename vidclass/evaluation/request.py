"""What an evaluation is asked to do, checked once: ``Request``, ``EvalError`` and ``Listener``.

``Request.build`` turns ``evaluate``'s keywords into one frozen record and refuses, with an
``EvalError``, what cannot run (``--resume`` without ``--output``, a bad shard, a limit of 0),
before any model is loaded or file touched. A ``Listener`` is what the caller hears while the
evaluation runs; the command line shows it on stderr.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from vidclass.data import parse_shard
from vidclass.errors import VidclassError

PREDICTIONS = "predictions.jsonl"


class EvalError(VidclassError, ValueError):
    """An evaluation that cannot run as asked (exit 2); the message is one line."""


class Listener:
    """What an evaluation tells its caller as it goes; the command line shows it on stderr."""

    def start(self, total: int, done: int, description: str) -> None:
        """``total`` videos in this evaluation, ``done`` of them already recorded."""

    def record(self, record: dict[str, Any]) -> None:
        """A record was just written (called on rank 0 only, one at a time)."""

    def note(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass(frozen=True)
class Request:
    """Which videos to evaluate and where the results go (``evaluate``'s keywords, checked)."""

    dataset: str
    annotations: str | None = None
    classes: str | None = None  # a class list (Charades' 'ID name' lines) naming the dataset's label ids
    layout: str = "auto"
    ignore_unknown: bool = False
    allow_outside_root: bool = False  # read annotation paths that lead outside the dataset root
    limit: int | None = None
    shard: tuple[int, int] | None = None  # (index, count), index counting from 0
    output: str | None = None
    resume: bool = False
    overwrite: bool = False
    save_scores: bool = False

    @classmethod
    def build(
        cls,
        dataset: str | os.PathLike[str],
        *,
        annotations: str | os.PathLike[str] | None = None,
        classes: str | os.PathLike[str] | None = None,
        layout: str = "auto",
        ignore_unknown: bool = False,
        allow_outside_root: bool = False,
        limit: int | None = None,
        shard: str | tuple[int, int] | None = None,
        output: str | os.PathLike[str] | None = None,
        resume: bool = False,
        overwrite: bool = False,
        save_scores: bool = False,
    ) -> Request:
        out = os.fspath(output) if output is not None else None
        if resume and out is None:
            raise EvalError("--resume needs --output DIR (the folder holding predictions.jsonl)")
        if resume and overwrite:
            raise EvalError("--resume and --overwrite contradict each other")
        if limit is not None and limit < 1:
            raise EvalError("--limit must be at least 1")
        return cls(
            dataset=os.fspath(dataset),
            annotations=os.fspath(annotations) if annotations is not None else None,
            classes=os.fspath(classes) if classes is not None else None,
            layout=layout,
            ignore_unknown=ignore_unknown,
            allow_outside_root=allow_outside_root,
            limit=limit,
            shard=_shard(shard),
            output=out,
            resume=resume,
            overwrite=overwrite,
            save_scores=save_scores,
        )


def _shard(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    if shard is None:
        return None
    if isinstance(shard, str):
        try:
            return parse_shard(shard)
        except ValueError as exc:
            raise EvalError(str(exc)) from exc
    index, count = int(shard[0]), int(shard[1])
    if not 0 <= index < count:
        raise EvalError(f"shard index counts from 0: I must be below N={count}, got {index}")
    return index, count


__all__ = ["PREDICTIONS", "EvalError", "Listener", "Request"]
