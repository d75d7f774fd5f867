"""What every decoder shares: ``VideoInfo``, ``VideoError``, the ``Decoder`` interface, and the
timeline and output checks both implementations apply.

A decoder (``vidclass.video.decord_decoder``, ``vidclass.video.pyav_decoder``) has a ``name``,
``probe(path) -> VideoInfo`` and ``read_frames(path, indices, size_hw=None, timestamps=None)`` returning uint8
(N, H, W, 3) frames in the order asked. ``vidclass.video.decoders`` names them and holds the
fallback order.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from vidclass.errors import InputError
from vidclass.video.sampling import frame_size_problem

# Timestamps beyond this many seconds (about 115 days) are garbage from packets without a
# presentation time (H.264 in AVI, some Matroska files), not real times.
_MAX_PLAUSIBLE_SECONDS = 1e7
_TIMESTAMP_DECIMALS = 6  # decord reports float32 seconds; keep microseconds, drop the noise
MESSAGE_CHARS = 160  # longest reason a decoder error message carries
NOT_A_VIDEO = "not a video file, or an unsupported format"


class VideoError(InputError):
    """A video file that cannot be read; ``str(error)`` is one readable line.

    An ``InputError``: in a batch it costs only its file (exit status 1).
    """


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` learns about a video.

    ``timestamps`` are each frame's start time in seconds and ``duration`` the end time of
    the last frame. ``width`` and ``height`` are those of the decoded frames. ``codec`` is
    the stream's codec name, or "unknown" when PyAV is not installed.
    """

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    duration: float
    codec: str
    timestamps: tuple[float, ...]
    decoder: str = "decord"  # which decoder read this video: "decord" or "pyav"


# What a caller wants read from a probed video: the frame indices and the size to scale them to.
PlanFor = Callable[[VideoInfo], tuple[Sequence[int], tuple[int, int] | None]]


class Decoder(Protocol):
    """One way of reading videos; every failure caused by the file is a ``VideoError``."""

    @property
    def name(self) -> str:
        """``"decord"`` or ``"pyav"``, as in ``VideoInfo.decoder``."""
        ...

    def probe(self, path: str | os.PathLike[str]) -> VideoInfo:
        """Frame count, rate, timestamps, frame size and codec of ``path``."""
        ...

    def read_frames(
        self,
        path: str | os.PathLike[str],
        indices: Sequence[int],
        size_hw: tuple[int, int] | None = None,
        timestamps: Sequence[float] | None = None,
    ) -> torch.Tensor:
        """Frames ``indices`` as uint8 (N, H, W, 3), in the order given, scaled to ``size_hw``.

        ``timestamps`` (the probe's ``VideoInfo.timestamps``) are a hint: a sequential decoder
        may use them to start near the first wanted frame; the frames returned are the same."""
        ...

    def probe_and_read(self, path: str | os.PathLike[str], plan_for: PlanFor) -> tuple[VideoInfo, torch.Tensor]:
        """``probe(path)``, then ``read_frames(path, *plan_for(info))``: the same info and frames,
        from fewer opens (decord) or one decoding pass (PyAV)."""
        ...


def wanted_indices(indices: Sequence[int]) -> list[int]:
    """``indices`` as a list of ints; ``ValueError`` when there are none."""
    wanted = [int(i) for i in indices]
    if not wanted:
        raise ValueError("read_frames needs at least one frame index")
    return wanted


def timeline(raw_times: np.ndarray, fps: float) -> tuple[tuple[float, ...], float]:
    """(frame start times, duration) from decord's (N, 2) start/end times, or ``i / fps``."""
    if _plausible(raw_times):
        rounded = np.round(raw_times, _TIMESTAMP_DECIMALS)  # (N, 2)
        return tuple(float(t) for t in rounded[:, 0]), float(rounded[-1, 1])
    if not (math.isfinite(fps) and fps > 0):
        raise VideoError("cannot read frame times or frame rate")
    count = raw_times.shape[0]
    starts = tuple(round(i / fps, _TIMESTAMP_DECIMALS) for i in range(count))
    return starts, round(count / fps, _TIMESTAMP_DECIMALS)


def _plausible(raw_times: np.ndarray) -> bool:
    """True if (N, 2) start/end times are finite, in range, ordered and span some time."""
    if raw_times.ndim != 2 or raw_times.shape[0] == 0 or raw_times.shape[1] != 2:
        return False
    starts = raw_times[:, 0]
    return bool(
        np.isfinite(raw_times).all()
        and (raw_times >= 0).all()
        and (raw_times < _MAX_PLAUSIBLE_SECONDS).all()
        and (np.diff(starts) >= 0).all()
        and raw_times[-1, 1] > starts[0]
    )


def frame_rate(fps: float, num_frames: int, duration: float) -> float:
    """decord's average rate, or frames per second of the timeline when that is unusable."""
    if math.isfinite(fps) and fps > 0:
        return fps
    if duration > 0:
        return num_frames / duration
    raise VideoError("cannot read frame rate")


def check_frame_size(width: int, height: int) -> None:
    """``VideoError`` for a frame too large or too elongated to decode (``frame_size_problem``)."""
    problem = frame_size_problem(width, height)
    if problem is not None:
        raise VideoError(problem)


def check_batch(frames: torch.Tensor, count: int, size_hw: tuple[int, int] | None) -> None:
    """``VideoError`` unless ``frames`` is uint8 (count, H, W, 3), (H, W) being ``size_hw`` if given."""
    expected_hw = tuple(size_hw) if size_hw is not None else tuple(frames.shape[1:3])
    if frames.dtype != torch.uint8 or tuple(frames.shape) != (count, *expected_hw, 3):
        raise VideoError(
            f"decoder returned {tuple(frames.shape)} {frames.dtype}, "
            f"expected ({count}, {expected_hw[0]}, {expected_hw[1]}, 3) uint8"
        )


__all__ = [
    "MESSAGE_CHARS",
    "NOT_A_VIDEO",
    "Decoder",
    "PlanFor",
    "VideoError",
    "VideoInfo",
    "check_batch",
    "check_frame_size",
    "frame_rate",
    "timeline",
    "wanted_indices",
]
