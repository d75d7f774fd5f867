"""From a video file to the model's input: every view of a ``ViewPlan`` as one float tensor."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from vidclass.protocol import Preprocessing, ViewProtocol
from vidclass.video.base import Decoder, VideoInfo
from vidclass.video.decoders import first_that_works
from vidclass.video.sampling import ViewPlan, plan_views
from vidclass.video.windows import Window, window_view_plan


def build_views(frames: torch.Tensor, plan: ViewPlan, prep: Preprocessing) -> torch.Tensor:
    """Cut every view of ``plan`` out of ``frames`` and normalise it.

    ``frames`` is uint8 (N, H, W, 3): the frames ``plan.frame_indices``, decoded at
    ``plan.resized_hw``. Returns float32 (V, 3, T, crop, crop), views in ``plan.views`` order
    (clip-major), pixels mapped to ``(x / 255 - mean) / std`` per channel.

    Each view's pixels are copied (uint8 to float32) straight into its place in the one output
    tensor, then the whole output is normalised in place: the same float32 operations as
    ``normalise``, so the same bits, without the gathered clips, the stacked crops and the
    float copy of them. A few large operations, not one per view and channel: with more torch
    threads than free cores, each operation waits for its slowest thread.
    """
    _check_frames(frames, plan)
    size = plan.crops[0].size
    length = len(plan.clips[0].frame_indices)
    out = torch.empty((plan.num_views, 3, length, size, size), dtype=torch.float32)  # (V, 3, T, s, s)
    view = 0
    for clip in plan.clips:
        clip_frames = _clip_frames(frames, plan.positions(clip))  # (T, H, W, 3)
        for crop in plan.crops:
            pixels = clip_frames[:, crop.top : crop.top + size, crop.left : crop.left + size]  # (T, s, s, 3)
            out[view].copy_(pixels.permute(3, 0, 1, 2))  # (3, T, s, s)
            view += 1
    return _normalise_(out, prep)


def _clip_frames(frames: torch.Tensor, positions: tuple[int, ...]) -> torch.Tensor:
    """``frames[positions]``: a view when the positions are consecutive (no copy), else a gather."""
    first = positions[0]
    if positions == tuple(range(first, first + len(positions))):
        return frames[first : first + len(positions)]
    return frames[torch.tensor(positions)]


def normalise(pixels: torch.Tensor, prep: Preprocessing) -> torch.Tensor:
    """uint8 (V, 3, T, H, W) to contiguous float32 ``(x / 255 - mean) / std`` per channel."""
    return _normalise_(pixels.to(torch.float32, memory_format=torch.contiguous_format), prep)


def _normalise_(out: torch.Tensor, prep: Preprocessing) -> torch.Tensor:
    """float32 (V, 3, T, H, W) pixel levels to ``(x / 255 - mean) / std`` per channel, in place."""
    mean = torch.tensor(prep.mean, dtype=torch.float32).view(1, 3, 1, 1, 1)  # (1, 3, 1, 1, 1)
    std = torch.tensor(prep.std, dtype=torch.float32).view(1, 3, 1, 1, 1)  # (1, 3, 1, 1, 1)
    return out.div_(255).sub_(mean).div_(std)


def load_clip_frames(
    path: str | os.PathLike[str], prep: Preprocessing, protocol: ViewProtocol, decoder: str = "auto"
) -> tuple[VideoInfo, ViewPlan, torch.Tensor]:
    """Probe ``path``, plan its views and decode each needed frame once, at the resized size
    (``Decoder.probe_and_read``: one decord reader, or one PyAV decoding pass).

    Returns the info, the plan and uint8 (N, H, W, 3) frames for ``plan.frame_indices``.
    ``decoder``: "decord", "pyav", or "auto" (decord; on any decoding failure, including
    fewer frames than promised, PyAV; if both fail, decord's error is the one raised).
    ``info.decoder`` says which decoder produced the frames.
    """
    return first_that_works(path, decoder, lambda chosen: _load_with(chosen, path, prep, protocol))


def _load_with(
    decoder: Decoder, path: str | os.PathLike[str], prep: Preprocessing, protocol: ViewProtocol
) -> tuple[VideoInfo, ViewPlan, torch.Tensor]:
    def plan_for(info: VideoInfo) -> tuple[tuple[int, ...], tuple[int, int]]:
        plan = plan_views(info, prep, protocol)
        return plan.frame_indices, plan.resized_hw

    info, frames = decoder.probe_and_read(path, plan_for)
    return info, plan_views(info, prep, protocol), frames


def load_views(
    path: str | os.PathLike[str], prep: Preprocessing, protocol: ViewProtocol, decoder: str = "auto"
) -> tuple[torch.Tensor, ViewPlan, VideoInfo]:
    """All views of ``path`` as float32 (V, 3, T, crop, crop), with their plan and the info."""
    info, plan, frames = load_clip_frames(path, prep, protocol, decoder)
    return build_views(frames, plan, prep), plan, info


def load_window_views(
    info: VideoInfo, windows: Sequence[Window], prep: Preprocessing, crops: int, decoder: str = "auto"
) -> torch.Tensor:
    """The views of consecutive ``windows`` of ``info``'s video, as float32 (W*crops, 3, T, crop, crop).

    Window-major (window 0's crops, then window 1's), normalised as ``build_views`` does. The
    sorted union of the windows' frames is decoded in one forward pass at the resized size
    (decord: one ``get_batch``; PyAV: from the keyframe before the first of them, found by
    ``info.timestamps``), so a run of nearby windows costs one short stretch of the file.
    ``decoder`` as in ``load_clip_frames``.
    """
    plan = window_view_plan(windows, info, prep, crops)

    def read(chosen: Decoder) -> torch.Tensor:
        return chosen.read_frames(info.path, plan.frame_indices, plan.resized_hw, timestamps=info.timestamps)

    return build_views(first_that_works(info.path, decoder, read), plan, prep)


def _check_frames(frames: torch.Tensor, plan: ViewPlan) -> None:
    expected = (len(plan.frame_indices), *plan.resized_hw, 3)
    if frames.dtype != torch.uint8 or tuple(frames.shape) != expected:
        raise ValueError(f"frames must be uint8 {expected} for this plan, got {frames.dtype} {tuple(frames.shape)}")


__all__ = ["build_views", "load_clip_frames", "load_views", "load_window_views", "normalise"]
