"""Probing and reading a video for its views in one go (``Decoder.probe_and_read``): decord opens
one reader per video, PyAV decodes each frame once, and both give the frames they gave before,
bit for bit, at the same indices.

The references here read the frames with the libraries directly (a scaled decord reader's
``get_batch``; every PyAV frame through ``VideoFrame.reformat``), not through vidclass.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import decord
import numpy as np
import pytest
import torch

from tests.test_decode import VFR_TIMES_MS, write_timed_video
from tests.videos import set_rotation, write_video
from vidclass.protocol import Preprocessing, ViewProtocol
from vidclass.video import load_clip_frames

PREP = Preprocessing(num_frames=4, frame_stride=2, resize_size=20, crop_size=16)
TIMED = Preprocessing(num_frames=4, frame_stride=1, target_fps=10, resize_size=20, crop_size=16)
PROTOCOL = ViewProtocol(clips=3, crops=1)
# widths 20 and 26 (27 high when rotated): decord pads the rows of some widths (24 among them) and its get_batch fails there
# (video, preprocessing) -> the frames the views need, pinned: the same before and after.
EXPECTED = {
    ("cfr", "index"): (0, 2, 4, 6, 16, 18, 20, 22, 32, 34, 36, 38),
    ("vfr", "index"): (0, 1, 2, 3, 4, 5, 6, 7, 8),
    ("vfr", "timed"): (0, 2, 3, 5, 6),  # 10 frames a second over the real frame times
    ("rotated", "index"): (0, 2, 4, 6, 16, 18, 20, 22, 32, 34, 36, 38),
    ("avi", "index"): (0, 1, 2, 3, 4, 5, 6, 7, 8),  # AVI: packets without presentation times
}
PREPS = {"index": PREP, "timed": TIMED}


def textured(index: int, height: int, width: int) -> np.ndarray:
    """Noise that moves with ``index``: scaling and colour conversion change every pixel."""
    rng = np.random.default_rng(index)
    base = np.indices((height, width)).sum(axis=0) * 5 + index * 9
    noise = rng.integers(0, 40, (height, width, 3))
    return ((base[..., None] + noise) % 256).astype(np.uint8)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("once")
    rotated = write_video(root / "rotated.mp4", num_frames=40, width=64, height=48, pattern=textured)
    return {
        "cfr": write_video(root / "cfr.mp4", num_frames=40, fps=25, width=64, height=48, pattern=textured),
        "vfr": write_timed_video(root / "vfr.mp4", VFR_TIMES_MS),
        "rotated": set_rotation(rotated, 90),
        "avi": write_video(root / "h264.avi", num_frames=10, fps=25, pattern=textured),
    }


def decord_reference(path: Path, indices: tuple[int, ...], size_hw: tuple[int, int]) -> torch.Tensor:
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), height=size_hw[0], width=size_hw[1], num_threads=1)
    return torch.from_numpy(reader.get_batch(list(indices)).asnumpy())


def pyav_reference(path: Path, indices: tuple[int, ...], size_hw: tuple[int, int]) -> torch.Tensor:
    kept = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(container.streams.video[0])):
            turns = round(-float(frame.rotation or 0) / 90) % 4
            height, width = size_hw[::-1] if turns % 2 else size_hw
            rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
            kept[index] = torch.from_numpy(np.ascontiguousarray(np.rot90(rgb, k=-turns)))
    return torch.stack([kept[i] for i in indices])


@pytest.mark.parametrize(("video", "sampling"), list(EXPECTED))
@pytest.mark.parametrize("decoder", ["decord", "pyav"])
def test_the_views_frames_are_the_same_indices_and_pixels(videos, video, sampling, decoder):
    info, plan, frames = load_clip_frames(videos[video], PREPS[sampling], PROTOCOL, decoder)
    assert info.decoder == decoder
    assert plan.frame_indices == EXPECTED[(video, sampling)]
    if video == "rotated":
        assert (info.width, info.height) == (48, 64) and plan.resized_hw == (27, 20)
    reference = decord_reference if decoder == "decord" else pyav_reference
    assert torch.equal(frames, reference(videos[video], plan.frame_indices, plan.resized_hw))


class CountingContainer:
    """A PyAV container that counts the frames its ``decode`` yields."""

    def __init__(self, container: Any, decoded: list[int]) -> None:
        self._container, self._decoded = container, decoded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def __enter__(self) -> CountingContainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._container.__exit__(*exc)

    def decode(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for frame in self._container.decode(*args, **kwargs):
            self._decoded.append(1)
            yield frame


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Counts of decord readers opened, PyAV containers opened and PyAV frames decoded."""
    counts: dict[str, list[int]] = {"decord": [], "av": [], "decoded": []}
    real_reader, real_open = decord.VideoReader, av.open

    class CountingReader(real_reader):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            counts["decord"].append(1)
            super().__init__(*args, **kwargs)

    def counting_open(*args: Any, **kwargs: Any) -> Any:
        counts["av"].append(1)
        return CountingContainer(real_open(*args, **kwargs), counts["decoded"])

    monkeypatch.setattr(decord, "VideoReader", CountingReader)
    monkeypatch.setattr(av, "open", counting_open)
    return counts


@pytest.mark.parametrize("video", ["cfr", "vfr", "rotated"])
def test_decord_opens_one_reader_per_video(videos, opens, video):
    info, _, _ = load_clip_frames(videos[video], PREP, PROTOCOL, "decord")
    assert info.decoder == "decord"
    # one decord reader; one PyAV open: the container check, which also gives the frame size
    assert (len(opens["decord"]), len(opens["av"])) == (1, 1)


@pytest.mark.parametrize("video", ["cfr", "vfr", "rotated", "avi"])
def test_pyav_decodes_each_frame_once(videos, opens, video):
    info, _, _ = load_clip_frames(videos[video], PREP, PROTOCOL, "pyav")
    assert info.decoder == "pyav"
    assert len(opens["decoded"]) == info.num_frames
