"""The decoders by name, and the one place that says which to try, in which order.

``DECODERS`` are the choices a user has: ``"auto"``, ``"decord"``, ``"pyav"``. ``"auto"`` means
decord first (fast, random access), then PyAV (sequential, but it counts the frames it really
decodes). ``decoders_for(choice)`` gives that order; ``first_that_works`` runs a step with each
decoder in turn until one succeeds. The engine, which retries a file whose decoder crashed its
worker, can follow the same order through ``decoders_for``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from vidclass.defaults import DECODERS
from vidclass.video.base import Decoder, VideoError
from vidclass.video.containers import readable_file
from vidclass.video.decord_decoder import DecordDecoder
from vidclass.video.pyav_decoder import PyAVDecoder

T = TypeVar("T")

_REGISTRY: dict[str, Decoder] = {decoder.name: decoder for decoder in (DecordDecoder(), PyAVDecoder())}
_AUTO = ("decord", "pyav")  # what "auto" tries, in order


def get_decoder(name: str) -> Decoder:
    """The decoder called ``name`` ("decord" or "pyav"); ``ValueError`` for any other name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown decoder {name!r}; choose from {', '.join(_REGISTRY)}") from None


def decoders_for(choice: str) -> tuple[Decoder, ...]:
    """The decoders to try for ``choice``, in order: "auto" is decord then PyAV, a name is itself.

    ``ValueError`` for a choice not in ``DECODERS``.
    """
    if choice not in DECODERS:
        raise ValueError(f"unknown decoder {choice!r}; choose from {', '.join(DECODERS)}")
    names = _AUTO if choice == "auto" else (choice,)
    return tuple(get_decoder(name) for name in names)


def first_that_works(path: str | os.PathLike[str], choice: str, attempt: Callable[[Decoder], T]) -> T:
    """``attempt(decoder)`` for each decoder of ``decoders_for(choice)`` until one succeeds.

    A ``VideoError`` or ``ValueError`` (fewer frames than promised) moves on to the next
    decoder; if every decoder fails, the first one's error is raised. With more than one
    decoder, ``path`` is checked first (missing, a directory, empty): no decoder can help then.
    """
    decoders = decoders_for(choice)
    if len(decoders) > 1:
        readable_file(path)
    failures: list[Exception] = []
    for decoder in decoders[:-1]:
        try:
            return attempt(decoder)
        except (VideoError, ValueError) as exc:
            failures.append(exc)
    try:
        return attempt(decoders[-1])
    except (VideoError, ValueError):
        if not failures:
            raise
        raise failures[0] from None


__all__ = ["DECODERS", "Decoder", "decoders_for", "first_that_works", "get_decoder"]
