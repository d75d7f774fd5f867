"""The window stream (``DecodeQueue.windows``): each window's views are exactly what
``build_views`` cuts from an independent decode of its clip, in this process and in a worker,
with either decoder; a long video streams with a bounded number of chunks ahead; a file that
fails mid-stream, a crashed or a hung decoder end the stream with one ``VideoError`` line."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import pytest
import torch

from tests import decode_hooks
from tests.videos import id_pattern, write_video
from vidclass.inference import DecodeQueue, RunOptions
from vidclass.protocol import Preprocessing, ViewProtocol
from vidclass.video import VideoError, build_views, get_decoder
from vidclass.video.sampling import Clip, ViewPlan, crop_boxes, resized_hw
from vidclass.video.windows import plan_windows

PREP = Preprocessing(num_frames=4, frame_stride=2, target_fps=8, resize_size=32, crop_size=32)


def _gop_video(path: Path, frames: int = 80, fps: int = 10) -> Path:
    """64x48 frames whose grey level encodes their index, a keyframe every 6 frames and
    B-frames (decoded out of order): what a seek into the middle of a file meets."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"crf": "10", "preset": "veryfast", "g": "6", "keyint_min": "6", "bf": "2"}
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(id_pattern(i, 48, 64), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("windows")
    _gop_video(root / "gop.mp4")
    return root


def _queue(workers: int, decoder: str = "auto", timeout: float | None = 60) -> DecodeQueue:
    return DecodeQueue(PREP, ViewProtocol(), RunOptions(workers=workers, decoder=decoder, timeout=timeout))


def _expected(path: str, decoder: str, frame_indices: tuple[int, ...], size: tuple[int, int], crops: int):
    """One window's views built independently: its clip as a one-clip ViewPlan, decoded from frame 0."""
    clip = Clip(0, frame_indices[0], frame_indices)
    plan = ViewPlan((clip,), crop_boxes(*size, PREP.crop_size, crops), size, tuple(sorted(set(frame_indices))))
    return build_views(get_decoder(decoder).read_frames(path, plan.frame_indices, size), plan, PREP)


@pytest.mark.parametrize(
    ("workers", "decoder", "crops"), [(0, "decord", 3), (0, "pyav", 1), (1, "auto", 3), (1, "pyav", 3)]
)
def test_each_windows_views_are_build_views_of_its_clip_bit_for_bit(work, workers, decoder, crops):
    path = str(work / "gop.mp4")
    info = get_decoder("decord" if decoder == "auto" else decoder).probe(path)
    windows = plan_windows(info, PREP)
    assert len(windows) == 15  # 8 s: 64 grid positions, window 8, stride 4
    size = resized_hw(info.height, info.width, PREP.resize_size)
    queue = _queue(workers, decoder)
    try:
        seen = []
        for group, views in queue.windows(info, windows, crops=crops, chunk=4):
            assert views.dtype == torch.float32
            assert tuple(views.shape) == (len(group) * crops, 3, 4, 32, 32)
            for k, window in enumerate(group):
                expected = _expected(
                    path, "decord" if decoder == "auto" else decoder, window.frame_indices, size, crops
                )
                assert torch.equal(views[k * crops : (k + 1) * crops], expected), window
            seen.extend(group)
        assert tuple(seen) == windows
    finally:
        queue.close()


def test_pyav_from_a_seek_reads_the_frames_a_full_pass_reads(work):
    path = str(work / "gop.mp4")
    info = get_decoder("pyav").probe(path)
    pyav = get_decoder("pyav")
    decord_times = get_decoder("decord").probe(path).timestamps  # float32 seconds: a chunk that fell back
    for wanted in ([37, 41, 45], [6], [5, 79], [60, 13]):
        full_pass = pyav.read_frames(path, wanted, (24, 32))
        assert torch.equal(pyav.read_frames(path, wanted, (24, 32), timestamps=info.timestamps), full_pass)
        assert torch.equal(pyav.read_frames(path, wanted, (24, 32), timestamps=decord_times), full_pass)
    ids = [
        round(float(f.double().mean()) / 8) % 32 for f in pyav.read_frames(path, [37, 41], timestamps=info.timestamps)
    ]
    assert ids == [37 % 32, 41 % 32]


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_a_long_video_streams_with_a_bounded_number_of_chunks_ahead(tmp_path, workers):
    path = write_video(tmp_path / "long.mp4", num_frames=480, fps=8)  # 60 s, 64x48
    info = get_decoder("decord").probe(path)
    windows = plan_windows(info, PREP)
    assert len(windows) == 119
    queue = _queue(workers)
    try:
        ahead = []
        count = 0
        for group, views in queue.windows(info, windows, crops=1, chunk=4):
            count += len(group)
            ahead.append(queue.chunks_in_flight)
            assert views.shape[0] == len(group)
        assert count == len(windows)
        chunks = 30  # ceil(119 / 4)
        assert ahead == [min(workers, chunks - 1 - i) for i in range(chunks)]
        assert queue.chunks_in_flight == 0
    finally:
        queue.close()


@pytest.mark.parametrize("workers", [0, 1])
def test_a_file_that_fails_mid_stream_raises_one_video_error(tmp_path, workers):
    path = _gop_video(tmp_path / "cut.mp4")
    info = get_decoder("decord").probe(path)
    windows = plan_windows(info, PREP)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # the file lost its later frames after it was probed
    queue = _queue(workers)
    try:
        stream = queue.windows(info, windows, crops=1, chunk=4)
        with pytest.raises(VideoError) as raised:
            for _ in stream:
                pass
        assert "\n" not in str(raised.value) and str(raised.value)
        assert queue.chunks_in_flight == 0
    finally:
        queue.close()


@pytest.mark.parametrize(
    ("name", "decoder", "message", "streamed"),
    [
        ("hang.mp4", "decord", "decode timed out after 1 s", 2),
        ("crash.mp4", "decord", "decoder crashed (SIGSEGV)", 2),
        ("decordcrash.mp4", "auto", None, 15),  # decord crashes mid-file: PyAV takes the chunk over
    ],
)
def test_a_decoder_that_hangs_or_crashes_mid_file_ends_the_stream_with_one_line(
    work, monkeypatch, name, decoder, message, streamed
):
    decode_hooks.install(monkeypatch)
    path = work / name
    shutil.copy(work / "gop.mp4", path)
    info = get_decoder("decord").probe(path)
    windows = plan_windows(info, PREP)
    queue = _queue(1, decoder, timeout=1)
    got = []
    try:
        if message is None:
            got = [w for group, _ in queue.windows(info, windows, chunk=2) for w in group]
        else:
            with pytest.raises(VideoError) as raised:
                for group, _ in queue.windows(info, windows, chunk=2):
                    got.extend(group)
            assert str(raised.value) == message
    finally:
        queue.close()
    assert len(got) == streamed  # the chunks before the failing one came through


def test_bad_crops_or_chunk_are_refused_before_anything_decodes(work):
    info = get_decoder("decord").probe(work / "gop.mp4")
    windows = plan_windows(info, PREP)
    queue = _queue(0)
    for crops, chunk in ((2, 4), (1, 0), (3, True), (1, 2.5)):
        with pytest.raises(ValueError):
            queue.windows(info, windows, crops=crops, chunk=chunk)
