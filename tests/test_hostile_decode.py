"""Hostile files: ones that make FFmpeg open other files or URLs.

Every input is made here: a tiny real video, playlists and concat lists (text) that name it or
a FIFO, and an SDP description.
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

import pytest

import vidclass
from tests.videos import write_video
from vidclass.video import VideoError
from vidclass.video.containers import check_container, readable_file

LABELS = ["walk", "run", "jump"]
PLAYLIST = "not a video file (a playlist)"
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
