"""Sliding windows over a whole video: the seconds each covers and the frames its clip takes.

Pure arithmetic like ``sampling``: no I/O, no torch. ``plan_windows`` lays windows on the
model's own sampling grid, the one predict's clips use (``sampling.sample_clips`` and
``sample_clips_timed``):

- with ``target_fps``, grid position ``j`` is the time ``timestamps[0] + j / target_fps``,
  mapped to the last frame starting at or before it (``frame_at``), over
  ``grid_size(duration - timestamps[0], target_fps)`` positions, so a 25 fps and a 60 fps file
  give windows of the same seconds;
- without it, grid position ``j`` is decoded frame ``j`` (``frame_stride`` counts decoded
  frames) and the grid's rate is the file's ``fps``.

A model clip spans ``num_frames * frame_stride`` grid positions; that is the default window.
A window starts on a grid position; consecutive windows start ``stride`` apart, and the last
one ends where the video ends (it starts ``window`` before the last grid position, so it may
overlap its neighbour by more than the others do): every frame lies in some window. A video
shorter than one window gets one window over all of it, whose clip loops as predict's does.

``window_view_plan`` turns a run of windows into the ``ViewPlan`` that ``build_views`` cuts:
one clip per window, in window order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vidclass.defaults import MAX_WINDOWS
from vidclass.protocol import Preprocessing
from vidclass.video.sampling import Clip, ViewPlan, crop_boxes, frame_at, grid_size, resized_hw, union_indices

if TYPE_CHECKING:  # base.py imports torch; planning must not.
    from vidclass.video.base import VideoInfo

_SECONDS_DECIMALS = 6  # window bounds keep microseconds, as the probe's timestamps do


@dataclass(frozen=True)
class Window:
    """One window: ``[start, end)`` in seconds of the video (on the clock of
    ``VideoInfo.timestamps``, 0 at the first frame of ordinary files) and the decoded frames
    its model clip takes, in clip order."""

    index: int
    start: float
    end: float
    frame_indices: tuple[int, ...]


def clip_seconds(info: VideoInfo, prep: Preprocessing) -> float:
    """Seconds one model clip spans: ``num_frames * frame_stride`` steps of its grid."""
    return prep.num_frames * prep.frame_stride / _grid_rate(info, prep)


def plan_windows(
    info: VideoInfo, prep: Preprocessing, window: float | None = None, stride: float | None = None
) -> tuple[Window, ...]:
    """The windows of ``info``'s video, sorted by start, the last one ending at ``info.duration``.

    ``window`` (seconds, default: the clip's own span, ``clip_seconds``) and ``stride``
    (seconds between window starts, default ``window / 2``) are rounded to whole grid steps.
    A window longer than the clip spreads the clip's ``num_frames`` frames evenly over it:
    frame ``i`` at grid position ``start + floor(i * L / num_frames)`` for a window of ``L``
    positions. So the first frame is at the window's start, the spacing never differs by more
    than one step, and the default window gives exactly predict's ``start + i * frame_stride``.
    The model then sees the window at a lower frame rate than it was trained on (motion looks
    faster), which is why the default is the clip's own span and a longer window is opt-in.

    ``ValueError`` (one line) for a window or stride that is not a positive number of seconds,
    a window shorter than the clip (it would need frames closer than the model's grid), a
    stride shorter than one grid step or longer than the window (frames between two windows
    would belong to none), and more than ``MAX_WINDOWS`` windows.
    """
    rate = _grid_rate(info, prep)
    frames = prep.num_frames
    span = frames * prep.frame_stride  # grid positions of one clip
    length = span if window is None else _positions(window, rate, "window")
    if length < span:
        raise ValueError(f"window {window:g} s is shorter than the model's clip ({span / rate:g} s)")
    if stride is None:
        step = max(1, math.floor(length / 2 + 0.5))
    else:
        step = _positions(stride, rate, "stride")
        if step > length:
            raise ValueError(
                f"stride {stride:g} s is longer than the window ({length / rate:g} s): "
                "frames between windows would be in none"
            )
    origin = info.timestamps[0]
    timed = prep.target_fps is not None
    count_positions = grid_size(info.duration - origin, rate) if timed else info.num_frames
    count = 1 if count_positions <= length else (count_positions - length + step - 1) // step + 1
    if count > MAX_WINDOWS:
        raise ValueError(
            f"{count} windows of {length / rate:g} s every {step / rate:g} s; "
            f"at most {MAX_WINDOWS}: choose a longer stride"
        )
    starts = [k * step for k in range(count - 1)] + [max(0, count_positions - length)]
    offsets = [i * length // frames for i in range(frames)]
    frame_of: dict[int, int] = {}

    def frame(position: int) -> int:  # the decoded frame at grid position ``position`` (looped)
        position %= count_positions
        if not timed:
            return position
        if position not in frame_of:
            frame_of[position] = frame_at(info.timestamps, origin + position / rate)
        return frame_of[position]

    def seconds(position: int) -> float:  # when grid position ``position`` starts
        time = origin + position / rate if timed else info.timestamps[position]
        return round(time, _SECONDS_DECIMALS)

    return tuple(
        Window(
            index=k,
            start=seconds(start),
            end=info.duration if k == count - 1 else seconds(start + length),
            frame_indices=tuple(frame(start + offset) for offset in offsets),
        )
        for k, start in enumerate(starts)
    )


def window_view_plan(windows: Sequence[Window], info: VideoInfo, prep: Preprocessing, crops: int) -> ViewPlan:
    """The ``ViewPlan`` of ``windows``: one clip per window (clip ``i`` is ``windows[i]``),
    ``crops`` crops (1: the centre; 3: as predict's ``crop_boxes``), at the resized size."""
    if not windows:
        raise ValueError("a window view plan needs at least one window")
    clips = tuple(Clip(i, w.frame_indices[0], w.frame_indices) for i, w in enumerate(windows))
    size = resized_hw(info.height, info.width, prep.resize_size)
    return ViewPlan(clips, crop_boxes(size[0], size[1], prep.crop_size, crops), size, union_indices(clips))


def _grid_rate(info: VideoInfo, prep: Preprocessing) -> float:
    return prep.target_fps if prep.target_fps is not None else info.fps


def _positions(seconds: float, rate: float, what: str) -> int:
    """``seconds`` in whole steps of a ``rate`` grid (rounded half up); ``ValueError`` if not > 0."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {seconds!r}")
    steps = math.floor(seconds * rate + 0.5)
    if steps < 1:
        raise ValueError(f"{what} {seconds:g} s is shorter than one frame step ({1 / rate:g} s)")
    return steps


__all__ = ["MAX_WINDOWS", "Window", "clip_seconds", "plan_windows", "window_view_plan"]
