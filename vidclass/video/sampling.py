"""Which frames and which pixels make up each test view: pure arithmetic, no I/O, no torch.

Everything here takes plain integers (or a sequence of timestamps) and returns small frozen
records. The rules follow scenic's ViViT evaluation code:

- clip starts are ``int(linspace(0, max(0, T - F*s), N))``, or the centre clip when N == 1;
- a video shorter than a clip loops (indices wrap modulo the video length);
- the short side is resized to ``resize_size`` and three crops are taken along the long side
  at offsets ``0, ceil((L - crop) / 2), L - crop``, the short side being centred.

Frame geometry is bounded (``frame_size_problem``): the decoders refuse a frame of more than
``MAX_FRAME_PIXELS`` pixels or whose long side is over ``MAX_ASPECT_RATIO`` times its short
side, and ``resized_hw`` plans no resize of such a frame, so the resized frame holds at most
``MAX_ASPECT_RATIO * short_side**2`` pixels whatever the input.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vidclass.protocol import Preprocessing, ViewProtocol

if TYPE_CHECKING:  # base.py imports torch; sampling must not.
    from vidclass.video.base import VideoInfo

LANDSCAPE_NAMES = ("left", "centre", "right")
PORTRAIT_NAMES = ("top", "middle", "bottom")
CENTRE = "centre"

# The frame geometry vidclass decodes. 8192 x 8192 (64 Mpx, 192 MiB as RGB) takes 8K UHD and
# DCI 8K; 16:1 takes 32:9 monitors, 360-degree panoramas (2:1) and multi-screen video walls. A
# 1-px-high line of 8000 px, scaled to a 73-px short side, would be 73 x 584,000 px per frame.
_LARGEST_SIDE = 8192
MAX_FRAME_PIXELS = _LARGEST_SIDE * _LARGEST_SIDE
MAX_ASPECT_RATIO = 16

# Timestamps come from decord as float32 seconds: allow this relative slack when comparing
# a grid time with a frame's start time, so float noise never picks the previous frame.
_TIME_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Clip:
    """One temporal clip: ``frame_indices`` index the decoded video; ``start`` is the first."""

    index: int
    start: int
    frame_indices: tuple[int, ...]


@dataclass(frozen=True)
class Crop:
    """One square spatial crop, in the coordinates of the resized frame."""

    index: int
    name: str
    top: int
    left: int
    size: int


@dataclass(frozen=True)
class View:
    """One model input: a clip seen through a crop."""

    clip: Clip
    crop: Crop


@dataclass(frozen=True)
class ViewPlan:
    """Everything needed to decode a video once and cut all its views out of it.

    ``frame_indices`` is the sorted union of all clips' indices, each once: the frames to
    decode, at ``resized_hw`` (height, width).
    """

    clips: tuple[Clip, ...]
    crops: tuple[Crop, ...]
    resized_hw: tuple[int, int]
    frame_indices: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.frame_indices != union_indices(self.clips):
            raise ValueError("ViewPlan.frame_indices must be the sorted union of the clips' indices")

    @property
    def views(self) -> tuple[View, ...]:
        """All views, clip-major: (clip0, crop0), (clip0, crop1), ..., (clip1, crop0), ..."""
        return tuple(View(clip, crop) for clip in self.clips for crop in self.crops)

    @property
    def num_views(self) -> int:
        return len(self.clips) * len(self.crops)

    def positions(self, clip: Clip) -> tuple[int, ...]:
        """Where each of ``clip``'s frames sits in ``frame_indices`` (the decoded batch)."""
        where = {frame: pos for pos, frame in enumerate(self.frame_indices)}
        return tuple(where[frame] for frame in clip.frame_indices)


def clip_starts(num_positions: int, span: int, num_clips: int) -> tuple[int, ...]:
    """Start positions of ``num_clips`` clips of ``span`` positions over ``num_positions``.

    Scenic's rule: ``int(linspace(0, max(0, num_positions - span), num_clips))`` (float64
    linspace, truncation), or the centre clip ``max(0, num_positions - span) // 2`` when
    ``num_clips == 1``.
    """
    _require(num_positions >= 1, f"num_positions must be >= 1, got {num_positions}")
    _require(span >= 1, f"span must be >= 1, got {span}")
    _require(num_clips >= 1, f"num_clips must be >= 1, got {num_clips}")
    max_offset = max(0, num_positions - span)
    if num_clips == 1:
        return (max_offset // 2,)
    return tuple(int(x) for x in np.linspace(0, max_offset, num_clips))


def sample_clips(total_frames: int, num_frames: int, stride: int, num_clips: int) -> tuple[Clip, ...]:
    """Clips over the decoded frames: clip ``i`` takes ``start + k*stride`` for ``k < num_frames``.

    A video shorter than a clip loops: indices wrap modulo ``total_frames``.
    """
    _require(total_frames >= 1, f"a video needs at least one frame, got {total_frames}")
    _check_clip_shape(num_frames, stride)
    starts = clip_starts(total_frames, num_frames * stride, num_clips)
    clips = (_looped(start, num_frames, stride, total_frames) for start in starts)
    return tuple(Clip(i, indices[0], indices) for i, indices in enumerate(clips))


def sample_clips_timed(
    timestamps: Sequence[float],
    duration: float,
    num_frames: int,
    stride: int,
    target_fps: float,
    num_clips: int,
) -> tuple[Clip, ...]:
    """Clips over a virtual ``target_fps`` grid, mapped back to real frames by their timestamps.

    The grid has ``max(1, round(duration * target_fps))`` positions; position ``j`` is at time
    ``timestamps[0] + j / target_fps`` (``timestamps[0]`` is 0 for ordinary files) and maps to
    the last real frame starting at or before that time. Positions loop like raw frames do.
    So a 25 fps file sampled at 25 fps gives ``sample_clips``' result, a 50 fps file twice
    those indices, and a variable-frame-rate file follows its real timestamps.
    """
    _require(len(timestamps) >= 1, "a video needs at least one frame timestamp")
    _require(target_fps > 0, f"target_fps must be > 0, got {target_fps}")
    _require(
        all(timestamps[i] <= timestamps[i + 1] for i in range(len(timestamps) - 1)),
        "frame timestamps must be in increasing order",
    )
    _check_clip_shape(num_frames, stride)
    origin = timestamps[0]
    num_positions = grid_size(duration - origin, target_fps)
    starts = clip_starts(num_positions, num_frames * stride, num_clips)
    clips = []
    for i, start in enumerate(starts):
        positions = _looped(start, num_frames, stride, num_positions)
        indices = tuple(frame_at(timestamps, origin + j / target_fps) for j in positions)
        clips.append(Clip(i, indices[0], indices))
    return tuple(clips)


def _start_at(u: float, num_positions: int, span: int) -> int:
    _require(0.0 <= u < 1.0, f"u must be in [0, 1), got {u}")
    return int(u * (max(0, num_positions - span) + 1))


def training_clip(total_frames: int, num_frames: int, stride: int, u: float) -> Clip:
    """A training clip starting at a uniformly drawn position: ``u`` in [0, 1) picks one of
    the ``max(0, T - F*s) + 1`` possible starts; short videos loop as in ``sample_clips``."""
    _require(total_frames >= 1, f"a video needs at least one frame, got {total_frames}")
    _check_clip_shape(num_frames, stride)
    indices = _looped(_start_at(u, total_frames, num_frames * stride), num_frames, stride, total_frames)
    return Clip(0, indices[0], indices)


def training_clip_timed(
    timestamps: Sequence[float], duration: float, num_frames: int, stride: int, target_fps: float, u: float
) -> Clip:
    """``training_clip`` on the ``target_fps`` grid of ``sample_clips_timed``."""
    _require(len(timestamps) >= 1, "a video needs at least one frame timestamp")
    _check_clip_shape(num_frames, stride)
    origin = timestamps[0]
    positions_count = grid_size(duration - origin, target_fps)
    start = _start_at(u, positions_count, num_frames * stride)
    positions = _looped(start, num_frames, stride, positions_count)
    indices = tuple(frame_at(timestamps, origin + j / target_fps) for j in positions)
    return Clip(0, indices[0], indices)


def plan_training_clip(info: VideoInfo, prep: Preprocessing, u: float) -> Clip:
    """The training clip for draw ``u``: raw frames, or the frame-rate grid when set."""
    if prep.target_fps is None:
        return training_clip(info.num_frames, prep.num_frames, prep.frame_stride, u)
    return training_clip_timed(info.timestamps, info.duration, prep.num_frames, prep.frame_stride, prep.target_fps, u)


def grid_size(seconds: float, fps: float) -> int:
    """Number of ``fps`` grid positions in ``seconds``: rounded half up, at least 1."""
    return max(1, math.floor(seconds * fps + 0.5))


def frame_at(timestamps: Sequence[float], time: float) -> int:
    """Index of the last frame whose start time is <= ``time`` (frame 0 if none is)."""
    slack = _TIME_TOLERANCE * max(1.0, abs(time))
    return max(0, bisect_right(timestamps, time + slack) - 1)


def frame_size_problem(width: int, height: int) -> str | None:
    """Why a ``width`` x ``height`` frame is refused, as one line; None when it is not.

    Refused: a frame of more than ``MAX_FRAME_PIXELS`` pixels, or whose long side is more than
    ``MAX_ASPECT_RATIO`` times its short side (scaling its short side up to the model's size
    would make the long side absurd: 8000x1 becomes 73x584,000 pixels).
    """
    _require(height >= 1 and width >= 1, f"frame size must be positive, got {width}x{height}")
    if width * height > MAX_FRAME_PIXELS:
        return f"unsupported frame size {width}x{height} (more pixels than {_LARGEST_SIDE}x{_LARGEST_SIDE})"
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        return f"unsupported frame size {width}x{height} (aspect ratio beyond {MAX_ASPECT_RATIO}:1)"
    return None


def resized_hw(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) scaled so the short side is ``short_side``; the long side is rounded
    half up (never below ``short_side``, since it was at least the short side before).

    ``ValueError`` for sides more than ``MAX_ASPECT_RATIO`` apart (the decoders refuse such
    frames): the result never holds more than ``MAX_ASPECT_RATIO * short_side**2`` pixels.
    """
    _require(height >= 1 and width >= 1, f"frame size must be positive, got {height}x{width}")
    _require(short_side >= 1, f"short_side must be >= 1, got {short_side}")
    short, long = min(height, width), max(height, width)
    _require(
        long <= MAX_ASPECT_RATIO * short,
        f"frame {height}x{width} (height x width) has an aspect ratio beyond {MAX_ASPECT_RATIO}:1",
    )
    new_long = (2 * long * short_side + short) // (2 * short)  # round(long * short_side / short)
    return (short_side, new_long) if height <= width else (new_long, short_side)


def crop_boxes(height: int, width: int, crop_size: int, num_crops: int) -> tuple[Crop, ...]:
    """Square crops of a ``height`` x ``width`` frame.

    One crop: the centre. Three crops: along the long side at ``0, ceil((L - crop) / 2),
    L - crop``, named left/centre/right (landscape or square) or top/middle/bottom
    (portrait, height > width); the short side is centred at ``ceil((S - crop) / 2)``.
    """
    _require(crop_size >= 1, f"crop_size must be >= 1, got {crop_size}")
    _require(
        crop_size <= height and crop_size <= width,
        f"frame {height}x{width} is smaller than the {crop_size}x{crop_size} crop",
    )
    _require(num_crops in (1, 3), f"num_crops must be 1 or 3, got {num_crops}")
    top, left = _centred(height, crop_size), _centred(width, crop_size)
    if num_crops == 1:
        return (Crop(0, CENTRE, top, left, crop_size),)
    portrait = height > width
    names = PORTRAIT_NAMES if portrait else LANDSCAPE_NAMES
    offsets = _along(height if portrait else width, crop_size)
    return tuple(
        Crop(
            i,
            names[i],
            offsets[i] if portrait else top,
            left if portrait else offsets[i],
            crop_size,
        )
        for i in range(num_crops)
    )


def union_indices(clips: Sequence[Clip]) -> tuple[int, ...]:
    """Sorted union of the clips' frame indices, each once."""
    return tuple(sorted({i for clip in clips for i in clip.frame_indices}))


def plan_views(info: VideoInfo, prep: Preprocessing, protocol: ViewProtocol) -> ViewPlan:
    """The views of one video under ``prep`` and ``protocol``.

    Raw-frame sampling when ``prep.target_fps`` is None, timestamp-based sampling otherwise.
    """
    if prep.target_fps is None:
        clips = sample_clips(info.num_frames, prep.num_frames, prep.frame_stride, protocol.clips)
    else:
        clips = sample_clips_timed(
            info.timestamps,
            info.duration,
            prep.num_frames,
            prep.frame_stride,
            prep.target_fps,
            protocol.clips,
        )
    size = resized_hw(info.height, info.width, prep.resize_size)
    crops = crop_boxes(size[0], size[1], prep.crop_size, protocol.crops)
    return ViewPlan(clips, crops, size, union_indices(clips))


def _looped(start: int, num_frames: int, stride: int, period: int) -> tuple[int, ...]:
    return tuple((start + k * stride) % period for k in range(num_frames))


def _centred(length: int, crop_size: int) -> int:
    return (length - crop_size + 1) // 2  # ceil((length - crop_size) / 2)


def _along(length: int, crop_size: int) -> tuple[int, int, int]:
    return (0, _centred(length, crop_size), length - crop_size)


def _check_clip_shape(num_frames: int, stride: int) -> None:
    _require(num_frames >= 1, f"num_frames must be >= 1, got {num_frames}")
    _require(stride >= 1, f"stride must be >= 1, got {stride}")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


__all__ = [
    "MAX_ASPECT_RATIO",
    "MAX_FRAME_PIXELS",
    "Clip",
    "Crop",
    "View",
    "ViewPlan",
    "clip_starts",
    "crop_boxes",
    "frame_at",
    "frame_size_problem",
    "grid_size",
    "plan_views",
    "resized_hw",
    "sample_clips",
    "sample_clips_timed",
    "union_indices",
]
