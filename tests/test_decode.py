"""Probing and decoding real (tiny) video files written by the tests, and bad inputs."""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import decord
import numpy as np
import pytest
import torch

from tests.videos import frame_id, id_pattern, write_video
from vidclass.video import VideoError, decord_decoder, probe, read_frames
from vidclass.video.containers import check_container, check_iso_boxes
from vidclass.video.pyav_decoder import probe as probe_pyav
from vidclass.video.pyav_decoder import read_frames as read_frames_pyav

VFR_TIMES_MS = (0, 40, 80, 200, 220, 240, 400, 440, 480, 500)


def ids(frames: torch.Tensor) -> list[int]:
    return [frame_id(frame.numpy()) for frame in frames]


def write_timed_video(path: Path, times_ms: Sequence[int]) -> Path:
    """H.264 with one frame per entry of ``times_ms`` (presentation times, milliseconds)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"crf": "10", "preset": "ultrafast"}
        for i, pts in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(id_pattern(i, 48, 64), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only(path: Path) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        silence = np.zeros((1, 1024), dtype=np.float32)
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frameless(path: Path) -> Path:
    """A well-formed MP4 whose H.264 stream has no frames."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    return {
        "mp4": write_video(root / "clip.mp4", num_frames=40, fps=25, width=64, height=48),
        "fast": write_video(root / "fast.mp4", num_frames=100, fps=50, width=48, height=64),
        "vfr": write_timed_video(root / "vfr.mp4", VFR_TIMES_MS),
        "avi": write_video(root / "h264.avi", num_frames=10, fps=25),
    }


# --- probe -------------------------------------------------------------------------------


def test_probe_reads_exact_stream_facts(videos: dict[str, Path]) -> None:
    info = probe(videos["mp4"])
    assert info.path == str(videos["mp4"])
    assert (info.num_frames, info.fps, info.width, info.height) == (40, 25.0, 64, 48)
    assert info.duration == 1.6
    assert info.codec == "h264"
    assert info.timestamps == tuple(round(i / 25, 6) for i in range(40))


def test_probe_50fps_portrait(videos: dict[str, Path]) -> None:
    info = probe(str(videos["fast"]))
    assert (info.num_frames, info.fps, info.width, info.height) == (100, 50.0, 48, 64)
    assert info.duration == 2.0
    assert info.timestamps[:3] == (0.0, 0.02, 0.04)


def test_probe_variable_frame_rate_keeps_real_timestamps(videos: dict[str, Path]) -> None:
    info = probe(videos["vfr"])
    assert info.num_frames == 10
    assert info.timestamps == tuple(t / 1000 for t in VFR_TIMES_MS)
    assert info.duration == 0.54  # the last frame lasts as long as the one before it


def test_probe_replaces_missing_timestamps_with_a_constant_rate(videos: dict[str, Path]) -> None:
    # H.264 in AVI carries no presentation times: decord reports about -3.7e17 s per frame.
    raw = decord.VideoReader(str(videos["avi"]), num_threads=1).get_frame_timestamp([0])
    assert raw[0, 0] < -1e17
    info = probe(videos["avi"])
    assert info.timestamps == tuple(round(i / 25, 6) for i in range(10))
    assert info.duration == 0.4


def test_codec_is_unknown_without_pyav(videos: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` raise ImportError
    assert check_container(str(videos["mp4"])) == "unknown"


# --- read_frames -------------------------------------------------------------------------


def test_read_frames_returns_the_requested_frames(videos: dict[str, Path]) -> None:
    frames = read_frames(videos["mp4"], [0, 3, 7, 20])
    assert frames.dtype == torch.uint8
    assert tuple(frames.shape) == (4, 48, 64, 3)
    assert ids(frames) == [0, 3, 7, 20]
    assert int(frames[2, 10, 10, 0]) in range(7 * 8 - 2, 7 * 8 + 3)  # grey level 56, +-2


def test_read_frames_keeps_the_order_given(videos: dict[str, Path]) -> None:
    assert ids(read_frames(videos["mp4"], [20, 3, 35])) == [20, 3, 35 % 32]


@pytest.mark.parametrize("size_hw", [(24, 32), (30, 20)])
def test_read_frames_scales_while_decoding(videos: dict[str, Path], size_hw: tuple[int, int]) -> None:
    frames = read_frames(videos["mp4"], [1, 2, 39], size_hw)
    assert tuple(frames.shape) == (3, *size_hw, 3)
    assert ids(frames) == [1, 2, 39 % 32]


def test_read_frames_with_the_torch_bridge_set_elsewhere(videos: dict[str, Path]) -> None:
    decord.bridge.set_bridge("torch")
    try:
        assert ids(read_frames(videos["mp4"], [5, 6])) == [5, 6]
    finally:
        decord.bridge.set_bridge("native")


# decord pads the RGB rows of some frame widths (48 and 24 here) and get_batch then fails;
# read_frames falls back to a sequential read and strips the padding.


def halves(index: int, height: int, width: int) -> np.ndarray:
    """Black left half, white right half, with frame ``index``'s id level in blue."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[:, width // 2 :, :2] = 255
    frame[:, :, 2] = (index % 32) * 8
    return frame


def test_padded_width_native_frames_are_exact(tmp_path: Path) -> None:
    path = write_video(tmp_path / "narrow.mp4", num_frames=12, width=48, height=32, pattern=halves)
    frames = read_frames(path, [9, 2, 9, 0])  # any order, repeats allowed
    assert tuple(frames.shape) == (4, 32, 48, 3)
    pixels = frames.numpy().astype(int)
    assert [round(float(f[..., 2].mean()) / 8) for f in pixels] == [9, 2, 9, 0]
    # a wrong row stride would shear the edge or leak padding bytes into some rows
    assert pixels[:, :, :20, :2].max() <= 12
    assert pixels[:, :, 28:, :2].min() >= 243


@pytest.mark.parametrize("size_hw", [(32, 24), (48, 48), (12, 16)])
def test_padded_width_scaled_frames(videos: dict[str, Path], size_hw: tuple[int, int]) -> None:
    frames = read_frames(videos["mp4"], [0, 13, 31], size_hw)
    assert tuple(frames.shape) == (3, *size_hw, 3)
    assert ids(frames) == [0, 13, 31]
    levels = torch.tensor([0, 13, 31]).view(3, 1, 1, 1) * 8  # (3, 1, 1, 1) expected grey
    assert int((frames.int() - levels).abs().max()) <= 3


@pytest.mark.parametrize("indices", [[40], [-1], []])
def test_read_frames_rejects_bad_indices(videos: dict[str, Path], indices: list[int]) -> None:
    with pytest.raises(ValueError):
        read_frames(videos["mp4"], indices)


# --- bad inputs: VideoError, one line, nothing else ----------------------------------------


def _missing(root: Path) -> Path:
    return root / "missing.mp4"


def _directory(root: Path) -> Path:
    (root / "folder.mp4").mkdir()
    return root / "folder.mp4"


def _zero_bytes(root: Path) -> Path:
    (root / "zero.mp4").write_bytes(b"")
    return root / "zero.mp4"


def _random_bytes(root: Path) -> Path:
    (root / "random.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    return root / "random.mp4"


def _text(root: Path) -> Path:
    # decord opens this with FFmpeg's "tty" demuxer as a 1-frame video that cannot decode.
    (root / "notes.txt").write_text("not a video\n" * 50)
    return root / "notes.txt"


BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (_missing, "file not found"),
    "directory": (_directory, "is a directory, not a video file"),
    "zero bytes": (_zero_bytes, "empty file"),
    "random bytes": (_random_bytes, "cannot open video: not a video file, or an unsupported format"),
    "text": (_text, "not a video file (text)"),
    "audio only": (lambda r: write_audio_only(r / "sound.m4a"), "cannot open video: no video stream"),
    "no frames": (lambda r: write_frameless(r / "empty.mp4"), "cannot open video: no video stream"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_raise_one_line_video_errors(tmp_path: Path, case: str) -> None:
    make, message = BAD_INPUTS[case]
    path = make(tmp_path)
    with pytest.raises(VideoError) as probed:
        probe(path)
    assert str(probed.value) == message
    with pytest.raises(VideoError) as decoded:
        read_frames(path, [0], (24, 32))
    assert "\n" not in str(decoded.value) and str(decoded.value)


def test_corrupt_frame_data_raises_video_error(videos: dict[str, Path], tmp_path: Path) -> None:
    with av.open(str(videos["mp4"])) as container:
        packet = [p for p in container.demux(video=0) if p.size][20]
        start, size = packet.pos, packet.size
    data = bytearray(videos["mp4"].read_bytes())
    data[start : start + size] = bytes(size)  # zero out frame 20's coded data
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(bytes(data))
    with pytest.raises(VideoError, match="^cannot decode frames: ") as raised:
        read_frames(path, list(range(40)))
    assert "\n" not in str(raised.value)  # what follows the colon is decord's reason, shortened


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "[14:03:11] /src/video_reader.cc:151: Error sending packet.\nStack trace:\n  [bt] (0) x",
            "corrupt video data",
        ),
        ("[14:03:11] /src/video_reader.cc:162: Error getting frame", "frame cannot be decoded"),
        ("ERROR cannot find video stream with wanted index: -1", "no video stream"),
        ("[10:00:00] /a.cc:1: [10:00:01] /b.cc:2: something new\n  [bt] (0) y", "something new"),
        ("", "RuntimeError"),
    ],
)
def test_decord_messages_become_one_short_reason(message: str, reason: str) -> None:
    """The table that turns decord's multi-line messages into one reason, on messages of its form:
    independent of which files make which decord release say what."""
    assert decord_decoder._reason(RuntimeError(message)) == reason
    assert decord_decoder._reason(StopIteration()) == "no decodable frame"
    long = decord_decoder._reason(RuntimeError("x" * 1000))
    assert long == "x" * 160


# --- truncated MP4s: the top-level box sizes against the file size ---------------------


def _moov_first(path: Path, frames: int = 30) -> bytes:
    """An H.264 MP4 with its index first (``movflags=faststart``): ftyp, moov, free, mdat."""
    with av.open(str(path), mode="w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"crf": "10", "preset": "ultrafast"}
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(id_pattern(i, 48, 64), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path.read_bytes()


def _boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of each top-level box of a well-formed file with 32-bit sizes."""
    boxes, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append((kind, offset, size))
        offset += size
    return boxes


def _largesize_mdat(data: bytes) -> bytes:
    """``data`` with its 8-byte ``free`` box and ``mdat`` header merged into one 64-bit header.

    FFmpeg leaves that ``free`` box for this very purpose: the media keeps its offsets.
    """
    boxes = _boxes(data)
    kinds = [kind for kind, _, _ in boxes]
    (_, free_at, free_size), (_, mdat_at, mdat_size) = boxes[kinds.index(b"free")], boxes[kinds.index(b"mdat")]
    assert free_size == 8 and mdat_at == free_at + 8
    header = struct.pack(">I4sQ", 1, b"mdat", mdat_size + 8)
    return data[:free_at] + header + data[mdat_at + 8 :]


def _truncated(whole: int, cut: int) -> str:
    return f"truncated file: the container describes {whole} bytes, the file ends after {cut}"


def test_whole_mp4s_pass_the_box_check(videos: dict[str, Path], tmp_path: Path) -> None:
    front = _moov_first(tmp_path / "front.mp4")
    assert [kind for kind, _, _ in _boxes(front)] == [b"ftyp", b"moov", b"free", b"mdat"]
    large = _largesize_mdat(front)
    files = {
        "front": front,
        "moov last": videos["mp4"].read_bytes(),
        "trailing byte": front + b"\x00",  # too short for a box header: ignored
        "trailing junk": front + bytes(range(200, 240)),  # not a box type: ignored
        "64-bit mdat": large,
    }
    for name, data in files.items():
        path = tmp_path / f"{name}.mp4"
        path.write_bytes(data)
        check_iso_boxes(str(path))
        assert probe(path).num_frames == probe_pyav(path).num_frames == (40 if name == "moov last" else 30), name
    mdat_to_end = bytearray(front)  # size 0: the box runs to the end of the file, cut or not
    mdat_at = _boxes(front)[-1][1]
    mdat_to_end[mdat_at : mdat_at + 4] = bytes(4)
    (tmp_path / "to-end.mp4").write_bytes(bytes(mdat_to_end[:-100]))
    check_iso_boxes(str(tmp_path / "to-end.mp4"))


@pytest.mark.parametrize("cut", ["1 byte", "half", "64-bit mdat by 1 byte"])
def test_mp4_cut_after_its_index_is_truncated(tmp_path: Path, cut: str) -> None:
    whole = _moov_first(tmp_path / "front.mp4")
    if cut.startswith("64-bit"):
        whole = _largesize_mdat(whole)
    size = len(whole) // 2 if cut == "half" else len(whole) - 1
    path = tmp_path / "cut.mp4"
    path.write_bytes(whole[:size])
    for function in (check_iso_boxes, probe, probe_pyav):
        with pytest.raises(VideoError) as raised:
            function(str(path))
        assert str(raised.value) == _truncated(len(whole), size)
    with pytest.raises(VideoError, match="^truncated file: "):
        read_frames(path, [0], (24, 32))
    with pytest.raises(VideoError, match="^truncated file: "):
        read_frames_pyav(path, [0], (24, 32))


def test_a_64_bit_box_size_is_read_as_64_bits(tmp_path: Path) -> None:
    moov = struct.pack(">I4s", 16, b"moov") + bytes(8)
    mdat = struct.pack(">I4sQ", 1, b"mdat", 2**33) + bytes(32)  # claims 8 GiB, holds 48 bytes
    path = tmp_path / "big.mp4"
    path.write_bytes(struct.pack(">I4s4sI", 16, b"ftyp", b"isom", 0) + moov + mdat)
    with pytest.raises(VideoError) as raised:
        check_iso_boxes(str(path))
    assert str(raised.value) == _truncated(32 + 2**33, 32 + 48)


def test_mp4_cut_inside_its_index_is_truncated(videos: dict[str, Path], tmp_path: Path) -> None:
    for name, data in {
        "moov first": _moov_first(tmp_path / "front.mp4"),
        "moov last": videos["mp4"].read_bytes(),
    }.items():
        _, moov_at, moov_size = next(box for box in _boxes(data) if box[0] == b"moov")
        path = tmp_path / f"{name}.mp4"
        path.write_bytes(data[: moov_at + moov_size - 10])
        with pytest.raises(VideoError) as raised:
            probe(path)
        assert str(raised.value) == _truncated(moov_at + moov_size, moov_at + moov_size - 10), name


def test_mp4_cut_before_its_index_is_left_to_the_decoders(videos: dict[str, Path], tmp_path: Path) -> None:
    moov_last = videos["mp4"].read_bytes()
    path = tmp_path / "no-moov.mp4"
    path.write_bytes(moov_last[: len(moov_last) * 2 // 3])  # mdat cut, no index at all
    check_iso_boxes(str(path))
    with pytest.raises(VideoError, match="^cannot open video: not a video file, or an unsupported format$"):
        probe(path)


def test_other_formats_skip_the_box_check(videos: dict[str, Path], tmp_path: Path) -> None:
    avi = videos["avi"].read_bytes()
    path = tmp_path / "cut.avi"
    path.write_bytes(avi[: len(avi) - 10])
    check_iso_boxes(str(path))  # RIFF, not ISO-BMFF: nothing to say
    check_iso_boxes(str(videos["vfr"]))
