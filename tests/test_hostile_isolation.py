"""Hostile inputs against the isolation of decoding: a command killed mid-run (shared memory,
worker processes), and a model whose scores are not finite.

Every input is made here. The commands run as real processes where the failure would take the
process down (a kill); sabotaged decode jobs come from ``tests.decode_hooks``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

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
    shutil.copy(root / "good.mp4", root / "hang.mp4")
    return root


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


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


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
    assert proc.returncode == -sig
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
