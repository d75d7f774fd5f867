"""``build_views`` gives the same bits as the formula it replaced: gather the clips, stack the
crops, permute, then ``normalise`` the whole stack (x / 255 - mean) / std in float32.

The faster build writes each (view, channel) block into one output tensor and normalises it
there with the same float32 operations, so every pixel must be bit-for-bit equal
(``torch.equal``), for ViViT-B's views, the bundled model's, a portrait frame, per-channel
mean and std, and clips that loop or overlap (positions that are not consecutive).
"""

from __future__ import annotations

import pytest
import torch

from vidclass.models import get_entry
from vidclass.video import Preprocessing, VideoInfo, ViewPlan, ViewProtocol, build_views, normalise, plan_views


def formula(frames: torch.Tensor, plan: ViewPlan, prep: Preprocessing) -> torch.Tensor:
    """The views as the stack formula built them: (V, 3, T, s, s) float32, written out here
    (not through ``normalise``, which the test also checks against it)."""
    positions = torch.tensor([plan.positions(clip) for clip in plan.clips])  # (C, T)
    clips = frames[positions]  # (C, T, H, W, 3)
    crops = [clips[:, :, c.top : c.top + c.size, c.left : c.left + c.size] for c in plan.crops]  # K x (C, T, s, s, 3)
    views = torch.stack(crops, dim=1).flatten(0, 1).permute(0, 4, 1, 2, 3)  # (V, 3, T, s, s)
    mean = torch.tensor(prep.mean, dtype=torch.float32).view(1, 3, 1, 1, 1)
    std = torch.tensor(prep.std, dtype=torch.float32).view(1, 3, 1, 1, 1)
    return views.to(torch.float32).contiguous().div_(255).sub_(mean).div_(std)


def info(width: int, height: int, frames: int, fps: float = 30.0) -> VideoInfo:
    return VideoInfo(
        "synthetic", frames, fps, width, height, frames / fps, "h264", tuple(i / fps for i in range(frames))
    )


def random_frames(plan: ViewPlan, seed: int) -> torch.Tensor:
    """uint8 (N, H, W, 3) noise over every level 0-255, with both extremes at the frame edges."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randint(
        0, 256, (len(plan.frame_indices), *plan.resized_hw, 3), dtype=torch.uint8, generator=generator
    )
    frames[:, :, 0] = 0  # the left (or top) crop's first column
    frames[:, :, -1] = 255  # the right crop's last column
    frames[:, 0, :] = 255
    frames[:, -1, :] = 0
    return frames


VIVIT_B = get_entry("vivit-b-16x2")
BUNDLED = get_entry("vivit-s64-tl8at1")
IMAGENET = Preprocessing(
    num_frames=8, frame_stride=2, resize_size=40, crop_size=32, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
)
CASES = {
    "vivit-b 480p": (VIVIT_B.preprocessing, VIVIT_B.protocol, info(854, 480, 300)),
    "bundled 720p": (BUNDLED.preprocessing, BUNDLED.protocol, info(1280, 720, 300)),
    "bundled portrait": (BUNDLED.preprocessing, BUNDLED.protocol, info(720, 1280, 150)),
    "imagenet portrait, looping": (IMAGENET, ViewProtocol(clips=3, crops=3), info(90, 160, 10)),
    "imagenet overlapping clips, one crop": (IMAGENET, ViewProtocol(clips=4, crops=1), info(160, 90, 30)),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_views_are_the_stack_formulas_bit_for_bit(case: str) -> None:
    prep, protocol, video = CASES[case]
    plan = plan_views(video, prep, protocol)
    frames = random_frames(plan, seed=len(case))
    views = build_views(frames, plan, prep)
    assert views.dtype == torch.float32 and views.is_contiguous()
    expected = formula(frames, plan, prep)
    assert torch.equal(views, expected)
    assert torch.equal(normalise(views_uint8(frames, plan), prep), expected)


def views_uint8(frames: torch.Tensor, plan: ViewPlan) -> torch.Tensor:
    """The uint8 (V, 3, T, s, s) views, for ``normalise``."""
    clips = frames[torch.tensor([plan.positions(clip) for clip in plan.clips])]  # (C, T, H, W, 3)
    crops = [clips[:, :, c.top : c.top + c.size, c.left : c.left + c.size] for c in plan.crops]
    return torch.stack(crops, dim=1).flatten(0, 1).permute(0, 4, 1, 2, 3)


def test_the_cases_reach_both_edges_and_non_consecutive_positions() -> None:
    """What the cases above are meant to cover, so a change to the planner cannot hollow them out."""
    for prep, protocol, video in CASES.values():
        plan = plan_views(video, prep, protocol)
        height, width = plan.resized_hw
        if protocol.crops == 3:
            long_side = max(height, width)
            ends = [c.top + c.size if height > width else c.left + c.size for c in plan.crops]
            starts = [c.top if height > width else c.left for c in plan.crops]
            assert starts[0] == 0 and ends[-1] == long_side
    portrait = plan_views(CASES["bundled portrait"][2], BUNDLED.preprocessing, BUNDLED.protocol)
    assert portrait.resized_hw[0] > portrait.resized_hw[1]
    looping = plan_views(CASES["imagenet portrait, looping"][2], IMAGENET, ViewProtocol(clips=3, crops=3))
    assert looping.resized_hw[0] > looping.resized_hw[1]  # portrait: crops run top to bottom
    assert any(
        looping.positions(c) != tuple(range(looping.positions(c)[0], looping.positions(c)[0] + 8))
        for c in looping.clips
    )
    overlapping = plan_views(CASES["imagenet overlapping clips, one crop"][2], IMAGENET, ViewProtocol(clips=4, crops=1))
    assert len(overlapping.frame_indices) < 4 * 8  # clips share frames
