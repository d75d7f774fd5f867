"""The decoders by name, and the one place that says which to try, in which order.

``DECODERS`` are the choices a user has: ``"auto"``, ``"decord"``, ``"pyav"``. ``"auto"`` means
decord first (fast, random access), then PyAV (sequential, but it counts the frames it really
decodes). ``decoders_for(choice)`` gives that order; ``first_that_works`` runs a step with each
decoder in turn until one succeeds. The decode queue, which retries a file whose decoder crashed
its worker, follows the same order through ``decoders_for``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TypeVar

import torch

from vidclass.defaults import DECODERS
from vidclass.video import decord_decoder, pyav_decoder
from vidclass.video.base import Decoder, PlanFor, VideoError, VideoInfo
from vidclass.video.containers import readable_file

T = TypeVar("T")


@dataclass(frozen=True)
class ModuleDecoder:
    """A decoder module (its ``probe`` and ``read_frames`` functions) as a ``Decoder``.

    The functions are looked up on each call, so a test that replaces one in the module
    reaches every caller.
    """

    name: str
    module: ModuleType

    def probe(self, path: str | os.PathLike[str]) -> VideoInfo:
        info: VideoInfo = self.module.probe(path)
        return info

    def read_frames(
        self,
        path: str | os.PathLike[str],
        indices: Sequence[int],
        size_hw: tuple[int, int] | None = None,
        timestamps: Sequence[float] | None = None,
    ) -> torch.Tensor:
        if timestamps is None:
            frames: torch.Tensor = self.module.read_frames(path, indices, size_hw)
        else:
            frames = self.module.read_frames(path, indices, size_hw, timestamps=timestamps)
        return frames

    def probe_and_read(self, path: str | os.PathLike[str], plan_for: PlanFor) -> tuple[VideoInfo, torch.Tensor]:
        loaded: tuple[VideoInfo, torch.Tensor] = self.module.probe_and_read(path, plan_for)
        return loaded


_REGISTRY: dict[str, Decoder] = {
    decoder.name: decoder for decoder in (ModuleDecoder("decord", decord_decoder), ModuleDecoder("pyav", pyav_decoder))
}
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
    failures: list[VideoError | ValueError] = []
    for decoder in decoders:
        try:
            return attempt(decoder)
        except (VideoError, ValueError) as exc:
            failures.append(exc)
    raise failures[0]


__all__ = ["DECODERS", "Decoder", "ModuleDecoder", "decoders_for", "first_that_works", "get_decoder"]
