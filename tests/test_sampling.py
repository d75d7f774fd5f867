"""Clip and crop arithmetic: exact indices and offsets, no decoding."""

from __future__ import annotations

import numpy as np
import pytest

from vidclass.video import (
    Preprocessing,
    VideoInfo,
    ViewPlan,
    ViewProtocol,
    clip_starts,
    crop_boxes,
    plan_views,
    resized_hw,
    sample_clips,
    sample_clips_timed,
)
from vidclass.video.sampling import grid_size


def regular_times(count: int, fps: float, noisy: bool = False) -> tuple[float, ...]:
    """Frame start times of a constant-rate video; ``noisy`` rounds them through float32
    the way decord reports them (0.04 becomes 0.03999999910593033)."""
    times = [i / fps for i in range(count)]
    return tuple(float(np.float32(t)) if noisy else t for t in times)


def fake_info(num_frames: int, fps: float, height: int = 48, width: int = 64) -> VideoInfo:
    return VideoInfo(
        path="fake.mp4",
        num_frames=num_frames,
        fps=fps,
        width=width,
        height=height,
        duration=num_frames / fps,
        codec="h264",
        timestamps=regular_times(num_frames, fps),
    )


# --- clip starts and raw-frame sampling ------------------------------------------------------


def test_scenic_starts_for_250_frames_4_clips_of_32x2() -> None:
    assert clip_starts(250, 64, 4) == (0, 62, 124, 186)


def test_starts_truncate_linspace_instead_of_rounding() -> None:
    # linspace(0, 85, 4) = 0, 28.33, 56.67, 85: truncation gives 56 where rounding gives 57.
    assert clip_starts(101, 16, 4) == (0, 28, 56, 85)


def test_single_clip_is_the_centre_clip() -> None:
    assert clip_starts(100, 16, 1) == (42,)
    clip = sample_clips(100, 8, 2, 1)[0]
    assert clip.start == 42
    assert clip.frame_indices == (42, 44, 46, 48, 50, 52, 54, 56)


def test_250_frames_4x32x2_full_indices() -> None:
    clips = sample_clips(250, 32, 2, 4)
    assert [c.index for c in clips] == [0, 1, 2, 3]
    assert [c.start for c in clips] == [0, 62, 124, 186]
    assert clips[0].frame_indices == tuple(range(0, 64, 2))
    assert clips[3].frame_indices == tuple(range(186, 250, 2))
    assert clips[3].frame_indices[-1] == 248


def test_short_video_loops() -> None:
    clips = sample_clips(10, 8, 2, 2)
    assert [c.frame_indices for c in clips] == [(0, 2, 4, 6, 8, 0, 2, 4)] * 2
    assert sample_clips(3, 4, 1, 1)[0].frame_indices == (0, 1, 2, 0)


def test_one_frame_video_repeats_it() -> None:
    assert sample_clips(1, 4, 2, 2)[1].frame_indices == (0, 0, 0, 0)


@pytest.mark.parametrize("args", [(0, 8, 2, 1), (10, 0, 2, 1), (10, 8, 0, 1), (10, 8, 2, 0)])
def test_sample_clips_rejects_empty_arguments(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        sample_clips(*args)


# --- time-based sampling -----------------------------------------------------------------


def test_grid_size_rounds_robustly() -> None:
    assert grid_size(10.0, 25) == 250
    assert grid_size(1.600000023841858, 25) == 40  # decord's float32 end time
    assert grid_size(0.01, 25) == 1


@pytest.mark.parametrize("noisy", [False, True])
def test_timed_sampling_at_native_rate_equals_raw_sampling(noisy: bool) -> None:
    times = regular_times(250, 25, noisy)
    timed = sample_clips_timed(times, 10.0, 32, 2, 25.0, 4)
    assert timed == sample_clips(250, 32, 2, 4)


@pytest.mark.parametrize("noisy", [False, True])
def test_50fps_video_at_25fps_takes_twice_the_indices(noisy: bool) -> None:
    at_25 = sample_clips_timed(regular_times(250, 25, noisy), 10.0, 32, 2, 25.0, 4)
    at_50 = sample_clips_timed(regular_times(500, 50, noisy), 10.0, 32, 2, 25.0, 4)
    assert [c.start for c in at_50] == [0, 124, 248, 372]
    for slow, fast in zip(at_25, at_50, strict=True):
        assert fast.frame_indices == tuple(2 * i for i in slow.frame_indices)


def test_timed_sampling_loops_short_videos() -> None:
    clip = sample_clips_timed(regular_times(10, 25), 0.4, 8, 2, 25.0, 1)[0]
    assert clip.frame_indices == (0, 2, 4, 6, 8, 0, 2, 4)


def test_variable_frame_rate_follows_real_timestamps() -> None:
    times = (0.0, 0.04, 0.08, 0.2, 0.22, 0.24, 0.4, 0.44, 0.48, 0.5)
    # 0.52 s at 25 fps = 13 grid positions; a clip of 6 x 2 spans 12, so starts are 0 and 1.
    clips = sample_clips_timed(times, 0.52, 6, 2, 25.0, 2)
    # grid times 0, .08, .16, .24, .32, .40 -> last frame starting at or before each
    assert clips[0].frame_indices == (0, 2, 2, 5, 5, 6)
    # grid times .04, .12, .20, .28, .36, .44
    assert clips[1].frame_indices == (1, 2, 3, 5, 5, 7)
    assert clips[1].start == 1


def test_timed_grid_starts_at_the_first_timestamp() -> None:
    shifted = tuple(1.0 + t for t in regular_times(40, 25))
    clips = sample_clips_timed(shifted, 2.6, 8, 2, 25.0, 3)
    assert clips == sample_clips(40, 8, 2, 3)


def test_timed_sampling_rejects_unordered_timestamps() -> None:
    with pytest.raises(ValueError, match="order"):
        sample_clips_timed((0.0, 0.08, 0.04), 0.12, 2, 1, 25.0, 1)


# --- resizing and crops ------------------------------------------------------------------


def test_resized_hw_landscape_portrait_square() -> None:
    assert resized_hw(48, 64, 256) == (256, 341)
    assert resized_hw(64, 48, 256) == (341, 256)
    assert resized_hw(100, 100, 224) == (224, 224)
    assert resized_hw(1080, 1920, 256) == (256, 455)
    assert resized_hw(2, 3, 3) == (3, 5)  # 4.5 rounds half up


def test_three_landscape_crops() -> None:
    crops = crop_boxes(256, 341, 224, 3)
    assert [(c.index, c.name, c.top, c.left, c.size) for c in crops] == [
        (0, "left", 16, 0, 224),
        (1, "centre", 16, 59, 224),
        (2, "right", 16, 117, 224),
    ]


def test_three_portrait_crops() -> None:
    crops = crop_boxes(341, 256, 224, 3)
    assert [(c.name, c.top, c.left) for c in crops] == [
        ("top", 0, 16),
        ("middle", 59, 16),
        ("bottom", 117, 16),
    ]


def test_square_frames_use_landscape_names() -> None:
    crops = crop_boxes(256, 256, 224, 3)
    assert [(c.name, c.top, c.left) for c in crops] == [
        ("left", 16, 0),
        ("centre", 16, 16),
        ("right", 16, 32),
    ]


def test_one_crop_is_the_centre_with_ceil_offsets() -> None:
    (crop,) = crop_boxes(256, 341, 224, 1)
    assert (crop.index, crop.name, crop.top, crop.left, crop.size) == (0, "centre", 16, 59, 224)
    (crop,) = crop_boxes(341, 257, 224, 1)
    assert (crop.name, crop.top, crop.left) == ("centre", 59, 17)  # ceil(33 / 2) = 17


def test_frame_smaller_than_crop_is_an_error() -> None:
    with pytest.raises(ValueError, match="smaller than"):
        crop_boxes(200, 300, 224, 3)
    with pytest.raises(ValueError, match="smaller than"):
        crop_boxes(300, 223, 224, 1)


# --- plans -------------------------------------------------------------------------------


def small_prep(**changes: object) -> Preprocessing:
    values: dict[str, object] = {
        "num_frames": 4,
        "frame_stride": 2,
        "resize_size": 24,
        "crop_size": 16,
    }
    values.update(changes)
    return Preprocessing(**values)  # type: ignore[arg-type]


def test_plan_frame_indices_are_the_sorted_unique_union() -> None:
    plan = plan_views(fake_info(20, 25), small_prep(), ViewProtocol(clips=3, crops=3))
    assert [c.frame_indices for c in plan.clips] == [
        (0, 2, 4, 6),
        (6, 8, 10, 12),
        (12, 14, 16, 18),
    ]
    assert plan.frame_indices == (0, 2, 4, 6, 8, 10, 12, 14, 16, 18)
    assert plan.positions(plan.clips[1]) == (3, 4, 5, 6)
    assert plan.resized_hw == (24, 32)
    assert [(c.name, c.top, c.left) for c in plan.crops] == [
        ("left", 4, 0),
        ("centre", 4, 8),
        ("right", 4, 16),
    ]


def test_plan_views_are_clip_major() -> None:
    plan = plan_views(fake_info(20, 25), small_prep(), ViewProtocol(clips=2, crops=3))
    assert plan.num_views == 6
    assert [(v.clip.index, v.crop.index) for v in plan.views] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
    ]


def test_plan_uses_timestamps_when_target_fps_is_set() -> None:
    protocol = ViewProtocol(clips=2, crops=1)
    native = plan_views(fake_info(40, 25), small_prep(target_fps=25.0), protocol)
    fast = plan_views(fake_info(80, 50), small_prep(target_fps=25.0), protocol)
    raw_fast = plan_views(fake_info(80, 50), small_prep(), protocol)
    assert native.frame_indices == plan_views(fake_info(40, 25), small_prep(), protocol).frame_indices
    assert fast.frame_indices == tuple(2 * i for i in native.frame_indices)
    assert raw_fast.frame_indices != fast.frame_indices


def test_plan_rejects_inconsistent_frame_indices() -> None:
    plan = plan_views(fake_info(20, 25), small_prep(), ViewProtocol(clips=2, crops=1))
    with pytest.raises(ValueError, match="sorted union"):
        ViewPlan(plan.clips, plan.crops, plan.resized_hw, plan.frame_indices[::-1])
