"""Rough edges a new user hits on a terminal: predict's table on a narrow terminal, ``-0``
for ``find -print0``, shell completion, eval's running top-1, and an evaluation that scored
nothing. Each runs ``python -m vidclass`` in a subprocess (on a pseudo-terminal where the
behaviour is a terminal's) and checks its exit status, stderr and parsed output."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import pytest
from rich.cells import cell_len

import vidclass
from tests.videos import write_video
from vidclass.cli.writers import TableWriter
from vidclass.scores import Prediction

LABELS = ["moving left", "moving right", "zooming in", "zooming out", "still"]
DEEP = "holiday clips 2023/day one/motion_0001.mp4"
SHORT = "b.mp4"
ODD = "two\nlines.mp4"  # a name only NUL-separated input can carry
PREDICT = ("predict", "--model", "model.safetensors", "--device", "cpu", "--workers", "0", "--clips", "1")
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]")
TIMEOUT = 180


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("terminal")
    vidclass.save_model(vidclass.create_model("vivit-micro", labels=LABELS, seed=3), root / "model.safetensors")
    for name in (DEEP, SHORT, ODD):
        write_video(root / name, num_frames=8, width=48, height=48)
    for i, label in enumerate(("moving left", "zooming in")):  # an eval dataset: class folders
        for j in range(2):
            write_video(root / "ds" / label / f"v{j}.mp4", num_frames=8, width=48, height=48, pattern=_pattern(i, j))
    for label in ("dancing", "singing"):  # labels the model does not have
        write_video(root / "unknown" / label / "v.mp4", num_frames=8, width=48, height=48)
    return root


def _pattern(i: int, j: int):
    import numpy as np

    def frame(index: int, height: int, width: int) -> np.ndarray:
        out = np.zeros((height, width, 3), dtype=np.uint8)
        out[:, : (index * 6 + 10 * i + 5 * j) % width] = 200
        return out

    return frame


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "FORCE_COLOR", "COLUMNS", "LINES")}
    return {**env, "NO_COLOR": "1", "OMP_NUM_THREADS": "1", **extra}


def vidclass_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "vidclass", *args]


def run(work: Path, *args: str, input: bytes | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``vidclass ARGS`` with stdout and stderr piped."""
    proc = subprocess.run(
        vidclass_cmd(*args), cwd=work, input=input, capture_output=True, env=_env(**env), timeout=TIMEOUT
    )
    return subprocess.CompletedProcess(proc.args, proc.returncode, os.fsdecode(proc.stdout), os.fsdecode(proc.stderr))


def run_on_terminal(work: Path, *args: str, columns: int, stream: str) -> tuple[int, str, str]:
    """``vidclass ARGS`` with ``stream`` ("stdout" or "stderr") on a pseudo-terminal
    ``columns`` wide and the other in a file: (exit status, terminal text without escape
    sequences, the other stream)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    with tempfile.TemporaryFile() as other:
        streams = {"stdout": slave, "stderr": other} if stream == "stdout" else {"stdout": other, "stderr": slave}
        proc = subprocess.Popen(
            vidclass_cmd(*args),
            cwd=work,
            env=_env(COLUMNS=str(columns), TERM="xterm"),
            stdin=subprocess.DEVNULL,
            **streams,
        )
        os.close(slave)
        chunks, deadline = [], time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 1.0)
                if not ready:
                    continue
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            status = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            os.close(master)
            if proc.poll() is None:
                proc.kill()
        other.seek(0)
        rest = other.read().decode()
    text = ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")
    return status, text, rest


# --------------------------------------------------------------------------- narrow terminals


def table_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and the body rows (one list of cells per line) of a boxed rich table."""
    lines = text.splitlines()
    header = [c.strip() for c in next(line for line in lines if line.startswith("┃")).strip("┃").split("┃")]
    body = [[c.strip() for c in line.strip("│").split("│")] for line in lines if line.startswith("│")]
    return header, body


def check_table(text: str, columns: int, expected: list[tuple[str, str, str, list[str]]]) -> list[str]:
    """Assert that the table fits ``columns``, one line per video, with each label and score
    whole, each path whole or cut from the left keeping its file name, ``next`` cut after
    whole entries; return the header."""
    assert all(cell_len(line) <= columns for line in text.splitlines()), text
    header, body = table_rows(text)
    assert header[:3] == ["video", "label", "score"], text
    assert len(body) == len(expected), text  # no row wraps: one line per video
    for row, (path, label, score, others) in zip(body, expected, strict=True):
        cells = dict(zip(header, row, strict=True))
        assert (cells["label"], cells["score"]) == (label, score), text
        video = cells["video"]
        assert video == path or (video.startswith("…") and path.endswith(video[1:])), text
        assert video.endswith(os.path.basename(path)), text  # wide enough here for the file name
        if "next" in cells:
            full = ", ".join(others)
            assert cells["next"] == full or (cells["next"].endswith(", …") and full.startswith(cells["next"][:-3]))
    return header


@pytest.fixture(scope="module")
def answers(work) -> list[tuple[str, str, str, list[str]]]:
    """What the table must show for DEEP and SHORT: path, label, score, the next labels."""
    done = run(work, *PREDICT, "--format", "jsonl", DEEP, SHORT)
    assert done.returncode == 0, done.stderr
    out = []
    for record in map(json.loads, done.stdout.splitlines()):
        top = record["labels"]
        out.append(
            (
                record["path"],
                top[0]["label"],
                f"{top[0]['score']:.4f}",
                [f"{t['label']} {t['score']:.3f}" for t in top[1:]],
            )
        )
    return out


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_predict_table_fits_a_narrow_terminal_and_keeps_the_answer_whole(work, answers, columns):
    status, text, stderr = run_on_terminal(work, *PREDICT, DEEP, SHORT, columns=columns, stream="stdout")
    assert (status, stderr) == (0, ""), text + stderr
    header = check_table(text, columns, answers)
    if columns == 60:  # the extras went first
        assert header in (["video", "label", "score"], ["video", "label", "score", "time"]), text
    if columns == 120:
        assert header == ["video", "label", "score", "next", "views", "duration", "time"]


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("columns", [30, 60, 80, 120])
def test_table_writer_gives_way_with_the_extras_first(monkeypatch, columns):
    """The writer on a console 30 to 120 columns wide, with a failed video among the rows:
    its error message wraps in the label column, and nothing else does."""
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("NO_COLOR", "1")
    ranked = [("rotating clockwise", 0.6123), ("moving left", 0.2), ("still", 0.1), ("zooming in", 0.05)]
    deep = "/home/user/videos/holiday-2023/clips/synthetic_benchmark_0001.mp4"
    stream = FakeTTY()
    writer = TableWriter(stream, {"name": "vivit-synth"})
    writer.begin()
    writer.write(Prediction(path=deep, labels=ranked, views=12, duration=3.2, seconds=0.41))
    writer.write(Prediction(path="short.mp4", labels=ranked[::-1], views=12, duration=3.2, seconds=0.4))
    writer.write(Prediction(path="/home/user/videos/missing_clip.mp4", error="file not found"))
    writer.end()
    text = ANSI.sub("", stream.getvalue())
    header, body = table_rows(text)
    assert header[:3] == ["video", "label", "score"]
    firsts = [row for row in body if row[0]]  # each video's first line
    assert len(firsts) == 3 and body[:2] == firsts[:2], text  # the two answers: one line each
    assert [row[1:3] for row in firsts[:2]] == [["rotating clockwise", "0.6123"], ["zooming in", "0.0500"]], text
    assert firsts[0][0].endswith("0001.mp4") and firsts[1][0] == "short.mp4", text
    assert firsts[2][0].endswith("clip.mp4") and firsts[2][0].startswith(("…", "/")), text
    error = " ".join(row[1] for row in body[2:])
    assert " ".join(error.split()) == "error: file not found", text
    if columns >= 60:
        assert all(cell_len(line) <= columns for line in text.splitlines()), text
        assert len(body) <= 4, text  # the error row wraps over two lines at most
    else:  # narrower than the answer needs: the table keeps it, and the terminal wraps
        assert header == ["video", "label", "score"], text


# --------------------------------------------------------------------------- -0 / --null


def test_null_separated_paths_from_stdin(work):
    done = run(work, *PREDICT, "-0", "-", "--format", "jsonl", input=os.fsencode(f"{SHORT}\0{ODD}\0\0missing.mp4\0"))
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["path"], r["ok"]) for r in records] == [(SHORT, True), (ODD, True), ("missing.mp4", False)]
    assert done.stderr == "error: missing.mp4: file not found\n"
    same = run(work, *PREDICT, "--null", "-", "--format", "jsonl", input=os.fsencode(f"{ODD}\0"))
    assert same.returncode == 0 and [json.loads(line)["path"] for line in same.stdout.splitlines()] == [ODD]


def test_null_without_stdin_is_a_usage_error(work):
    done = run(work, *PREDICT, "-0", SHORT)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[-1] == "Error: -0/--null reads NUL-separated paths from stdin: give - as an input"


# --------------------------------------------------------------------------- shell completion


def test_shell_completion_script_and_completions(work, tmp_path):
    script = run(work, _VIDCLASS_COMPLETE="bash_source")
    assert script.returncode == 0 and script.stderr == ""
    assert "complete -o nosort -F _vidclass_completion vidclass" in script.stdout
    for shell in ("zsh", "fish"):
        other = run(work, _VIDCLASS_COMPLETE=f"{shell}_source")
        assert other.returncode == 0 and "_VIDCLASS_COMPLETE" in other.stdout
    words = run(work, _VIDCLASS_COMPLETE="bash_complete", COMP_WORDS="vidclass pre", COMP_CWORD="1")
    assert (words.returncode, words.stdout.split()) == (0, ["plain,predict"])
    formats = run(work, _VIDCLASS_COMPLETE="bash_complete", COMP_WORDS="vidclass predict --format ", COMP_CWORD="3")
    assert formats.stdout.split() == ["plain,table", "plain,json", "plain,jsonl", "plain,csv"]
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash to source the script in")
    shim = tmp_path / "bin" / "vidclass"  # `vidclass` on PATH, as an installed one is
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m vidclass "$@"\n')
    shim.chmod(0o755)
    line = 'eval "$(_VIDCLASS_COMPLETE=bash_source vidclass)"; COMP_WORDS=(vidclass ev); COMP_CWORD=1; '
    line += '_vidclass_completion vidclass; echo "${COMPREPLY[@]}"'
    env = _env(PATH=f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run([bash, "-c", line], cwd=work, capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert (done.returncode, done.stdout, done.stderr) == (0, "eval\n", "")


# --------------------------------------------------------------------------- eval


EVAL = ("eval", "--model", "model.safetensors", "--device", "cpu", "--clips", "1", "--crops", "1")


def test_eval_progress_bar_shows_the_running_top1(work):
    status, text, stdout = run_on_terminal(work, *EVAL, "ds", "--format", "json", columns=120, stream="stderr")
    metrics = json.loads(stdout)
    assert status == 0 and metrics["counts"]["scored"] == 4, text
    shown = re.findall(r"top-1 +([0-9.]+)%", text)
    assert shown, text
    assert shown[-1] == f"{100 * metrics['top1']:.1f}", text  # the last frame: every video counted


def test_eval_that_scores_nothing_fails(work, tmp_path):
    done = run(work, *EVAL, "unknown", "--ignore-unknown", "--format", "json", "-o", str(tmp_path / "o"), "-q")
    metrics = json.loads(done.stdout)
    assert (metrics["top1"], metrics["complete"], metrics["counts"]["ignored"]) == (None, True, 2)
    assert done.returncode == 1
    message = "error: no video was scored: all 2 were ignored (their labels are not the model's), so there is no top-1"
    lines = done.stderr.splitlines()
    assert lines[-1] == message and [line for line in lines if line.startswith("error:")] == [message], done.stderr
    again = run(work, "report", str(tmp_path / "o"), "--format", "json", "-q")
    assert (again.returncode, again.stderr) == (1, f"{message}\n")
    assert json.loads(again.stdout)["top1"] is None
    empty = run(work, *EVAL, "ds", "--shard", "7/9", "--format", "json", "-q")  # 4 videos: shard 7 has none
    assert (empty.returncode, empty.stderr) == (1, "error: no video was scored: shard 7/9 holds no videos\n")
    assert json.loads(empty.stdout)["counts"]["samples"] == 0
