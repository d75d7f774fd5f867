"""Building normalised views: exact pixels on synthetic frames, frame ids on a real video."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from tests.videos import frame_id, write_video
from vidclass.video import (
    Preprocessing,
    VideoInfo,
    ViewPlan,
    ViewProtocol,
    build_views,
    load_views,
    normalise,
    plan_views,
)

# mean/std differ per channel so a swapped channel or a missing step shows
PREP = Preprocessing(
    num_frames=2,
    frame_stride=2,
    resize_size=8,
    crop_size=4,
    mean=(0.1, 0.2, 0.3),
    std=(0.5, 0.25, 2.0),
)


def expected_value(channel: int, level: int, prep: Preprocessing = PREP) -> float:
    return (level / 255 - prep.mean[channel]) / prep.std[channel]


def coordinate_frames(plan: ViewPlan) -> torch.Tensor:
    """uint8 (N, H, W, 3) where pixel (r, c) of decoded frame f holds (r, c, f)."""
    height, width = plan.resized_hw
    rows = torch.arange(height).view(height, 1).expand(height, width)  # (H, W)
    cols = torch.arange(width).view(1, width).expand(height, width)  # (H, W)
    frames = [torch.stack([rows, cols, torch.full_like(rows, f)], dim=-1) for f in plan.frame_indices]  # N x (H, W, 3)
    return torch.stack(frames).to(torch.uint8)  # (N, H, W, 3)


@pytest.fixture
def plan() -> ViewPlan:
    info = VideoInfo(
        path="synthetic",
        num_frames=6,
        fps=25.0,
        width=12,
        height=8,
        duration=0.24,
        codec="h264",
        timestamps=(0.0, 0.04, 0.08, 0.12, 0.16, 0.2),
    )
    return plan_views(info, PREP, ViewProtocol(clips=2, crops=3))


def test_synthetic_plan_is_what_the_pixel_tests_assume(plan: ViewPlan) -> None:
    assert [c.frame_indices for c in plan.clips] == [(0, 2), (2, 4)]
    assert plan.frame_indices == (0, 2, 4)
    assert plan.resized_hw == (8, 12)
    assert [(c.top, c.left) for c in plan.crops] == [(2, 0), (2, 4), (2, 8)]


def test_view_corner_pixels_are_exact(plan: ViewPlan) -> None:
    views = build_views(coordinate_frames(plan), plan, PREP)
    assert views.dtype == torch.float32
    assert tuple(views.shape) == (6, 3, 2, 4, 4)
    assert views.is_contiguous()
    # view 4 = clip 1 (frames 2, 4) x centre crop (top 2, left 4); its frame t=1 is frame 4
    corner = views[4, :, 1, 0, 0].tolist()
    assert corner == pytest.approx([expected_value(0, 2), expected_value(1, 4), expected_value(2, 4)], abs=1e-6)
    # bottom-right pixel of view 2 = clip 0 frame 0 x right crop: row 2+3, col 8+3
    far = views[2, :, 0, 3, 3].tolist()
    assert far == pytest.approx([expected_value(0, 5), expected_value(1, 11), expected_value(2, 0)], abs=1e-6)


def test_every_view_pixel_matches_its_clip_and_crop(plan: ViewPlan) -> None:
    views = build_views(coordinate_frames(plan), plan, PREP)
    for v, view in enumerate(plan.views):  # clip-major order
        crop = view.crop
        for t, frame in enumerate(view.clip.frame_indices):
            rows = [expected_value(0, crop.top + y) for y in range(4)]
            cols = [expected_value(1, crop.left + x) for x in range(4)]
            assert views[v, 0, t, :, 0].tolist() == pytest.approx(rows, abs=1e-6)
            assert views[v, 1, t, 0, :].tolist() == pytest.approx(cols, abs=1e-6)
            assert views[v, 2, t].flatten().tolist() == pytest.approx([expected_value(2, frame)] * 16, abs=1e-6)


def test_default_normalisation_maps_to_minus_one_one() -> None:
    pixels = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 3, 1, 1).expand(1, 3, 3, 1, 1)
    out = normalise(pixels, Preprocessing())
    assert out.dtype == torch.float32
    assert out[0, :, 0, 0, 0].tolist() == [-1.0] * 3  # exact ends of [-1, 1]
    assert out[0, :, 2, 0, 0].tolist() == [1.0] * 3
    assert out[0, :, 1, 0, 0].tolist() == pytest.approx([-0.6] * 3, abs=1e-6)


def test_build_views_rejects_frames_that_do_not_fit_the_plan(plan: ViewPlan) -> None:
    frames = coordinate_frames(plan)
    with pytest.raises(ValueError, match="frames must be uint8"):
        build_views(frames[:2], plan, PREP)
    with pytest.raises(ValueError, match="frames must be uint8"):
        build_views(frames.float(), plan, PREP)


# --- real video --------------------------------------------------------------------------

REAL_PREP = Preprocessing(num_frames=4, frame_stride=3, resize_size=24, crop_size=16)


def view_ids(views: torch.Tensor, prep: Preprocessing) -> list[list[int]]:
    """Frame ids of each (V, 3, T, s, s) view's frames, read back from the grey levels."""
    mean = torch.tensor(prep.mean).view(1, 3, 1, 1, 1)  # (1, 3, 1, 1, 1)
    std = torch.tensor(prep.std).view(1, 3, 1, 1, 1)  # (1, 3, 1, 1, 1)
    pixels = (views * std + mean) * 255  # (V, 3, T, s, s)
    pixels = pixels.permute(0, 2, 3, 4, 1)  # (V, T, s, s, 3)
    return [[frame_id(frame.numpy()) for frame in view] for view in pixels]


def expected_ids(indices: Sequence[int]) -> list[int]:
    return [i % 32 for i in indices]  # frame ids wrap every 32 frames


def test_load_views_cuts_the_planned_frames(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", num_frames=40, fps=25, width=64, height=48)
    views, plan, info = load_views(path, REAL_PREP, ViewProtocol(clips=3, crops=3))
    assert info.num_frames == 40
    assert [c.frame_indices for c in plan.clips] == [
        (0, 3, 6, 9),
        (14, 17, 20, 23),
        (28, 31, 34, 37),
    ]
    assert tuple(views.shape) == (9, 3, 4, 16, 16)
    assert view_ids(views, REAL_PREP) == [expected_ids(v.clip.frame_indices) for v in plan.views]


def test_load_views_at_target_fps_on_a_50fps_video(tmp_path: Path) -> None:
    path = write_video(tmp_path / "fast.mp4", num_frames=80, fps=50, width=48, height=64)
    prep = Preprocessing(num_frames=4, frame_stride=3, resize_size=24, crop_size=16, target_fps=25.0)
    views, plan, _ = load_views(path, prep, ViewProtocol(clips=3, crops=1))
    assert [c.frame_indices for c in plan.clips] == [
        (0, 6, 12, 18),
        (28, 34, 40, 46),
        (56, 62, 68, 74),
    ]
    assert plan.resized_hw == (32, 24)
    assert view_ids(views, prep) == [expected_ids(v.clip.frame_indices) for v in plan.views]


def test_load_views_decodes_each_needed_frame_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import decord

    path = write_video(tmp_path / "short.mp4", num_frames=10, fps=25)
    calls: list[tuple[int, ...]] = []
    real_get_batch = decord.VideoReader.get_batch

    def recording(reader: decord.VideoReader, indices: Sequence[int]):
        calls.append(tuple(indices))
        return real_get_batch(reader, indices)

    monkeypatch.setattr(decord.VideoReader, "get_batch", recording)
    prep = Preprocessing(num_frames=4, frame_stride=2, resize_size=24, crop_size=16)
    _, plan, _ = load_views(path, prep, ViewProtocol(clips=2, crops=1))
    # 10 frames, clips of 4 x 2 at starts 0 and 2: they share frames 2, 4 and 6
    assert plan.frame_indices == (0, 2, 4, 6, 8)
    assert calls == [(0, 2, 4, 6, 8)]
