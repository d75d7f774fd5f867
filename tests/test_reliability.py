"""Reliability: bad inputs through the CLI, decode workers that crash or hang, the PyAV fallback.

Every input file is made here, with PyAV or raw bytes. Worker sabotage comes from
``tests.decode_hooks``, which replaces the decode job that workers run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

import vidclass
import vidclass.checkpoints
from tests import decode_hooks
from tests.cli import cli_in
from tests.test_decode import VFR_TIMES_MS, write_frameless, write_timed_video
from tests.videos import write_video
from vidclass.inference import Predictor
from vidclass.inference.workers import WorkerCrashed, WorkerPool, WorkerTimeout
from vidclass.video import VideoError

LABELS = ["walk", "run", "jump"]
PREDICT = ("predict", "--model", "model.safetensors", "--device", "cpu", "--timeout", "30")


def _encode(path: Path, frames: int, width: int, height: int, pix_fmt: str = "yuv420p", **options: str) -> Path:
    """H.264 in MP4 with flat frames; ``options`` go to the muxer (e.g. movflags)."""
    with av.open(str(path), mode="w", options=options) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = {"crf": "10", "preset": "ultrafast"}
        for i in range(frames):
            image = np.full((height, width, 3), (i * 8) % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _mdat_ends_at_cut(data: bytes) -> bytes:
    """An MP4 cut in its media, with the ``mdat`` box size rewritten to end where the file does.

    The boxes then agree with the file, but the index still promises every frame: a container
    that over-reports its frame count, which decoding must see through.
    """
    out = bytearray(data)
    start = out.index(b"mdat") - 4
    out[start : start + 4] = struct.pack(">I", len(out) - start)
    return bytes(out)


def _still_image(path: Path) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 32, 32, "rgb24"
        image = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
        for packet in [*stream.encode(image), *stream.encode()]:
            container.mux(packet)
    return path


def _audio_only(path: Path) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    vidclass.save_model(vidclass.create_model("vivit-micro", labels=LABELS, seed=0), root / "model.safetensors")
    write_video(root / "good.mp4", num_frames=30)
    _audio_only(root / "audio.mp4")
    (root / "notes.txt").write_text("not a video\n" * 40)  # FFmpeg's tty demuxer takes this
    (root / "words.txt").write_text("hello\n" * 50)
    _still_image(root / "photo.png")
    (root / "zero.mp4").write_bytes(b"")
    (root / "random.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    whole = write_video(root / "whole.mp4", num_frames=60).read_bytes()  # moov at the end
    (root / "nomoov.mp4").write_bytes(whole[: len(whole) * 2 // 3])
    front = _encode(root / "front.mp4", 60, 64, 48, movflags="faststart").read_bytes()  # moov first
    (root / "cut.mp4").write_bytes(front[: len(front) // 2])  # frames missing that moov promises
    (root / "overcount.mp4").write_bytes(_mdat_ends_at_cut(front[: len(front) // 2]))
    write_video(root / "one.mp4", num_frames=1)
    write_video(root / "short.mp4", num_frames=3)  # far shorter than a clip (8 frames, stride 2)
    _encode(root / "odd.mp4", 12, 17, 9, pix_fmt="yuv444p")
    write_frameless(root / "noframes.mp4")
    write_timed_video(root / "vfr.mp4", VFR_TIMES_MS)  # variable frame rate
    write_video(root / "8k.mp4", num_frames=1, width=7680, height=4320)
    return root


@pytest.fixture
def run(corpus, monkeypatch):
    return cli_in(corpus, monkeypatch)


def records(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def assert_one_line_per_failure(result, recs: list[dict]) -> None:
    expected = [f"error: {r['path']}: {r['error']}" for r in recs if not r["ok"]]
    assert result.stderr.splitlines() == expected


# path -> None (succeeds) or a substring of its error
CORPUS = {
    "good.mp4": None,
    "missing.mp4": "file not found",
    "audio.mp4": "no video stream",
    "notes.txt": "not a video file (text)",
    "words.txt": "",
    "photo.png": "a still image, not a video",
    "zero.mp4": "empty file",
    "random.mp4": "not a video file",
    "nomoov.mp4": "not a video file",
    "cut.mp4": "truncated file",  # moov intact, media cut: the box sizes give it away
    "overcount.mp4": None,  # boxes intact, index promises 60 frames: PyAV decodes those there
    "one.mp4": None,
    "short.mp4": None,
    "odd.mp4": None,
    "noframes.mp4": "no video stream",  # a well-formed MP4 whose H.264 stream has no frames
    "vfr.mp4": None,
    "8k.mp4": None,
}


def test_bad_input_corpus_in_one_batch(run, corpus):
    result = run(*PREDICT, *CORPUS)
    assert result.exit_code == 1, result.output
    recs = records(result)
    assert [r["path"] for r in recs] == list(CORPUS)
    for rec in recs:
        expected = CORPUS[rec["path"]]
        if expected is None:
            assert rec["ok"], rec
            assert len(rec["labels"]) == 3 and rec["views"] == 12 and rec["decoder"] in ("decord", "pyav")
        else:
            assert not rec["ok"] and rec["labels"] == [] and rec["decoder"] is None, rec
            assert expected in rec["error"] and "\n" not in rec["error"]
    assert_one_line_per_failure(result, recs)
    by = {r["path"]: r for r in recs}
    assert by["good.mp4"]["decoder"] == "decord" and by["good.mp4"]["frames"] == 30
    whole, cut = (corpus / "front.mp4").stat().st_size, (corpus / "cut.mp4").stat().st_size
    assert by["cut.mp4"]["error"] == f"truncated file: the container describes {whole} bytes, the file ends after {cut}"
    over = by["overcount.mp4"]
    assert over["decoder"] == "pyav" and 0 < over["frames"] < 60  # decoded frames, not metadata
    assert by["one.mp4"]["frames"] == 1 and by["short.mp4"]["frames"] == 3
    assert (by["odd.mp4"]["width"], by["odd.mp4"]["height"]) == (17, 9)
    assert by["vfr.mp4"]["frames"] == len(VFR_TIMES_MS) and by["vfr.mp4"]["duration"] == pytest.approx(0.52, abs=0.03)
    assert (by["8k.mp4"]["width"], by["8k.mp4"]["height"]) == (7680, 4320)


@pytest.mark.parametrize("decoder", ["decord", "auto"])
def test_crash_and_hang_each_cost_one_file(run, corpus, decoder, monkeypatch):
    decode_hooks.install(monkeypatch)
    for name in ("crash.mp4", "hang.mp4", "good2.mp4", "decordcrash.mp4"):
        (corpus / name).write_bytes((corpus / "good.mp4").read_bytes())
    args = ("good.mp4", "crash.mp4", "hang.mp4", "good2.mp4", "crash.mp4", "decordcrash.mp4", "one.mp4")
    started = time.monotonic()
    result = run(*PREDICT, *args, "--timeout", "1", "--workers", "2", "--decoder", decoder)
    assert time.monotonic() - started < 30
    assert result.exit_code == 1, result.output
    recs = records(result)
    assert [r["path"] for r in recs] == list(args)
    rescued = decoder == "auto"  # auto retries a crashed or hung file with PyAV, in a fresh worker
    assert [r["ok"] for r in recs] == [True, False, False, True, False, rescued, True]
    assert recs[1]["error"] == recs[4]["error"] == "decoder crashed (SIGSEGV)"
    assert recs[2]["error"] == "decode timed out after 1 s"
    assert recs[5]["decoder"] == ("pyav" if rescued else None)
    assert recs[0]["decoder"] == recs[3]["decoder"] == "decord"
    assert_one_line_per_failure(result, recs)


def test_pyav_decoder_matches_decord(run):
    result = run(*PREDICT, "good.mp4", "--decoder", "pyav", "--workers", "0")
    decord_run = run(*PREDICT, "good.mp4", "--decoder", "decord")
    assert result.exit_code == decord_run.exit_code == 0, result.output
    (pyav,), (dec,) = records(result), records(decord_run)
    assert pyav["decoder"] == "pyav" and dec["decoder"] == "decord"
    assert pyav["frames"] == dec["frames"] and pyav["duration"] == pytest.approx(dec["duration"])
    assert [x["label"] for x in pyav["labels"]] == [x["label"] for x in dec["labels"]]
    assert pyav["labels"][0]["score"] == pytest.approx(dec["labels"][0]["score"], abs=1e-3)


def test_auto_falls_back_to_pyav_when_decord_fails(corpus, monkeypatch):
    import vidclass.video.decord_decoder as decord_decoder

    def broken(path, *plan_for):
        raise VideoError("cannot decode frames: frame cannot be decoded")

    monkeypatch.setattr(decord_decoder, "probe", broken)
    monkeypatch.setattr(decord_decoder, "probe_and_read", broken)
    clf = vidclass.load_model(corpus / "model.safetensors")
    assert Predictor(clf, device="cpu").predict(corpus / "good.mp4").decoder == "pyav"
    p = Predictor(clf, device="cpu", decoder="decord").predict(corpus / "good.mp4")
    assert p.error == "cannot decode frames: frame cannot be decoded" and p.decoder is None


def test_stdin_names_with_unicode_and_spaces(run, corpus):
    name = "clip é 北 with  spaces.mp4"
    (corpus / name).write_bytes((corpus / "good.mp4").read_bytes())
    result = run(*PREDICT, "-", input=f"{name}\nmissing é.mp4\n")
    assert result.exit_code == 1
    recs = records(result)
    assert [(r["path"], r["ok"]) for r in recs] == [(name, True), ("missing é.mp4", False)]
    assert result.stderr == "error: missing é.mp4: file not found\n"


def test_newline_in_names_as_arguments(run, corpus):
    name = "line\nbreak.mp4"
    (corpus / name).write_bytes((corpus / "good.mp4").read_bytes())
    result = run(*PREDICT, name, "gone\nfile.mp4")
    assert result.exit_code == 1
    recs = records(result)  # JSON escapes the newline: one line per record
    assert [(r["path"], r["ok"]) for r in recs] == [(name, True), ("gone\nfile.mp4", False)]
    assert result.stderr == "error: gone\\nfile.mp4: file not found\n"  # still one line


def test_symlink_loop_under_recursive(run, corpus):
    tree = corpus / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.mp4").write_bytes((corpus / "good.mp4").read_bytes())
    (tree / "sub" / "loop").symlink_to(tree, target_is_directory=True)  # tree/sub/loop -> tree
    (tree / "x.mp4").symlink_to(tree / "y.mp4")
    (tree / "y.mp4").symlink_to(tree / "x.mp4")  # a file symlink loop
    result = run(*PREDICT, "tree", "--recursive")
    assert result.exit_code == 0, result.output
    assert [r["path"] for r in records(result)] == [os.path.join("tree", "sub", "a.mp4")]


def test_directory_arguments_are_expanded_and_an_empty_one_fails(run, corpus):
    (corpus / "folder.mp4").mkdir(exist_ok=True)  # a directory named like a video, holding none
    (corpus / "clips" / "sub").mkdir(parents=True, exist_ok=True)
    (corpus / "clips" / "sub" / "deep.mp4").write_bytes((corpus / "good.mp4").read_bytes())
    (corpus / "full").mkdir(exist_ok=True)
    (corpus / "full" / "a.mp4").write_bytes((corpus / "good.mp4").read_bytes())
    result = run(*PREDICT, "folder.mp4", "full", "clips", "good.mp4")
    assert result.exit_code == 1, result.output
    recs = records(result)
    assert [(r["path"], r["ok"]) for r in recs] == [
        ("folder.mp4", False),
        (os.path.join("full", "a.mp4"), True),
        ("clips", False),
        ("good.mp4", True),
    ]
    assert recs[0]["error"] == "directory holds no video files"
    assert recs[2]["error"] == "directory holds no video files (subdirectories have some: add --recursive)"
    assert recs[0]["labels"] == [] and recs[0]["decoder"] is None
    assert_one_line_per_failure(result, recs)
    assert result.stderr.splitlines()[0] == "error: folder.mp4: directory holds no video files"
    alone = run(*PREDICT, "folder.mp4")  # the only input: a failed input (1), not a usage error (2)
    assert alone.exit_code == 1 and [r["ok"] for r in records(alone)] == [False]
    recursive = run(*PREDICT, "clips", "--recursive")
    assert recursive.exit_code == 0 and [r["path"] for r in records(recursive)] == [
        os.path.join("clips", "sub", "deep.mp4")
    ]


def test_directory_on_stdin_is_not_a_video_file(run, corpus):
    """Stdin names files (``find`` output, say): a directory there is an input that failed."""
    (corpus / "full").mkdir(exist_ok=True)
    (corpus / "full" / "a.mp4").write_bytes((corpus / "good.mp4").read_bytes())
    result = run(*PREDICT, "-", input="full\ngood.mp4\n")
    assert result.exit_code == 1, result.output
    recs = records(result)
    assert [(r["path"], r["ok"]) for r in recs] == [("full", False), ("good.mp4", True)]
    assert recs[0]["error"] == "is a directory, not a video file"
    assert result.stderr == "error: full: is a directory, not a video file\n"


def test_sigint_ends_workers_and_keeps_complete_output(corpus):
    """Ctrl-C (SIGINT to the whole process group) while a worker hangs: exit 130, output whole."""
    (corpus / "hang-int.mp4").write_bytes((corpus / "good.mp4").read_bytes())
    out = corpus / "interrupted.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "NO_COLOR")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            decode_hooks.SABOTAGED_CLI,
            *PREDICT,
            "good.mp4",
            "hang-int.mp4",
            "one.mp4",
            "-o",
            str(out),
        ],
        cwd=corpus,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        # A runner started in the background (`cmd &`) hands its children SIGINT ignored, and
        # Python then leaves it ignored: give the CLI the default Ctrl-C a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_text().count("\n") >= 1):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        time.sleep(0.3)  # the parent is now waiting on the hanging decode
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert stderr == "error: interrupted\n"
    assert [json.loads(line)["path"] for line in out.read_text().splitlines()] == ["good.mp4"]
    time.sleep(0.5)
    assert _group_members(proc.pid) == []  # no worker or forkserver left behind


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


# --------------------------------------------------------------------------- through a real process


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "NO_COLOR")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    return env


# ``python -m vidclass ARGS`` that also writes its own peak resident memory (VmHWM, KiB) to
# $PEAK_FILE at exit. getrusage cannot give that: a child's ru_maxrss is the maximum over it and
# its own children, and Linux carries the parent's peak over fork and exec (a `python -c pass`
# started by a process that once held 1.5 GiB reports 1.5 GiB).
_REPORT_PEAK = """
import atexit, os, runpy

def report():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["PEAK_FILE"], "w") as out:
        out.write(kib)

atexit.register(report)
runpy.run_module("vidclass", run_name="__main__", alter_sys=True)
"""


def _start_cli(cwd: Path, tag: str, *args: str, preexec_fn=None, peak: bool = False) -> subprocess.Popen:  # noqa: ANN001
    """``python -m vidclass ARGS`` in ``cwd``, stdout and stderr to ``cwd/TAG.out`` and ``.err``.

    With ``peak``, the process's peak resident memory goes to ``cwd/TAG.peak``.
    """
    env = {**_cli_env(), "PEAK_FILE": str(cwd / f"{tag}.peak")}
    command = [sys.executable, "-c", _REPORT_PEAK] if peak else [sys.executable, "-m", "vidclass"]
    with open(cwd / f"{tag}.out", "wb") as out, open(cwd / f"{tag}.err", "wb") as err:
        return subprocess.Popen(
            [*command, *args],
            cwd=cwd,
            stdout=out,
            stderr=err,
            env=env,
            preexec_fn=preexec_fn,  # noqa: PLW1509 - only ever a tiny prctl wrapper
        )


def _wait_cli(proc: subprocess.Popen, cwd: Path, tag: str) -> tuple[int, list[dict], str]:
    """Exit code, records and stderr of a ``_start_cli`` process."""
    proc.wait()
    recs = [json.loads(line) for line in (cwd / f"{tag}.out").read_text().splitlines()]
    return proc.returncode, recs, (cwd / f"{tag}.err").read_text()


def _without_root_file_access() -> None:
    """In the child before exec: drop the capabilities that let root read any file.

    CAP_DAC_OVERRIDE (1) and CAP_DAC_READ_SEARCH (2) leave the bounding set (prctl
    PR_CAPBSET_DROP = 24), so the program exec'd next runs as uid 0 under the ordinary
    permission bits: a mode-000 file is as unreadable to it as to any user. (Switching to
    nobody would also do, but the interpreter may live where nobody cannot reach it, as
    under /root with pyenv.)
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_unreadable_file_and_directory_each_fail_alone(corpus):
    """chmod 000 on a file and on a directory argument: two error records, the rest classified.

    As root (CI, containers) the command runs without root's override of file permissions.
    """
    (corpus / "locked.mp4").write_bytes((corpus / "good.mp4").read_bytes())
    (corpus / "locked-dir").mkdir(exist_ok=True)
    (corpus / "locked-dir" / "inside.mp4").write_bytes((corpus / "good.mp4").read_bytes())
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    (corpus / "locked.mp4").chmod(0)
    (corpus / "locked-dir").chmod(0)
    try:
        try:
            proc = _start_cli(
                corpus, "perm", *PREDICT, "good.mp4", "locked.mp4", "locked-dir", "one.mp4",
                preexec_fn=_without_root_file_access if as_root else None,
            )  # fmt: skip
        except subprocess.SubprocessError as exc:  # prctl refused: no CAP_SETPCAP, or not Linux
            pytest.skip(f"running as root and cannot drop root's file access for the command: {exc}")
        code, recs, stderr = _wait_cli(proc, corpus, "perm")
    finally:
        (corpus / "locked.mp4").chmod(0o644)
        (corpus / "locked-dir").chmod(0o755)
    paths = ["good.mp4", "locked.mp4", "locked-dir", "one.mp4"]
    assert [(r["path"], r["ok"]) for r in recs] == list(zip(paths, [True, False, False, True], strict=True)), stderr
    assert recs[1]["error"] == "cannot read file: Permission denied"
    assert recs[2]["error"] == "cannot list directory: Permission denied"
    assert stderr.splitlines() == [
        "error: locked.mp4: cannot read file: Permission denied",
        "error: locked-dir: cannot list directory: Permission denied",
    ]
    assert code == 1


def _flat_video(path: Path, frames: int, width: int, height: int) -> Path:
    """H.264 repeating one flat grey picture, given as YUV: 16 8K frames encode in about a second.

    Every frame still decodes to a full-size picture, which is what a memory test needs.
    """
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"qp": "51", "preset": "ultrafast", "tune": "zerolatency"}
        planes = np.full((height * 3 // 2, width), 128, np.uint8)  # (Y rows + U and V rows, width)
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        for i in range(frames):
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# How much more peak resident memory an 8K predict may take than the same command on a 480p
# video: the size of 8 full-size 8K RGB frames (8 x 7680 x 4320 x 3 bytes = 759 MiB), as many
# as the run samples from the 16-frame file. Measured (VmHWM, 20 runs, development machine):
# 611 MiB for 480p; 907 to 1107 MiB for 8K, i.e. 296 to 496 MiB more, in steps of one 8K RGB
# frame (decord's probe has a few full-size frames in flight; the same with 48 frames: it
# does not grow with the video). Decoding the sampled frames at full size and shrinking them
# afterwards measured about 1.9 GiB more, well past the bound.
EIGHT_K_EXTRA_MIB = 768


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak memory is read from /proc (Linux)")
def test_8k_video_is_classified_with_bounded_memory(corpus, tmp_path):
    small = _flat_video(tmp_path / "480p.mp4", 16, 854, 480)
    big = _flat_video(tmp_path / "8k.mp4", 16, 7680, 4320)
    shutil.copy(corpus / "model.safetensors", tmp_path)
    files = {"small": small, "big": big}  # both at once: memory is per process, time is shared
    procs = {tag: _start_cli(tmp_path, tag, *PREDICT, "--workers", "0", f.name, peak=True) for tag, f in files.items()}
    results = {tag: _wait_cli(proc, tmp_path, tag) for tag, proc in procs.items()}
    for tag, (code, recs, stderr) in results.items():
        assert code == 0 and stderr == "" and [r["ok"] for r in recs] == [True], (tag, stderr)
    (small_rec,), (big_rec,) = results["small"][1], results["big"][1]
    assert (big_rec["width"], big_rec["height"], big_rec["frames"]) == (7680, 4320, 16)
    assert (small_rec["width"], small_rec["height"]) == (854, 480)
    small_peak, big_peak = (int((tmp_path / f"{tag}.peak").read_text()) / 1024 for tag in ("small", "big"))
    assert big_peak - small_peak < EIGHT_K_EXTRA_MIB, f"8K peak {big_peak:.0f} MiB, 480p peak {small_peak:.0f} MiB"


# --------------------------------------------------------------------------- the pool itself


def test_pool_recycles_workers_after_max_tasks_and_propagates_errors():
    with WorkerPool(1, timeout=30, max_tasks=2) as pool:
        pids = [pool.submit(os.getpid).result() for _ in range(5)]
        assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
        assert os.getpid() not in pids
        assert pool.recycled == 2 and pool.started == 3
        with pytest.raises(FileNotFoundError):
            pool.submit(os.stat, "/no/such/file").result()


def test_pool_recycles_a_worker_whose_memory_grew():
    from tests.decode_hooks import leak

    with WorkerPool(1, timeout=30, max_rss_growth=32 << 20) as pool:
        first = pool.submit(leak, 1).result()  # the baseline
        assert pool.submit(leak, 1 << 20).result() == first  # +1 MB: kept
        assert pool.submit(leak, 64 << 20).result() == first  # +64 MB: retired after this job
        assert pool.submit(leak, 1).result() != first
        assert pool.recycled == 1


def test_pool_replaces_a_crashed_or_hung_worker():
    with WorkerPool(1, timeout=1) as pool:
        first = pool.submit(os.getpid).result()
        with pytest.raises(WorkerCrashed) as crashed:
            pool.submit(os.kill, first, signal.SIGSEGV).result()
        assert crashed.value.signal == "SIGSEGV"
        with pytest.raises(WorkerTimeout):
            pool.submit(time.sleep, 5).result()
        assert pool.submit(os.getpid).result() not in (first, os.getpid())
        assert pool.started == 3


def test_pool_returns_large_tensors_through_shared_memory_and_frees_it():
    import torch

    from vidclass.inference.workers import SHM_MIN_BYTES

    before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    with WorkerPool(1, timeout=30) as pool:
        big = pool.submit(torch.arange, SHM_MIN_BYTES // 2, dtype=torch.float32).result()  # 2 MB: shared memory
        small = pool.submit(torch.arange, 10).result()  # pickled
    assert torch.equal(big, torch.arange(SHM_MIN_BYTES // 2, dtype=torch.float32))
    assert torch.equal(small, torch.arange(10))
    after = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    assert not {name for name in after - before if name.startswith("psm_")}


def test_pool_close_cancels_queued_jobs():
    pool = WorkerPool(1, timeout=30)
    busy = pool.submit(time.sleep, 10)
    queued = pool.submit(os.getpid)
    time.sleep(0.2)
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 8
    assert queued.cancelled()
    with pytest.raises(Exception):  # noqa: B017, PT011 - the killed job fails somehow
        busy.result(timeout=5)


def test_ctrl_c_taken_by_another_thread_still_ends_the_wait_for_a_decode():
    """SIGINT delivered to a non-main thread (the kernel may pick any thread) must still stop a
    main thread that waits on a decode; a plain ``Future.result()`` sleeps on until the decode ends."""
    from concurrent.futures import Future

    from vidclass.inference.workers import wait_result

    future: Future = Future()

    def take_the_signal() -> None:
        time.sleep(0.3)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # handled on this thread
        time.sleep(5)
        future.set_result("decoded")  # what a hung decode's timeout would end with

    helper = threading.Thread(target=take_the_signal, daemon=True)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # even under a runner that ignores it
    try:
        started = time.monotonic()
        helper.start()
        with pytest.raises(KeyboardInterrupt):
            wait_result(future)
        assert time.monotonic() - started < 2.5
    finally:
        signal.signal(signal.SIGINT, previous)
