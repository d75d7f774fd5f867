"""Hostile files: ones that make FFmpeg open other files or URLs, and absurd frame geometry.

Every input is made here: a tiny real video, playlists and concat lists (text) that name it or
a FIFO, an SDP description, FFV1 video of 8000x1 pixels and a Y4M header that claims 12000x12000.
The CLI runs in its own process group with a deadline, so a hang fails the test instead of
stalling the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

import vidclass
from tests.videos import write_video
from vidclass.video import VideoError, get_decoder, resized_hw
from vidclass.video.containers import check_container, readable_file

LABELS = ["walk", "run", "jump"]
PLAYLIST = "not a video file (a playlist)"
TOO_ELONGATED = "unsupported frame size 8000x1 (aspect ratio beyond 16:1)"
TOO_LARGE = "unsupported frame size 12000x12000 (more pixels than 8192x8192)"
DEADLINE_S = 240  # far beyond a normal run: only a hang reaches it

_HLS = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{}\n#EXT-X-ENDLIST\n"
_CONCAT = "ffconcat version 1.0\nfile {}\n"
_SDP = (
    "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 45999 RTP/AVP 96\na=rtpmap:96 H264/90000\n"
)
# name -> text; each makes an FFmpeg demuxer open what it names.
PLAYLISTS = {
    "x.mp4": _HLS.format("segment.ts"),  # HLS, named as a video: decord's FFmpeg follows it
    "list.m3u8": _HLS.format("segment.ts"),  # HLS under its own name: PyAV's FFmpeg follows it
    "y.mp4": _CONCAT.format("real.mp4"),  # an FFmpeg concat list
    "fifo-hls.mp4": _HLS.format("fifo.ts"),  # opening the FIFO would block for ever
    "fifo-concat.mp4": _CONCAT.format("fifo.ts"),
    "session.mp4": _SDP,  # an SDP description: its demuxer opens the RTP streams it names
}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    vidclass.save_model(vidclass.create_model("vivit-micro", labels=LABELS, seed=0), root / "model.safetensors")
    write_video(root / "real.mp4", num_frames=10, width=32, height=24)
    write_video(root / "segment.ts", num_frames=10, width=32, height=24)
    os.mkfifo(root / "fifo.ts")
    for name, text in PLAYLISTS.items():
        (root / name).write_text(text)
    return root


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "NO_COLOR")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    return env


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m vidclass ARGS`` in ``cwd``; fails the test if it has not ended by the deadline."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidclass", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_cli_env(),
        start_new_session=True,  # its decode workers too can be ended at once
    )
    try:
        stdout, stderr = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"vidclass {' '.join(args)} still running after {DEADLINE_S} s")
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


# --------------------------------------------------------------------------- playlists


@pytest.mark.parametrize("decoder", ["decord", "pyav", "auto"])
def test_playlists_and_concat_lists_are_refused_by_predict(work: Path, decoder: str) -> None:
    files = ["real.mp4", *PLAYLISTS]
    result = run_cli(
        work,
        "predict",
        "--model",
        "model.safetensors",
        "--device",
        "cpu",
        "--decoder",
        decoder,
        "--timeout",
        "30",
        *files,
    )
    recs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["path"], r["ok"], r["error"]) for r in recs] == [
        ("real.mp4", True, None),
        *((name, False, PLAYLIST) for name in PLAYLISTS),
    ], result.stderr
    assert [r["decoder"] for r in recs[1:]] == [None] * len(PLAYLISTS)
    assert result.stderr.splitlines() == [f"error: {name}: {PLAYLIST}" for name in PLAYLISTS]
    assert result.returncode == 1


@pytest.mark.parametrize("name", list(PLAYLISTS))
def test_playlists_and_concat_lists_are_refused_by_info(work: Path, name: str) -> None:
    result = run_cli(work, "info", "--model", "model.safetensors", name)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"error: {name}: {PLAYLIST}\n")


_SNIFFED = {
    "hls-bom.mp4": b"\xef\xbb\xbf#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nsegment.ts\n",
    "dash.mp4": b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="x"></MPD>\n',
    "imf.mp4": b'<?xml version="1.0"?>\n<CompositionPlaylist xmlns="http://www.smpte-ra.org/x"/>\n',
    "sub.mp4": b"# VobSub index file, v7 (do not modify this line!)\nsize: 720x576\n",
    "sdp-late.mp4": b"v=0\n" + b"a=tool:x\n" * 3000 + b"c=IN IP4 10.0.0.1\nm=video 45998 RTP/AVP 96\n",
}


@pytest.mark.parametrize("name", list(_SNIFFED))
def test_file_checks_refuse_every_playlist_kind(tmp_path: Path, name: str) -> None:
    """DASH and IMF manifests, VobSub indexes and SDP sessions are refused before FFmpeg reads them."""
    path = tmp_path / name
    path.write_bytes(_SNIFFED[name])
    with pytest.raises(VideoError) as caught:
        readable_file(path)
    assert str(caught.value) == PLAYLIST


def test_container_check_refuses_a_playlist_demuxer(work: Path) -> None:
    """Whatever the file checks let through, a container PyAV opens as HLS or concat is refused."""
    for name in ("list.m3u8", "y.mp4"):
        with pytest.raises(VideoError) as caught:
            check_container(str(work / name))
        assert str(caught.value) == PLAYLIST


def test_real_videos_pass_the_file_checks(work: Path) -> None:
    assert readable_file(work / "real.mp4") == str(work / "real.mp4")
    assert check_container(str(work / "segment.ts")) == "h264"


# --------------------------------------------------------------------------- geometry


def write_ffv1(path: Path, width: int, height: int, frames: int = 24, fps: int = 12) -> Path:
    """Lossless FFV1 in Matroska: a moving ramp, tiny on disk whatever the frame size."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.zeros((height, width, 3), np.uint8)
            image[..., 0] = ((np.arange(width) + 8 * i) % 256)[None, :]
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_y4m_header(path: Path, width: int, height: int) -> Path:
    """A Y4M file whose header claims ``width`` x ``height`` 4:2:0 frames, holding a sliver of one."""
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\nFRAME\n".encode() + bytes(4096))
    return path


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    # the bundled model's preprocessing: short side to 73 px, 16 frames on an 8 fps grid
    model = vidclass.create_model("vivit-s64-tl8at1", labels=LABELS, seed=0)
    vidclass.save_model(model, root / "model.safetensors")
    write_ffv1(root / "wide.mkv", 8000, 1)
    write_ffv1(root / "tall.mkv", 4, 80, frames=4)  # 20:1 standing up
    write_ffv1(root / "banner.mkv", 256, 16, frames=4)  # 16:1, the widest accepted
    write_y4m_header(root / "huge.y4m", 12000, 12000)
    write_video(root / "real.mp4", num_frames=10, width=32, height=24)
    return root


# Peak resident memory the whole predict (the CLI and its decode workers) may take on the
# 8000x1 file. It peaked at 10.1 GiB before frames were bounded: the 1-px side was scaled up to
# 73 px and each frame became 73x584,000 pixels.
PEAK_LIMIT_KIB = int(1.5 * 1024 * 1024)

# Runs ARGS and prints the peak resident memory (KiB) of its process tree's largest process.
# A child's ru_maxrss starts from its parent's peak (Linux carries it over fork and exec), so the
# command is started from this small interpreter rather than from the test process.
_PEAK = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:], stdout=open('peak.out', 'w'), stderr=open('peak.err', 'w'))\n"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_extreme_aspect_ratio_is_refused_with_bounded_memory(shapes: Path) -> None:
    # --workers 0: decoding runs in the CLI's own process. ru_maxrss misses decode workers, which
    # are children of multiprocessing's fork server, and that server is not always waited for.
    command = [
        sys.executable,
        "-m",
        "vidclass",
        "predict",
        "--model",
        "model.safetensors",
        "--device",
        "cpu",
        "--workers",
        "0",
    ]
    launcher = subprocess.run(
        [sys.executable, "-c", _PEAK, *command, "real.mp4", "wide.mkv"],
        cwd=shapes,
        capture_output=True,
        text=True,
        env=_cli_env(),
        timeout=DEADLINE_S,
    )
    code, peak_kib = (int(field) for field in launcher.stdout.split())
    print(f"peak RSS of predict on 8000x1 FFV1: {peak_kib / 1024:.0f} MiB")
    recs = [json.loads(line) for line in (shapes / "peak.out").read_text().splitlines()]
    stderr = (shapes / "peak.err").read_text()
    assert [(r["path"], r["ok"], r["error"]) for r in recs] == [
        ("real.mp4", True, None),
        ("wide.mkv", False, TOO_ELONGATED),
    ]
    assert stderr.splitlines() == [f"error: wide.mkv: {TOO_ELONGATED}"]
    assert code == 1
    assert peak_kib < PEAK_LIMIT_KIB, f"peak {peak_kib / 1024:.0f} MiB"


@pytest.mark.parametrize("decoder", ["decord", "pyav"])
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("wide.mkv", TOO_ELONGATED),
        ("tall.mkv", "unsupported frame size 4x80 (aspect ratio beyond 16:1)"),
        ("huge.y4m", TOO_LARGE),
    ],
)
def test_probe_refuses_absurd_frame_sizes(shapes: Path, decoder: str, name: str, message: str) -> None:
    with pytest.raises(VideoError) as caught:
        get_decoder(decoder).probe(shapes / name)
    assert str(caught.value) == message


@pytest.mark.parametrize("decoder", ["decord", "pyav"])
def test_the_widest_accepted_frame_is_classified(shapes: Path, decoder: str) -> None:
    info = get_decoder(decoder).probe(shapes / "banner.mkv")
    assert (info.width, info.height) == (256, 16)


@pytest.mark.parametrize(("name", "message"), [("wide.mkv", TOO_ELONGATED), ("huge.y4m", TOO_LARGE)])
def test_info_refuses_absurd_frame_sizes(shapes: Path, name: str, message: str) -> None:
    result = run_cli(shapes, "info", "--model", "model.safetensors", name)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"error: {name}: {message}\n")


def test_resize_plan_is_bounded_whatever_the_input() -> None:
    assert resized_hw(16, 256, 73) == (73, 1168)  # 16:1: the long side grows 16 times the short
    assert resized_hw(256, 16, 73) == (1168, 73)
    for height, width in [(1, 8000), (8000, 1), (1, 17)]:
        with pytest.raises(ValueError, match="aspect ratio"):
            resized_hw(height, width, 73)
