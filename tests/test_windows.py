"""Sliding windows (``vidclass.video.windows.plan_windows``): exact seconds and frames for
hand-computed cases, coverage of every frame, the last window at the end, short videos, and
the values refused."""

from __future__ import annotations

import pytest

from vidclass.defaults import MAX_WINDOWS
from vidclass.protocol import Preprocessing
from vidclass.video.base import VideoInfo
from vidclass.video.sampling import sample_clips, sample_clips_timed
from vidclass.video.windows import Window, clip_seconds, plan_windows

# 4 frames, every 2nd position of an 8 fps grid: a clip spans 8 positions = 1 s.
TIMED = Preprocessing(num_frames=4, frame_stride=2, target_fps=8, resize_size=32, crop_size=32)
RAW = Preprocessing(num_frames=4, frame_stride=2, resize_size=32, crop_size=32)


def info(frames: int, fps: float) -> VideoInfo:
    stamps = tuple(round(i / fps, 6) for i in range(frames))
    return VideoInfo("v.mp4", frames, fps, 64, 48, round(frames / fps, 6), "h264", stamps)


def test_default_windows_on_an_8_fps_grid_are_the_same_seconds_at_25_and_60_fps():
    # 3 s: 24 grid positions; window 8 positions (1 s), stride 4 (0.5 s): starts 0, 4, 8, 12, 16.
    bounds = [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0), (1.5, 2.5), (2.0, 3.0)]
    at_25 = plan_windows(info(75, 25), TIMED)
    at_60 = plan_windows(info(180, 60), TIMED)
    assert [(w.index, w.start, w.end) for w in at_25] == [(i, *b) for i, b in enumerate(bounds)]
    assert [(w.start, w.end) for w in at_60] == bounds
    # grid position j -> time j/8 -> last frame starting at or before it
    assert at_25[0] == Window(0, 0.0, 1.0, (0, 6, 12, 18))  # 0, 0.25, 0.5, 0.75 s at 25 fps
    assert at_25[1].frame_indices == (12, 18, 25, 31)  # 0.5, 0.75, 1.0, 1.25 s
    assert at_25[4].frame_indices == (50, 56, 62, 68)  # 2.0 ... 2.75 s
    assert at_60[0].frame_indices == (0, 15, 30, 45)
    assert at_60[4].frame_indices == (120, 135, 150, 165)
    assert clip_seconds(info(75, 25), TIMED) == clip_seconds(info(180, 60), TIMED) == 1.0


def test_a_default_window_takes_the_clip_predict_would_take_there():
    video = info(75, 25)
    (predicted,) = sample_clips_timed(video.timestamps, video.duration, 4, 2, 8, 1)  # centre clip: position 8
    assert plan_windows(video, TIMED)[2].frame_indices == predicted.frame_indices == (25, 31, 37, 43)
    (raw,) = sample_clips(72, 4, 2, 1)  # raw frames: centre start (72 - 8) // 2 = 32, window 8 (stride 4)
    assert plan_windows(info(72, 25), RAW)[8].frame_indices == raw.frame_indices == (32, 34, 36, 38)


def test_raw_frame_windows_follow_the_frame_grid_and_the_last_ends_the_video():
    # 25 frames at 10 fps, raw frames: window 8 frames (0.8 s), stride 4: starts 0, 4, 8, 12, 16, 17.
    windows = plan_windows(info(25, 10), RAW)
    assert [(w.start, w.end) for w in windows] == [
        (0.0, 0.8),
        (0.4, 1.2),
        (0.8, 1.6),
        (1.2, 2.0),
        (1.6, 2.4),
        (1.7, 2.5),
    ]
    assert [w.frame_indices for w in windows] == [
        (0, 2, 4, 6),
        (4, 6, 8, 10),
        (8, 10, 12, 14),
        (12, 14, 16, 18),
        (16, 18, 20, 22),
        (17, 19, 21, 23),
    ]


def test_a_longer_window_spreads_the_clip_evenly_and_its_stride_defaults_to_half():
    # window 2 s = 16 positions, frames at start + 0, 4, 8, 12; stride 1 s; 3 s video: starts 0, 8.
    windows = plan_windows(info(75, 25), TIMED, window=2.0)
    assert windows == (
        Window(0, 0.0, 2.0, (0, 12, 25, 37)),  # 0, 0.5, 1.0, 1.5 s
        Window(1, 1.0, 3.0, (25, 37, 50, 62)),
    )
    # 2.5 s = 20 positions: floor(i * 20 / 4) = 0, 5, 10, 15; stride 10 positions; one more window
    windows = plan_windows(info(75, 25), TIMED, window=2.5, stride=0.25)
    assert windows[0].frame_indices == (0, 15, 31, 46)  # 0, 0.625, 1.25, 1.875 s
    assert [w.start for w in windows] == [0.0, 0.25, 0.5]
    assert windows[-1].end == 3.0


@pytest.mark.parametrize(
    ("frames", "fps", "prep", "window", "stride"),
    [
        (75, 25, TIMED, None, None),
        (181, 60, TIMED, None, 0.375),
        (77, 29.97, TIMED, 1.7, 1.1),
        (61, 12, RAW, None, None),
        (61, 12, RAW, 2.0, 2.0),
        (1000, 30, TIMED, 3.0, 3.0),
    ],
)
def test_every_frame_lies_in_a_window_and_the_last_ends_the_video(frames, fps, prep, window, stride):
    video = info(frames, fps)
    windows = plan_windows(video, prep, window, stride)
    assert windows[-1].end == video.duration
    assert windows[0].start == 0.0
    assert [w.index for w in windows] == list(range(len(windows)))
    assert [w.start for w in windows] == sorted(w.start for w in windows)
    for time in video.timestamps:
        assert any(w.start <= time < w.end for w in windows), time
    shown_until = (*video.timestamps[1:], video.duration)  # a frame is on screen until the next starts
    for w in windows:  # each clip frame is on screen during its window (a grid time picks the frame shown then)
        assert all(video.timestamps[i] < w.end and shown_until[i] > w.start for i in w.frame_indices), w
        assert len(w.frame_indices) == prep.num_frames


def test_a_video_shorter_than_a_window_is_one_window_whose_clip_loops():
    # 0.5 s at 10 fps: 4 grid positions of 8 fps; positions 0, 2, 4, 6 loop to 0, 2, 0, 2.
    (window,) = plan_windows(info(5, 10), TIMED)
    assert window == Window(0, 0.0, 0.5, (0, 2, 0, 2))  # 0, 0.25 s -> frames 0 and 2
    (clip,) = sample_clips_timed(info(5, 10).timestamps, 0.5, 4, 2, 8, 1)
    assert window.frame_indices == clip.frame_indices
    (raw,) = plan_windows(info(3, 10), RAW)
    assert raw == Window(0, 0.0, 0.3, (0, 2, 1, 0))


@pytest.mark.parametrize(
    ("window", "stride", "message"),
    [
        (0, None, "window must be a positive number of seconds, got 0"),
        (-1.0, None, "window must be a positive number of seconds, got -1.0"),
        (float("nan"), None, "window must be a positive number of seconds, got nan"),
        (None, 0.0, "stride must be a positive number of seconds, got 0.0"),
        (None, float("inf"), "stride must be a positive number of seconds, got inf"),
        (None, 0.01, "stride 0.01 s is shorter than one frame step (0.125 s)"),
        (0.5, None, "window 0.5 s is shorter than the model's clip (1 s)"),
        (2.0, 3.0, "stride 3 s is longer than the window (2 s): frames between windows would be in none"),
    ],
)
def test_absurd_windows_and_strides_are_refused_in_one_line(window, stride, message):
    with pytest.raises(ValueError) as raised:
        plan_windows(info(75, 25), TIMED, window, stride)
    assert str(raised.value) == message


def test_more_than_max_windows_is_refused_before_planning_them():
    long_video = info(MAX_WINDOWS * 8 + 100, 8)  # at 8 fps, stride 1 position: more than the bound
    with pytest.raises(ValueError, match=rf"^\d+ windows of 1 s every 0.125 s; at most {MAX_WINDOWS}: "):
        plan_windows(long_video, TIMED, stride=0.125)
