"""The decord decoder: fast random access; the first choice of ``"auto"``.

``probe`` and ``read_frames`` here (``vidclass.video.decoders`` registers them as the
``"decord"`` decoder). decord itself raises a mix of ``DECORDError``, ``RuntimeError``, ``AssertionError`` and
``StopIteration``; every such failure leaves here as a one-line ``VideoError``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import numpy as np
import torch  # before decord: importing decord first can deadlock DataLoader (dmlc/decord#251)

# isort: split
import decord

from vidclass.video.base import (
    MESSAGE_CHARS,
    NOT_A_VIDEO,
    PlanFor,
    VideoError,
    VideoInfo,
    check_batch,
    check_frame_size,
    frame_rate,
    timeline,
    wanted_indices,
)
from vidclass.video.containers import check_container, inspect_container, readable_file

T = TypeVar("T")

_DECORD_PREFIX = re.compile(r"^(?:\[[\d:]+\]\s+\S+:\d+:\s*)+")  # "[05:01:21] /src/x.cc:83: "
_PADDED_ROWS_ERROR = "DECORDArrayCopyFromTo"  # get_batch on padded rows, see _read_sequentially
# Substrings of decord's messages -> what they mean, for the one-line VideoError.
_KNOWN_REASONS = (
    ("cannot find video stream", "no video stream"),
    ("Invalid frame count", "no frames"),
    ("Error reading", NOT_A_VIDEO),
    ("Error sending packet", "corrupt video data"),
    ("Error getting frame", "frame cannot be decoded"),
)


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Open ``path``, read its frame count, rate, timestamps and frame size.

    Decodes the first frame (to learn the decoded size and to reject files that open but do
    not decode, or whose frames are too large or too elongated: ``check_frame_size``; the size
    the container declares was checked before decord opened it). When decord's timestamps are
    unusable, a constant-rate timeline ``i / fps`` is used instead.
    """
    name = readable_file(path)
    return _probe_opened(name, check_container(name))


def probe_and_read(path: str | os.PathLike[str], plan_for: PlanFor) -> tuple[VideoInfo, torch.Tensor]:
    """``probe``, then ``read_frames(path, *plan_for(info))``, from one decord reader.

    The frame size (as displayed) comes from the first frame PyAV decodes in the container check
    that runs before decord opens a file (``inspect_container``), so the reader can be opened
    already scaling to the plan's size; its frame count, timestamps, rate and first frame give
    the rest of the info, and its ``get_batch`` the frames. Without that size (PyAV could not
    decode a frame), or should the plan's size differ from the one the reader was opened at,
    it takes a second reader, as ``probe`` then ``read_frames`` do.
    """
    name = readable_file(path)
    codec, displayed = inspect_container(name)
    planned = _planned_size(name, codec, displayed, plan_for) if displayed is not None else None
    if displayed is None or planned is None:
        info = _probe_opened(name, codec)
        indices, size_hw = plan_for(info)
        return info, read_frames(name, indices, size_hw)
    width, height = displayed
    (opened_hw,) = planned
    reader = _open(name, *(opened_hw if opened_hw is not None else (-1, -1)))
    info = _info(reader, name, codec, width, height)
    indices, size_hw = plan_for(info)
    if size_hw != opened_hw:
        reader = _open(name, *(size_hw if size_hw is not None else (-1, -1)))
    return info, _read_checked(reader, wanted_indices(indices), size_hw)


def _planned_size(
    name: str, codec: str, displayed: tuple[int, int], plan_for: PlanFor
) -> tuple[tuple[int, int] | None] | None:
    """(the size ``plan_for`` scales a video of ``displayed`` (width, height) to,); None when
    it cannot tell without the rest of the info."""
    width, height = displayed
    check_frame_size(width, height)
    sizing = VideoInfo(name, 1, 1.0, width, height, 1.0, codec, (0.0,))  # all the plan's size needs
    try:
        size_hw = plan_for(sizing)[1]
    except (ValueError, VideoError):
        return None
    return (None if size_hw is None else (int(size_hw[0]), int(size_hw[1])),)


def _probe_opened(name: str, codec: str) -> VideoInfo:
    """``probe`` of a file whose container check passed: an unscaled reader, its first frame's size."""
    reader = _open(name)
    return _info(reader, name, codec)


def _info(reader: decord.VideoReader, name: str, codec: str, width: int = 0, height: int = 0) -> VideoInfo:
    """The info from ``reader``: count, times, rate; the first frame decoded (its size, unless given)."""
    num_frames = len(reader)
    raw_times = _call(
        lambda: np.asarray(reader.get_frame_timestamp(list(range(num_frames))), np.float64),
        "cannot read frame times",
    )  # (num_frames, 2): start and end of each frame, seconds
    fps = float(_call(reader.get_avg_fps, "cannot read frame rate"))
    first = _call(reader.next, "cannot decode video")  # (H, W, 3)
    if not (width and height):
        height, width = int(first.shape[0]), int(first.shape[1])
        check_frame_size(width, height)
    timestamps, duration = timeline(raw_times, fps)
    return VideoInfo(
        path=name,
        num_frames=num_frames,
        fps=frame_rate(fps, num_frames, duration),
        width=width,
        height=height,
        duration=duration,
        codec=codec,
        timestamps=timestamps,
    )


def read_frames(
    path: str | os.PathLike[str],
    indices: Sequence[int],
    size_hw: tuple[int, int] | None = None,
    timestamps: Sequence[float] | None = None,
) -> torch.Tensor:
    """Decode frames ``indices`` of ``path`` as uint8 (N, H, W, 3), in the order given.

    With ``size_hw`` = (height, width), decord scales while decoding, so no full-resolution
    RGB frame is kept. Raises ``ValueError`` for indices outside the video. ``timestamps`` is
    not needed here (decord seeks by frame index itself) and is ignored.
    """
    name = readable_file(path)
    wanted = wanted_indices(indices)
    height, width = size_hw if size_hw is not None else (-1, -1)
    return _read_checked(_open(name, height=height, width=width), wanted, size_hw)


def _read_checked(reader: decord.VideoReader, wanted: list[int], size_hw: tuple[int, int] | None) -> torch.Tensor:
    """Frames ``wanted`` from ``reader`` (opened at ``size_hw``), checked; ValueError if out of range."""
    out_of_range = [i for i in wanted if not 0 <= i < len(reader)]
    if out_of_range:
        raise ValueError(f"frame indices {out_of_range} outside a {len(reader)}-frame video")
    frames = _read_batch(reader, wanted)  # (N, H, W, 3) uint8
    check_batch(frames, len(wanted), size_hw)
    return frames


def _open(name: str, height: int = -1, width: int = -1) -> decord.VideoReader:
    """A single-threaded CPU reader, scaling to (height, width) unless they are -1."""
    return _call(
        lambda: decord.VideoReader(name, ctx=decord.cpu(0), width=width, height=height, num_threads=1),
        "cannot open video",
    )


def _read_batch(reader: decord.VideoReader, wanted: list[int]) -> torch.Tensor:
    """``get_batch``, or a sequential read for the frame widths where ``get_batch`` fails."""
    try:
        batch = reader.get_batch(wanted)
    except Exception as exc:  # DECORDError, RuntimeError, ...
        if _PADDED_ROWS_ERROR not in str(exc):
            raise VideoError(f"cannot decode frames: {_reason(exc)}") from exc
        return _read_sequentially(reader, wanted)
    _call(lambda: reader.seek(0), "cannot rewind video")  # frees decoder buffers (decord#197)
    return _as_tensor(batch)  # (N, H, W, 3)


def _read_sequentially(reader: decord.VideoReader, wanted: list[int]) -> torch.Tensor:
    """Frames ``wanted`` as uint8 (N, H, W, 3) from one forward pass of ``next()``.

    For some frame widths (2, 3, 4, 6, 8, 12, 16, 24, 48 and 72 pixels were seen) decord pads
    each RGB row, and ``get_batch`` then fails a size check. ``next()`` still returns the
    padded buffer, labelled (H, W, C) with C > 3; ``_unpad`` recovers the (H, W, 3) frame.
    """
    _call(lambda: reader.seek(0), "cannot rewind video")
    decoded: dict[int, torch.Tensor] = {}
    position = 0  # index of the frame next() returns
    for index in sorted(set(wanted)):
        if index > position:
            _call(partial(reader.skip_frames, index - position), "cannot decode frames")
        decoded[index] = _unpad(_as_tensor(_call(reader.next, "cannot decode frames")))
        position = index + 1
    return torch.stack([decoded[i] for i in wanted])  # (N, H, W, 3)


def _unpad(frame: torch.Tensor) -> torch.Tensor:
    """A (H, W, C >= 3) padded-row buffer as the (H, W, 3) RGB frame it holds."""
    height, width = frame.shape[0], frame.shape[1]
    rows = frame.reshape(height, -1)  # (H, row bytes incl. padding)
    return rows[:, : width * 3].reshape(height, width, 3).contiguous()  # (H, W, 3)


def _call(action: Callable[[], T], what: str) -> T:
    """Run a decord call, turning any exception it raises into a one-line VideoError."""
    try:
        return action()
    except VideoError:
        raise
    except Exception as exc:  # DECORDError, RuntimeError, AssertionError, StopIteration, ...
        raise VideoError(f"{what}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """A short, single-line reason from one of decord's (often multi-line) messages."""
    if isinstance(exc, StopIteration):
        return "no decodable frame"
    text = str(exc)
    for marker, reason in _KNOWN_REASONS:
        if marker in text:
            return reason
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = _DECORD_PREFIX.sub("", lines[0]) if lines else type(exc).__name__
    return first[:MESSAGE_CHARS]


def _as_tensor(batch: Any) -> torch.Tensor:
    """decord's output as a torch tensor, whichever bridge another module may have set."""
    if isinstance(batch, torch.Tensor):
        return batch
    return torch.from_numpy(np.ascontiguousarray(batch.asnumpy()))


__all__ = ["probe", "probe_and_read", "read_frames"]
