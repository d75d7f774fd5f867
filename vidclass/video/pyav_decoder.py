"""The PyAV decoder: sequential and slower, but it counts the frames it really decodes.

It takes the frame times from the decoded frames, so it is the fallback when decord fails or
returns fewer frames than the container promised. ``probe`` and ``read_frames`` here have the
signatures of ``decord_decoder``'s; ``vidclass.video.decoders`` registers them as the ``"pyav"``
decoder. Every failure caused by the file is a one-line ``VideoError``.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_left
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import torch

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
from vidclass.video.containers import (
    OPEN_OPTIONS,
    check_declared_size,
    quarter_turns,
    readable_file,
    refuse_non_video,
)

# A decoded frame's time matches a probed timestamp within this relative slack (at least 2 us):
# the probe rounds to 1 us, and decord reports float32 seconds (288.04 s reads 288.040009).
_SLACK = 2e-6


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """``probe`` with PyAV: decodes every frame once (no colour conversion) to count them.

    The frame count and the timestamps are those of the frames actually decoded, not the
    container's metadata; the frame size is the first decoded frame's.
    """
    return probe_and_read(path, None)[0]


def probe_and_read(path: str | os.PathLike[str], plan_for: PlanFor | None) -> tuple[VideoInfo, torch.Tensor]:
    """``probe``, then ``read_frames(path, *plan_for(info))``, in one decoding pass.

    The info still comes from every decoded frame, so the frames to read are only known at the
    end. They are planned ahead from the demuxed packets' times (a read of the container, no
    decoding), and converted as the pass decodes them; the plan of the decoded frames' info must
    then be the same, or the frames are read again with ``read_frames``. Info and frames are
    those of ``probe`` and ``read_frames`` either way. With no ``plan_for``, frames are empty.
    """
    name = readable_file(path)
    guess = _packet_times(name) if plan_for is not None else None
    seen = _Timeline()
    ahead: _Ahead | None = None
    with _av_open(name) as (container, stream):
        codec = str(stream.codec_context.name)
        rate = float(stream.average_rate) if stream.average_rate else math.nan
        try:
            for index, frame in enumerate(container.decode(stream)):
                seen.add(frame)
                if index == 0 and plan_for is not None and guess is not None:
                    ahead = _Ahead.plan(name, guess, seen, codec, rate, plan_for)
                if ahead is not None and index in ahead.needed:
                    ahead = ahead.convert(index, frame, seen.turns)
        except VideoError:
            raise
        except Exception as exc:  # av.error.* : keep what decoded before the damage
            if not seen.starts:
                raise VideoError(f"cannot decode video: {_av_reason(exc)}") from exc
    info = seen.info(name, codec, rate)
    if plan_for is None:
        return info, torch.empty(0, dtype=torch.uint8)
    indices, size_hw = plan_for(info)
    wanted = wanted_indices(indices)
    if ahead is None or not ahead.holds(wanted, size_hw):
        return info, read_frames(name, wanted, size_hw)
    frames = torch.stack([ahead.decoded[i] for i in wanted])  # (N, H, W, 3)
    check_batch(frames, len(wanted), size_hw)
    return info, frames


class _Timeline:
    """The frame times and size ``probe`` takes from each decoded frame, in decoding order."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.width = self.height = self.turns = 0

    def add(self, frame: Any) -> None:
        if not self.starts:
            self.width, self.height = int(frame.width), int(frame.height)
            self.turns = quarter_turns(frame)
            if self.turns % 2:  # shown rotated: report the size as displayed
                self.width, self.height = self.height, self.width
            check_frame_size(self.width, self.height)
        start = float(frame.time) if frame.time is not None else math.nan
        step = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else math.nan
        self.starts.append(start)
        self.ends.append(start + step)

    def info(self, name: str, codec: str, rate: float) -> VideoInfo:
        if not self.starts:
            raise VideoError("no frames")
        return _video_info(name, self.starts, self.ends, self.width, self.height, codec, rate)


def _video_info(
    name: str, starts: list[float], ends: list[float], width: int, height: int, codec: str, rate: float
) -> VideoInfo:
    """The ``VideoInfo`` of frames starting and ending at ``starts``/``ends`` (NaN: unknown)."""
    raw = np.column_stack([np.asarray(starts), np.asarray(ends)])  # (N, 2)
    if np.isnan(raw[:, 1]).any() and len(starts) > 1:  # frame durations unknown: next start
        raw[:-1, 1] = raw[1:, 0]
        raw[-1, 1] = raw[-1, 0] + (np.median(np.diff(raw[:, 0])) if len(starts) > 1 else 0)
    elif np.isnan(raw[:, 1]).any() and math.isfinite(rate) and rate > 0:
        raw[:, 1] = raw[:, 0] + 1 / rate
    raw -= raw[0, 0] if math.isfinite(raw[0, 0]) else 0.0  # the first frame starts at 0
    timestamps, duration = timeline(raw, rate)
    return VideoInfo(
        path=name,
        num_frames=len(starts),
        fps=frame_rate(rate, len(starts), duration),
        width=width,
        height=height,
        duration=duration,
        codec=codec,
        timestamps=timestamps,
        decoder="pyav",
    )


def _packet_times(name: str) -> tuple[list[float], list[float]] | None:
    """Start and end times of the video stream's packets in presentation order, read without
    decoding; None when a packet has no time (the frames are then planned after the pass)."""
    starts: list[float] = []
    ends: list[float] = []
    try:
        with _av_open(name) as (container, stream):
            for packet in container.demux(stream):
                if not packet.size:
                    continue  # the demuxer's flush packet
                if packet.pts is None or not packet.time_base:
                    return None
                start = float(packet.pts * packet.time_base)
                starts.append(start)
                ends.append(start + float(packet.duration * packet.time_base) if packet.duration else math.nan)
    except Exception:  # VideoError, av.error.*: the decoding pass gives the message
        return None
    order = np.argsort(starts, kind="stable")
    return [starts[i] for i in order], [ends[i] for i in order]


class _Ahead:
    """The frames planned from the packet times, converted while the pass decodes them."""

    def __init__(self, indices: tuple[int, ...], size_hw: tuple[int, int] | None) -> None:
        self.indices = indices
        self.size_hw = size_hw
        self.needed = set(indices)
        self.decoded: dict[int, torch.Tensor] = {}
        self.reformatter = _reformatter()

    @classmethod
    def plan(
        cls,
        name: str,
        guess: tuple[list[float], list[float]],
        seen: _Timeline,
        codec: str,
        rate: float,
        plan_for: PlanFor,
    ) -> _Ahead | None:
        """The plan for the packets' info (with the first frame's size), or None if it has none."""
        try:
            info = _video_info(name, *guess, seen.width, seen.height, codec, rate)
            indices, size_hw = plan_for(info)
            size = None if size_hw is None else (int(size_hw[0]), int(size_hw[1]))
            return cls(tuple(wanted_indices(indices)), size)
        except Exception:  # VideoError, ValueError: the plan after the pass decides
            return None

    def convert(self, index: int, frame: Any, turns: int) -> _Ahead | None:
        """Keep ``frame`` as index ``index``; None (plan dropped) if it cannot be converted."""
        try:
            self.decoded[index] = _rgb(frame, self.size_hw, turns, self.reformatter)
        except Exception:  # read_frames reads it again and gives the message
            return None
        return self

    def holds(self, wanted: list[int], size_hw: tuple[int, int] | None) -> bool:
        same_size = (None if size_hw is None else (int(size_hw[0]), int(size_hw[1]))) == self.size_hw
        return same_size and self.needed.issuperset(wanted) and all(i in self.decoded for i in wanted)


def read_frames(
    path: str | os.PathLike[str],
    indices: Sequence[int],
    size_hw: tuple[int, int] | None = None,
    timestamps: Sequence[float] | None = None,
) -> torch.Tensor:
    """``read_frames`` with PyAV: one sequential pass, converting only the wanted frames.

    Each wanted frame is scaled and converted to RGB in one swscale call
    (``VideoFrame.reformat``), so no full-resolution RGB frame is kept. ``ValueError`` for no
    index or a negative one; ``VideoError`` when the file ends before a wanted frame (only
    decoding tells how many frames there are, so that is the file's failure, as in ``probe``).

    ``timestamps``, the probe's frame start times (``VideoInfo.timestamps``), let the pass
    start at the keyframe before the first wanted frame instead of at frame 0 (what a window
    stream needs: its chunks lie deep in long files). Each frame decoded after the seek is
    identified by its time; where that fails (no time, a time the probe did not see, a
    keyframe past the first wanted frame), the pass starts over from frame 0, as without them.
    """
    name = readable_file(path)
    wanted = wanted_indices(indices)
    if min(wanted) < 0:
        raise ValueError(f"frame indices {[i for i in wanted if i < 0]} outside the video")
    needed = set(wanted)
    decoded: dict[int, torch.Tensor] = {}
    seek = timestamps is not None and min(needed) > 0
    for from_start in (False, True) if seek else (True,):
        decoded.clear()
        with _av_open(name) as (container, stream):
            try:
                if from_start:
                    _read_from_start(container, stream, needed, size_hw, decoded)
                elif _read_from_seek(container, stream, needed, size_hw, timestamps or (), decoded):
                    break
            except Exception as exc:  # av.error.*: after a seek, the full pass decides
                if from_start:
                    raise VideoError(f"cannot decode frames: {_av_reason(exc)}") from exc
    missing = sorted(needed - set(decoded))
    if missing:
        raise VideoError(f"frame indices {missing[:5]} outside a {len(decoded)}-frame video")
    frames = torch.stack([decoded[i] for i in wanted])  # (N, H, W, 3)
    check_batch(frames, len(wanted), size_hw)
    return frames


def _read_from_start(
    container: Any, stream: Any, needed: set[int], size_hw: Any, decoded: dict[int, torch.Tensor]
) -> None:
    """Decode from the stream's current position, counting frames from 0, until ``max(needed)``."""
    last = max(needed)
    turns = 0
    reformatter = _reformatter()
    for index, frame in enumerate(container.decode(stream)):
        if index == 0:
            turns = quarter_turns(frame)
        if index in needed:
            decoded[index] = _rgb(frame, size_hw, turns, reformatter)
        if index >= last:
            break


def _read_from_seek(
    container: Any,
    stream: Any,
    needed: set[int],
    size_hw: Any,
    timestamps: Sequence[float],
    decoded: dict[int, torch.Tensor],
) -> bool:
    """Seek to the keyframe before ``min(needed)``, then decode to ``max(needed)``, each frame
    identified by its time in ``timestamps``. False when a frame cannot be identified or the
    seek landed past the first wanted frame: the caller then decodes from the start."""
    first_frame = next(container.decode(stream), None)  # the clock's origin: probe's times start at it
    if first_frame is None or first_frame.time is None or not 0 < min(needed) < len(timestamps):
        return False
    origin = float(first_frame.time)
    turns = quarter_turns(first_frame)
    target = origin + timestamps[min(needed)]
    if not stream.time_base:
        return False
    container.seek(math.floor(target / stream.time_base), backward=True, any_frame=False, stream=stream)
    first, last = min(needed), max(needed)
    index: int | None = None
    reformatter = _reformatter()
    for frame in container.decode(stream):
        found = _index_at(timestamps, frame.time, origin)
        if found < 0 or (index is None and found > first) or (index is not None and found != index + 1):
            return False  # landed past the first wanted frame, or a frame unknown or out of order
        index = found
        if index in needed:
            decoded[index] = _rgb(frame, size_hw, turns, reformatter)
        if index >= last:
            return True
    return False  # the file ended early: a full pass tells how many frames there really are


def _index_at(timestamps: Sequence[float], time: float | None, origin: float) -> int:
    """The index of the frame starting at ``time - origin`` (within ``_SLACK``), or -1."""
    if time is None:
        return -1
    relative = float(time) - origin
    slack = _SLACK * max(1.0, abs(relative))
    position = bisect_left(timestamps, relative - slack)
    if position < len(timestamps) and abs(timestamps[position] - relative) <= slack:
        return position
    return -1


def _rgb(frame: Any, size_hw: tuple[int, int] | None, turns: int, reformatter: Any = None) -> torch.Tensor:
    """``frame`` as upright uint8 (H, W, 3), scaled to ``size_hw`` (as displayed) in one swscale call.

    ``reformatter`` (``_reformatter()``), kept over a pass, reuses its scaler between frames;
    the pixels are those of ``frame.reformat``."""
    convert = frame.reformat if reformatter is None else partial(reformatter.reformat, frame)
    if size_hw is not None:
        height, width = size_hw[::-1] if turns % 2 else size_hw  # stored orientation
        rgb = convert(width=width, height=height, format="rgb24")
    else:
        rgb = convert(format="rgb24")
    upright = np.rot90(rgb.to_ndarray(), k=-turns)  # (H, W, 3) as displayed
    return torch.from_numpy(np.ascontiguousarray(upright))


def _reformatter() -> Any:
    """A PyAV ``VideoReformatter`` to convert the frames of one pass with."""
    from av.video.reformatter import VideoReformatter

    return VideoReformatter()


class _av_open:  # noqa: N801 - used like a function: ``with _av_open(name) as (container, stream)``
    """Open ``name`` with PyAV on its first video stream, single-threaded; VideoError if not.

    Only the ``file`` protocol is allowed; playlists, text, still images and a declared frame
    size out of bounds are refused before any frame is decoded.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> tuple[Any, Any]:
        import av

        try:
            self.container = av.open(self.name, options=dict(OPEN_OPTIONS))
        except Exception as exc:  # av.error.InvalidDataError, ...
            raise VideoError(f"cannot open video: {_av_reason(exc)}") from exc
        try:
            refuse_non_video(self.container)
            if not self.container.streams.video:
                raise VideoError("no video stream")
            check_declared_size(self.container.streams.video[0])
        except VideoError:
            self.container.close()
            raise
        streams = self.container.streams.video
        stream = streams[0]
        stream.thread_type = "SLICE"
        stream.codec_context.thread_count = 1
        return self.container, stream

    def __exit__(self, *exc: object) -> None:
        self.container.close()


def _av_reason(exc: BaseException) -> str:
    import av

    if isinstance(exc, av.error.InvalidDataError):  # FFmpeg's AVERROR_INVALIDDATA
        return NOT_A_VIDEO
    return (" ".join(str(exc).split()) or type(exc).__name__)[:MESSAGE_CHARS]


__all__ = ["probe", "probe_and_read", "read_frames"]
