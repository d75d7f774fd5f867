"""vidclass timeline: windows streamed, segments that tile the video, the boundaries of a
generated sequence found within one stride, and failures as predict's."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest
from click.testing import CliRunner
from PIL import Image

import vidclass
from tests.videos import write_video
from vidclass.cli.main import main
from vidclass.synth import generate_sequences, read_sequences

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "weights" / "default.safetensors"
# classes the bundled model tells apart best (its card: moves are its strongest classes)
CLASSES = ["moving_left", "moving_right", "moving_up"]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("timeline")
    generate_sequences(root / "seq", 1, segments=3, seed=3, classes=CLASSES, segment_seconds=(4.0, 4.0))
    write_video(root / "short.mp4", num_frames=40, width=64, height=48, fps=10)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 400)
    return root


@pytest.fixture
def invoke(work, monkeypatch):
    monkeypatch.chdir(work)
    runner = CliRunner()

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        model = () if "-m" in args else ("-m", str(BUNDLED))
        result = runner.invoke(main, ["timeline", *args, *model], env={"VIDCLASS_MODEL": None, "NO_COLOR": "1"})
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)

    return call


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_bundled_model_with_no_options_streams_windows_then_segments_that_tile(work):
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "FORCE_COLOR")}
    run = subprocess.run(
        [sys.executable, "-m", "vidclass", "timeline", "seq/sequence_00000.mp4"],
        cwd=work,
        env={**env, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    records = _records(run.stdout)
    types = [r["type"] for r in records]
    first_segment = types.index("segment")
    assert set(types[:first_segment]) == {"window"} and set(types[first_segment:]) == {"segment"}
    windows, segments = records[:first_segment], records[first_segment:]
    (truth,) = read_sequences(work / "seq")
    # windows: 2 s clips (16 frames at 8 fps), 1 s apart, the last one ending at the video's end
    assert [w["start"] for w in windows[:3]] == [0.0, 1.0, 2.0]
    assert all(w["end"] - w["start"] == pytest.approx(2.0, abs=0.13) for w in windows)
    assert windows[-1]["end"] == pytest.approx(truth.duration, abs=1e-3)
    # segments tile [0, duration]
    assert segments[0]["start"] == 0.0 and segments[-1]["end"] == pytest.approx(truth.duration, abs=1e-3)
    assert all(a["end"] == b["start"] for a, b in zip(segments[:-1], segments[1:], strict=True))


def test_a_three_segment_sequence_has_its_labels_and_boundaries_within_one_stride(work, invoke):
    # a window that spans a change of class scores neither well: --smooth 3 averages it away
    run = invoke("seq/sequence_00000.mp4", "-f", "json", "--truth", "seq", "--smooth", "3")
    assert run.returncode == 0, run.stderr
    (doc,) = json.loads(run.stdout)["videos"]
    (truth,) = read_sequences(work / "seq")
    labelled = [s for s in doc["segments"] if s["label"] is not None]
    assert [s["label"] for s in labelled] == [s.label for s in truth.segments]
    stride = 1.0  # half the 2 s window
    for found, expected in zip(doc["segments"][1:], truth.segments[1:], strict=True):
        assert abs(found["start"] - expected.start) <= stride
    assert doc["metrics"]["recall"] == 1.0 and doc["metrics"]["boundary_error"] <= stride
    # unsmoothed, --min-score marks the windows across a change as background, between the labels
    run = invoke("seq/sequence_00000.mp4", "-f", "json", "--min-score", "0.5")
    (doc,) = json.loads(run.stdout)["videos"]
    labels = [s["label"] for s in doc["segments"]]
    assert labels == ["moving_left", None, "moving_right", None, "moving_left"]


def test_csv_table_and_plot(work, invoke, tmp_path):
    run = invoke("seq/sequence_00000.mp4", "-f", "csv", "--plot", str(tmp_path / "t.png"))
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert {r["type"] for r in rows} == {"window", "segment"}
    with Image.open(tmp_path / "t.png") as image:
        assert image.format == "PNG" and image.size == (960, 360)
    table = invoke("seq/sequence_00000.mp4", "-f", "table")
    assert table.returncode == 0 and "moving_" in table.stdout


def test_render_writes_every_frame(work, invoke, tmp_path):
    out = tmp_path / "r.mp4"
    run = invoke("short.mp4", "--render", str(out), "-f", "json")
    assert run.returncode == 0, run.stderr
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 40


def test_a_bad_video_is_one_line_and_the_batch_goes_on(work, invoke):
    run = invoke("broken.mp4", "short.mp4", "-f", "jsonl")
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: broken.mp4: ")
    assert {r["path"] for r in _records(run.stdout)} == {"short.mp4"}


def test_usage_errors(work, invoke):
    for args in (
        ("short.mp4", "--stride", "0"),
        ("short.mp4", "--window", "-1"),
        ("short.mp4", "short.mp4", "--plot", "x.png"),
    ):
        run = invoke(*args)
        assert run.returncode == 2 and run.stdout == "", args
        assert run.stderr.startswith(("error: ", "Usage: ")), args


def test_library_yields_the_same_records(work):
    records = list(vidclass.timeline(work / "short.mp4", model=str(BUNDLED), workers=0))
    assert records[-1]["type"] == "segment" and records[0]["type"] == "window"
