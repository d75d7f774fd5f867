"""Hostile inputs against the isolation of decoding: one file whose decoder crashes or hangs
(``predict`` and ``info``), a command killed mid-run (shared memory, worker processes), the
decoders' own log lines, and a model whose scores are not finite.

Every input is made here. The commands run as real processes where the failure would take the
process down (a crash, a hang, a kill) or where FFmpeg writes to file descriptor 2 itself;
sabotaged decode jobs come from ``tests.decode_hooks``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import vidclass
from tests import decode_hooks
from tests.cli import cli_in
from tests.test_reliability import _group_members
from tests.videos import write_video

LABELS = ["walk", "run", "jump"]
MODEL = ("--model", "model.safetensors")
PREDICT = ("predict", *MODEL, "--device", "cpu", "-f", "jsonl")
HANG_LIMIT = 120  # seconds: a command still running after this hangs


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    vidclass.save_model(vidclass.create_model("vivit-micro", labels=LABELS, seed=0), root / "model.safetensors")
    write_video(root / "good.mp4", num_frames=30)
    for name in ("crash.mp4", "hang.mp4"):
        shutil.copy(root / "good.mp4", root / name)
    _huge_duration_mkv(root / "huge.mkv")
    _long_video(root / "long.mp4")
    _garbled_mp4(root / "garbled.mp4")
    return root


def _encode(path: Path, container_format: str | None = None, **options: str) -> Path:
    """30 frames of 64x48 noise, H.264 (a keyframe every 10 frames)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), mode="w", format=container_format, options=options) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "10"}
        for _ in range(30):
            image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _huge_duration_mkv(path: Path) -> Path:
    """A Matroska file whose Segment Duration says 1e12 ms (31 years): decord sizes its frame
    index from it and aborts the process (std::bad_alloc); PyAV reads the 30 frames there are."""
    data = bytearray(_encode(path, "matroska").read_bytes())
    at = data.index(b"\x44\x89")  # the Duration element: ID 0x4489, then its size, then a float
    size = data[at + 2] & 0x7F
    fmt = {8: ">d", 4: ">f"}[size]
    data[at + 3 : at + 3 + size] = struct.pack(fmt, 1e12)
    path.write_bytes(bytes(data))
    return path


def _long_video(path: Path, copies: int = 120) -> Path:
    """8 minutes of flat grey 4K H.264 (12,000 frames, about 3 MB): a 100-frame segment encoded
    once, its packets muxed ``copies`` times. PyAV decodes from the start, every frame to probe
    it and again up to the last one sampled: tens of seconds here, for any machine far more
    than the 1 s timeout the test sets."""
    segment = path.with_name("segment.mp4")
    with av.open(str(segment), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 3840, 2160, "yuv420p"
        stream.options = {"qp": "51", "preset": "ultrafast", "tune": "zerolatency", "g": "1000"}
        frame = av.VideoFrame.from_ndarray(np.full((2160 * 3 // 2, 3840), 128, np.uint8), format="yuv420p")
        for i in range(100):
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(segment)) as source:
        packets = [p for p in source.demux(source.streams.video[0]) if p.size > 0]
        length = sum(int(p.duration) for p in packets)
    with av.open(str(path), mode="w", format="mp4") as out:
        target = None
        for copy in range(copies):
            with av.open(str(segment)) as source:  # muxing consumes a packet: demux afresh
                stream = source.streams.video[0]
                target = target or out.add_stream_from_template(stream)
                for packet in source.demux(stream):
                    if packet.size == 0:
                        continue
                    packet.pts, packet.dts = int(packet.pts) + copy * length, int(packet.dts) + copy * length
                    packet.stream = target
                    out.mux(packet)
    segment.unlink()
    return path


def _garbled_mp4(path: Path) -> Path:
    """An MP4 whose boxes are intact and whose media bytes are noise: FFmpeg logs on decoding it."""
    data = bytearray(_encode(path, movflags="faststart").read_bytes())
    start = data.index(b"mdat") + 4
    data[start:] = np.random.default_rng(1).integers(0, 256, len(data) - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "NO_COLOR", "VIDCLASS_WORKER_STDERR")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    return env


def _start(cwd: Path, *args: str, sabotaged: bool = False, **popen) -> subprocess.Popen:
    """``vidclass ARGS`` in its own process group (``tests.decode_hooks``' sabotage with ``sabotaged``)."""
    command = ["-c", decode_hooks.SABOTAGED_CLI] if sabotaged else ["-m", "vidclass"]
    return subprocess.Popen(
        [sys.executable, *command, *args], cwd=cwd, env=_env(), start_new_session=True, text=True, **popen
    )


def _cli(cwd: Path, *args: str, sabotaged: bool = False) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``vidclass ARGS``, failing the test if it hangs."""
    proc = _start(cwd, *args, sabotaged=sabotaged, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = proc.communicate(timeout=HANG_LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"vidclass {' '.join(args)} still ran after {HANG_LIMIT} s")
    finally:
        _kill_group(proc.pid)
    return proc.returncode, stdout, stderr


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _one_failed_record(code: int, stdout: str, stderr: str, path: str) -> dict:
    assert code == 1, stderr
    (record,) = [json.loads(line) for line in stdout.splitlines()]
    assert record["path"] == path and record["ok"] is False and record["labels"] == [], record
    assert stderr == f"error: {path}: {record['error']}\n"
    return record


# --------------------------------------------------------------------------- one file, isolated


@pytest.mark.parametrize("sabotage", ["crash", "hang"])
def test_one_file_whose_decoder_crashes_or_hangs_is_one_error_record(work, sabotage):
    """A single input is decoded in a worker too: its crash or hang is its record, not the process's."""
    expected = {"crash": "decoder crashed (SIGSEGV)", "hang": "decode timed out after 1 s"}[sabotage]
    result = _cli(work, *PREDICT, "--timeout", "1", f"{sabotage}.mp4", sabotaged=True)
    record = _one_failed_record(*result, f"{sabotage}.mp4")
    assert record["error"] == expected


@pytest.mark.parametrize("sabotage", ["crash", "hang"])
def test_info_on_a_file_whose_decoder_crashes_or_hangs_fails_with_one_line(work, sabotage):
    expected = {"crash": "decoder crashed (SIGSEGV)", "hang": "decode timed out after 1 s"}[sabotage]
    code, stdout, stderr = _cli(work, "info", f"{sabotage}.mp4", *MODEL, "--timeout", "1", "-f", "json", sabotaged=True)
    assert (code, stdout, stderr) == (1, "", f"error: {sabotage}.mp4: {expected}\n")


def test_a_file_that_aborts_decord_costs_one_record_and_pyav_reads_it(work):
    """A real crash: decord aborts the whole process on huge.mkv (std::bad_alloc, SIGABRT)."""
    record = _one_failed_record(*_cli(work, *PREDICT, "--decoder", "decord", "huge.mkv"), "huge.mkv")
    assert record["error"].startswith("decoder crashed (")
    code, stdout, stderr = _cli(work, *PREDICT, "huge.mkv")  # auto: PyAV, in a fresh worker
    assert (code, stderr) == (0, "")
    (record,) = [json.loads(line) for line in stdout.splitlines()]
    assert record["ok"] and record["decoder"] == "pyav" and record["frames"] == 30
    code, stdout, stderr = _cli(work, "info", "huge.mkv", *MODEL, "-f", "json")
    assert (code, stderr) == (0, "")
    assert json.loads(stdout)["frames"] == 30


def test_the_timeout_holds_for_a_single_file_that_really_decodes_slowly(work):
    """A real slow decode, no sabotage: PyAV on 12,000 4K frames, with a 1 s timeout."""
    args = (*PREDICT, "--decoder", "pyav", "--timeout", "1", "long.mp4")
    record = _one_failed_record(*_cli(work, *args), "long.mp4")
    assert record["error"] == "decode timed out after 1 s"


# --------------------------------------------------------------------------- decoder log lines


@pytest.mark.parametrize("command", ["predict", "info"])
def test_decoder_log_lines_stay_out_of_stderr_unless_verbose(work, command):
    args = (*PREDICT, "garbled.mp4") if command == "predict" else ("info", "garbled.mp4", *MODEL, "-f", "json")
    code, stdout, stderr = _cli(work, *args)
    assert code == 1
    (line,) = stderr.splitlines()  # the error line alone: FFmpeg's own lines went nowhere
    assert line.startswith("error: garbled.mp4: ")
    code, _, verbose = _cli(work, *args, "--verbose")
    assert code == 1 and line in verbose.splitlines() and len(verbose.splitlines()) > 1


# --------------------------------------------------------------------------- killed mid-run


def _our_shm() -> set[str]:
    """Entries in /dev/shm named the way vidclass's shared memory was (or would be) named."""
    if not os.path.isdir("/dev/shm"):
        return set()
    return {name for name in os.listdir("/dev/shm") if name.startswith("psm_") or "vidclass" in name}


def _left_behind(before: set[str], pgid: int, patience: float = 10.0) -> tuple[set[str], list[int]]:
    """New shared-memory entries and live processes of the group, once they had ``patience`` s to go.

    Entries that other processes on the machine create and remove meanwhile come and go; one
    left behind stays.
    """
    deadline = time.monotonic() + patience
    while True:
        entries, members = _our_shm() - before, _group_members(pgid)
        if (not entries and not members) or time.monotonic() > deadline:
            return entries, members
        time.sleep(0.2)


@pytest.fixture(scope="module")
def dataset(work) -> Path:
    """Class folders of 8 videos, whose views (12 x 3 x 8 x 32 x 32 float32, 1.2 MB) are large
    enough to travel from the workers as shared memory."""
    root = work / "dataset"
    for i in range(8):
        (root / LABELS[i % 3]).mkdir(parents=True, exist_ok=True)
        write_video(root / LABELS[i % 3] / f"v{i}.mp4", num_frames=24 + i)
    return root


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/dev/shm and /proc are Linux's")
@pytest.mark.parametrize("command", ["predict", "eval"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("records", [1, 4])
def test_a_killed_run_leaves_no_shared_memory_and_no_process(work, dataset, tmp_path, command, sig, records):
    """Kill predict or eval once ``records`` results are written, while the workers' next results
    are in flight: within seconds, no shared memory and no worker process remain."""
    lines = records + (command == "eval")  # eval's predictions.jsonl starts with a header
    before = _our_shm()
    if command == "predict":
        out = tmp_path / "out.jsonl"
        args = (*PREDICT, str(dataset), "--recursive", "--workers", "2", "-o", str(out))
    else:
        out = tmp_path / "eval" / "predictions.jsonl"
        args = ("eval", str(dataset), *MODEL, "--device", "cpu", "-j", "2", "-o", str(out.parent), "-q")
    proc = _start(work, *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + HANG_LIMIT
        while not (out.exists() and out.read_text().count("\n") >= lines):
            assert proc.poll() is None, f"{command} ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        entries, members = _left_behind(before, proc.pid)
    finally:
        _kill_group(proc.pid)
    assert proc.returncode == (143 if sig == signal.SIGTERM else -sig)  # SIGTERM is handled: exit 128 + 15
    assert not entries, f"left in /dev/shm: {sorted(entries)}"
    assert not members, f"processes left running: {members}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups are read from /proc")
def test_a_killed_run_leaves_no_worker_busy_with_a_hung_decode(work, tmp_path):
    out = tmp_path / "out.jsonl"
    args = (*PREDICT, "--timeout", "600", "good.mp4", "hang.mp4", "-o", str(out))
    proc = _start(work, *args, sabotaged=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + HANG_LIMIT
        while not (out.exists() and out.read_text().count("\n") >= 1):  # good.mp4 done: hang.mp4 hangs now
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        proc.kill()
        proc.wait(timeout=30)
        _, members = _left_behind(set(), proc.pid)
    finally:
        _kill_group(proc.pid)
    assert not members, f"processes left running after the command was killed: {members}"


# --------------------------------------------------------------------------- non-finite scores


def test_a_model_whose_logits_overflow_fails_each_video(work, monkeypatch):
    """Finite weights (a model file with NaN in it is refused when loaded) whose products overflow
    float32: every feature is 1e20 and so is every weight of class 1, so its logit is +inf."""
    broken = vidclass.create_model("vivit-micro", labels=LABELS, seed=0)
    with torch.no_grad():
        broken.model.backbone.encoder.norm.bias.fill_(1e20)
        broken.model.head.weight[1].fill_(1e20)
    vidclass.save_model(broken, work / "overflow.safetensors")
    run = cli_in(work, monkeypatch)
    result = run("predict", "--model", "overflow.safetensors", "--device", "cpu", "-f", "jsonl", "good.mp4", "--scores")
    assert result.exit_code == 1, result.output
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["ok"] is False and record["labels"] == [] and record["scores"] is None
    assert record["error"] == "non-finite scores: the model returned NaN or infinite logits"
    assert result.stderr == f"error: good.mp4: {record['error']}\n"
