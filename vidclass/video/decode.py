"""Reading videos: probing (``probe``) and decoding chosen frames (``read_frames``).

Two decoders share one contract: decord (fast, random access) and PyAV (``probe_pyav`` and
``read_frames_pyav``: sequential, slower, but it counts the frames it really decodes and
takes their times from the decoded frames, so it is the fallback when decord fails or
returns fewer frames than the container promised). ``DECODERS`` names them; ``"auto"``
means decord first, then PyAV (``vidclass.video.views.load_clip_frames``).

Every failure caused by the input file (missing, a directory, empty, truncated, not a video,
no video stream, undecodable) surfaces as ``VideoError`` with a one-line message; decord itself
raises a mix of ``DECORDError``, ``RuntimeError``, ``AssertionError`` and ``StopIteration``.
"""

from __future__ import annotations

import math
import os
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np
import torch  # before decord: importing decord first can deadlock DataLoader (dmlc/decord#251)

# isort: split
import decord

from vidclass.defaults import DECODERS

T = TypeVar("T")


# Timestamps beyond this many seconds (about 115 days) are garbage from packets without a
# presentation time (H.264 in AVI, some Matroska files), not real times.
_MAX_PLAUSIBLE_SECONDS = 1e7
_TIMESTAMP_DECIMALS = 6  # decord reports float32 seconds; keep microseconds, drop the noise
_MESSAGE_CHARS = 160
_TEXT_FORMATS = frozenset({"tty", "srt", "webvtt", "ass", "subviewer", "microdvd", "jacosub"})
_IMAGE_FORMATS = frozenset({"image2", "apng"})  # plus every "*_pipe" image demuxer
_DECORD_PREFIX = re.compile(r"^(?:\[[\d:]+\]\s+\S+:\d+:\s*)+")  # "[05:01:21] /src/x.cc:83: "
_PADDED_ROWS_ERROR = "DECORDArrayCopyFromTo"  # get_batch on padded rows, see _read_sequentially
# Top-level box types an ISO-BMFF file (MP4, MOV, M4V, 3GP) can start with.
_ISO_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp", b"sidx", b"uuid"})
_BOX_TYPE = re.compile(rb"^[A-Za-z0-9 ]{4}$")
_NOT_A_VIDEO = "not a video file, or an unsupported format"
# Substrings of decord's messages -> what they mean, for the one-line VideoError.
_KNOWN_REASONS = (
    ("cannot find video stream", "no video stream"),
    ("Invalid frame count", "no frames"),
    ("Error reading", _NOT_A_VIDEO),
    ("Error sending packet", "corrupt video data"),
    ("Error getting frame", "frame cannot be decoded"),
)


class VideoError(Exception):
    """A video file that cannot be read; ``str(error)`` is one readable line."""


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


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Open ``path``, read its frame count, rate, timestamps and frame size.

    Decodes the first frame (to learn the decoded size and to reject files that open but do
    not decode). When decord's timestamps are unusable, a constant-rate timeline
    ``i / fps`` is used instead.
    """
    name = _readable_file(path)
    codec = check_container(name)
    reader = _open(name)
    num_frames = len(reader)
    raw_times = _call(
        lambda: np.asarray(reader.get_frame_timestamp(list(range(num_frames))), np.float64),
        "cannot read frame times",
    )  # (num_frames, 2): start and end of each frame, seconds
    fps = float(_call(reader.get_avg_fps, "cannot read frame rate"))
    first = _call(reader.next, "cannot decode video")  # (H, W, 3)
    height, width = int(first.shape[0]), int(first.shape[1])
    timestamps, duration = _timeline(raw_times, fps)
    return VideoInfo(
        path=name,
        num_frames=num_frames,
        fps=_frame_rate(fps, num_frames, duration),
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
) -> torch.Tensor:
    """Decode frames ``indices`` of ``path`` as uint8 (N, H, W, 3), in the order given.

    With ``size_hw`` = (height, width), decord scales while decoding, so no full-resolution
    RGB frame is kept. Raises ``ValueError`` for indices outside the video.
    """
    name = _readable_file(path)
    wanted = [int(i) for i in indices]
    if not wanted:
        raise ValueError("read_frames needs at least one frame index")
    height, width = size_hw if size_hw is not None else (-1, -1)
    reader = _open(name, height=height, width=width)
    out_of_range = [i for i in wanted if not 0 <= i < len(reader)]
    if out_of_range:
        raise ValueError(f"frame indices {out_of_range} outside a {len(reader)}-frame video")
    frames = _read_batch(reader, wanted)  # (N, H, W, 3) uint8
    _check_batch(frames, len(wanted), size_hw)
    return frames


def probe_pyav(path: str | os.PathLike[str]) -> VideoInfo:
    """``probe`` with PyAV: decodes every frame once (no colour conversion) to count them.

    The frame count and the timestamps are those of the frames actually decoded, not the
    container's metadata; the frame size is the first decoded frame's.
    """
    name = _readable_file(path)
    starts: list[float] = []
    ends: list[float] = []
    width = height = 0
    with _av_open(name) as (container, stream):
        codec = str(stream.codec_context.name)
        rate = float(stream.average_rate) if stream.average_rate else math.nan
        try:
            for frame in container.decode(stream):
                if not starts:
                    width, height = int(frame.width), int(frame.height)
                    if _quarter_turns(frame) % 2:  # shown rotated: report the size as displayed
                        width, height = height, width
                start = float(frame.time) if frame.time is not None else math.nan
                step = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else math.nan
                starts.append(start)
                ends.append(start + step)
        except Exception as exc:  # av.error.* : keep what decoded before the damage
            if not starts:
                raise VideoError(f"cannot decode video: {_av_reason(exc)}") from exc
    if not starts:
        raise VideoError("no frames")
    raw = np.column_stack([np.asarray(starts), np.asarray(ends)])  # (N, 2)
    if np.isnan(raw[:, 1]).any() and len(starts) > 1:  # frame durations unknown: next start
        raw[:-1, 1] = raw[1:, 0]
        raw[-1, 1] = raw[-1, 0] + (np.median(np.diff(raw[:, 0])) if len(starts) > 1 else 0)
    elif np.isnan(raw[:, 1]).any() and math.isfinite(rate) and rate > 0:
        raw[:, 1] = raw[:, 0] + 1 / rate
    raw -= raw[0, 0] if math.isfinite(raw[0, 0]) else 0.0  # the first frame starts at 0
    timestamps, duration = _timeline(raw, rate)
    return VideoInfo(
        path=name,
        num_frames=len(starts),
        fps=_frame_rate(rate, len(starts), duration),
        width=width,
        height=height,
        duration=duration,
        codec=codec,
        timestamps=timestamps,
        decoder="pyav",
    )


def read_frames_pyav(
    path: str | os.PathLike[str],
    indices: Sequence[int],
    size_hw: tuple[int, int] | None = None,
) -> torch.Tensor:
    """``read_frames`` with PyAV: one sequential pass, converting only the wanted frames.

    Each wanted frame is scaled and converted to RGB in one swscale call
    (``VideoFrame.reformat``), so no full-resolution RGB frame is kept.
    """
    name = _readable_file(path)
    wanted = [int(i) for i in indices]
    if not wanted:
        raise ValueError("read_frames needs at least one frame index")
    if min(wanted) < 0:
        raise ValueError(f"frame indices {[i for i in wanted if i < 0]} outside the video")
    needed = set(wanted)
    last = max(needed)
    decoded: dict[int, torch.Tensor] = {}
    turns = 0
    with _av_open(name) as (container, stream):
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index == 0:
                    turns = _quarter_turns(frame)
                if index in needed:
                    if size_hw is not None:
                        height, width = size_hw[::-1] if turns % 2 else size_hw  # stored orientation
                        rgb = frame.reformat(width=width, height=height, format="rgb24")
                    else:
                        rgb = frame.reformat(format="rgb24")
                    upright = np.rot90(rgb.to_ndarray(), k=-turns)  # (H, W, 3) as displayed
                    decoded[index] = torch.from_numpy(np.ascontiguousarray(upright))
                if index >= last:
                    break
        except Exception as exc:  # av.error.*
            raise VideoError(f"cannot decode frames: {_av_reason(exc)}") from exc
    missing = sorted(needed - set(decoded))
    if missing:
        raise ValueError(f"frame indices {missing[:5]} outside a {len(decoded)}-frame video")
    frames = torch.stack([decoded[i] for i in wanted])  # (N, H, W, 3)
    _check_batch(frames, len(wanted), size_hw)
    return frames


def _quarter_turns(frame: Any) -> int:
    """Clockwise quarter turns that show ``frame`` upright, from its display matrix.

    Phones store portrait video as landscape frames plus a rotation in the track header; PyAV
    reports it as ``frame.rotation`` (degrees counter-clockwise) and leaves the pixels as
    stored. decord applies it itself.
    """
    rotation = getattr(frame, "rotation", 0) or 0
    return round(-float(rotation) / 90) % 4


class _av_open:  # noqa: N801 - used like a function: ``with _av_open(name) as (container, stream)``
    """Open ``name`` with PyAV on its first video stream, single-threaded; VideoError if not."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> tuple[Any, Any]:
        import av

        try:
            self.container = av.open(self.name)
        except Exception as exc:  # av.error.InvalidDataError, ...
            raise VideoError(f"cannot open video: {_av_reason(exc)}") from exc
        _refuse_non_video(self.container)
        streams = self.container.streams.video
        if not streams:
            self.container.close()
            raise VideoError("no video stream")
        stream = streams[0]
        stream.thread_type = "SLICE"
        stream.codec_context.thread_count = 1
        return self.container, stream

    def __exit__(self, *exc: object) -> None:
        self.container.close()


def check_container(path: str) -> str:
    """The first video stream's codec name; VideoError for what is no video at all.

    Refused here, from PyAV's typed error and stream list rather than from decord's wording:
    data no demuxer recognises, a container without a video stream, and text and still-image
    files (FFmpeg opens those as videos: text through its ANSI-art demuxer, images as
    one-frame streams, so both decoders would "succeed" on them). "unknown" when PyAV cannot
    tell for another reason; the decoder then gives the message.
    """
    try:
        import av
    except ImportError:
        return "unknown"
    try:
        container = av.open(path)
    except Exception as exc:  # PyAV's error zoo: only "no demuxer recognises this" is decided here
        if isinstance(exc, av.error.InvalidDataError):
            raise VideoError(f"cannot open video: {_NOT_A_VIDEO}") from exc
        return "unknown"
    with container:
        _refuse_non_video(container)
        streams = container.streams.video
        if not streams:
            raise VideoError("cannot open video: no video stream")
        return str(streams[0].codec_context.name)


def _refuse_non_video(container: Any) -> None:
    formats = set(str(container.format.name).split(","))
    if formats & _TEXT_FORMATS:
        raise VideoError("not a video file (text)")
    if any(f.endswith("_pipe") or f in _IMAGE_FORMATS for f in formats):
        raise VideoError("a still image, not a video")


def _av_reason(exc: BaseException) -> str:
    import av

    if isinstance(exc, av.error.InvalidDataError):  # FFmpeg's AVERROR_INVALIDDATA
        return _NOT_A_VIDEO
    return (" ".join(str(exc).split()) or type(exc).__name__)[:_MESSAGE_CHARS]


def _readable_file(path: str | os.PathLike[str]) -> str:
    """``path`` as a string, after checks that give clearer messages than decord's."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise VideoError("file not found")
    if os.path.isdir(name):
        raise VideoError("is a directory, not a video file")
    if not os.path.isfile(name):
        raise VideoError("not a regular file")
    try:
        with open(name, "rb") as handle:
            empty = not handle.read(1)
    except OSError as exc:
        raise VideoError(f"cannot read file: {exc.strerror or exc}") from exc
    if empty:
        raise VideoError("empty file")
    check_iso_boxes(name)
    return name


def check_iso_boxes(name: str) -> None:
    """VideoError when an MP4/MOV file is cut short inside or after its index (``moov``).

    PyAV reads a file cut after its index without complaint and returns the frames that are
    there, decord fails part-way, while the index promises more. This walks the top-level
    boxes (a 16-byte header read per box, never the media) and fails when the ``moov`` box,
    or any box after it, claims to end past the end of the file. A file cut before its
    ``moov`` has no index at all, and is left to the decoders, which reject it ("not a
    video file"). Files that are not ISO-BMFF, trailing bytes too short for a box header,
    and box headers that do not look like one (junk) stop the walk without an error.
    """
    file_size = os.path.getsize(name)
    indexed = False  # a moov box seen
    offset = 0
    with open(name, "rb") as handle:
        while offset + 8 <= file_size:
            handle.seek(offset)
            header = handle.read(16)
            box_size, kind = struct.unpack(">I4s", header[:8])
            if offset == 0 and kind not in _ISO_FIRST_BOXES:
                return  # not ISO-BMFF
            if not _BOX_TYPE.match(kind):
                return  # junk after the last box
            if box_size == 0:
                return  # the box runs to the end of the file
            header_size = 8
            if box_size == 1:  # 64-bit size after the type
                if len(header) < 16:
                    return
                box_size = struct.unpack(">Q", header[8:16])[0]
                header_size = 16
            if box_size < header_size:
                return  # not a real box header
            indexed = indexed or kind == b"moov"
            end = offset + box_size
            if end > file_size:
                if indexed:
                    raise VideoError(
                        f"truncated file: the container describes {end} bytes, the file ends after {file_size}"
                    )
                return
            offset = end


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
    return first[:_MESSAGE_CHARS]


def _timeline(raw_times: np.ndarray, fps: float) -> tuple[tuple[float, ...], float]:
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


def _frame_rate(fps: float, num_frames: int, duration: float) -> float:
    """decord's average rate, or frames per second of the timeline when that is unusable."""
    if math.isfinite(fps) and fps > 0:
        return fps
    if duration > 0:
        return num_frames / duration
    raise VideoError("cannot read frame rate")


def _as_tensor(batch: Any) -> torch.Tensor:
    """decord's output as a torch tensor, whichever bridge another module may have set."""
    if isinstance(batch, torch.Tensor):
        return batch
    return torch.from_numpy(np.ascontiguousarray(batch.asnumpy()))


def _check_batch(frames: torch.Tensor, count: int, size_hw: tuple[int, int] | None) -> None:
    expected_hw = tuple(size_hw) if size_hw is not None else tuple(frames.shape[1:3])
    if frames.dtype != torch.uint8 or tuple(frames.shape) != (count, *expected_hw, 3):
        raise VideoError(
            f"decoder returned {tuple(frames.shape)} {frames.dtype}, "
            f"expected ({count}, {expected_hw[0]}, {expected_hw[1]}, 3) uint8"
        )


__all__ = [
    "DECODERS",
    "VideoError",
    "VideoInfo",
    "check_container",
    "check_iso_boxes",
    "probe",
    "probe_pyav",
    "read_frames",
    "read_frames_pyav",
]
