"""The ``vidclass`` command line: formats, inputs, exit codes and stream discipline."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import vidclass
import vidclass.checkpoints
from tests.cli import cli_in
from tests.records import LABELS, RECORD_KEYS
from tests.videos import write_video
from vidclass.cli.output import Messages, make_console
from vidclass.cli.writers import CsvWriter, JsonlWriter
from vidclass.inference import Predictor
from vidclass.scores import Prediction, aggregate
from vidclass.video import load_views, plan_views, probe

ODD_NAME = "name with spaces é 北.mp4"


@pytest.fixture(scope="module")
def clf():
    return vidclass.create_model("vivit-micro", labels=LABELS, seed=1)


@pytest.fixture(scope="module")
def work(tmp_path_factory, clf) -> Path:
    """A folder with a model file and small videos; tests run with it as the cwd."""
    root = tmp_path_factory.mktemp("cli")
    vidclass.save_model(clf, root / "model.safetensors")
    write_video(root / "a.mp4", num_frames=20, width=80, height=48)
    write_video(root / "b.mp4", num_frames=12, width=48, height=64)
    write_video(root / "dir" / "c.mp4", num_frames=10, width=64, height=64)
    write_video(root / "dir" / "sub" / "d.mp4", num_frames=10, width=64, height=64)
    write_video(root / ODD_NAME, num_frames=10, width=80, height=48)
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 garbage, not a video")
    (root / "empty").mkdir()
    return root


@pytest.fixture
def run(work, monkeypatch):
    """Invoke ``vidclass ARGS`` in ``work`` with no default model and no colour settings."""
    return cli_in(work, monkeypatch)


PREDICT = ("predict", "--model", "model.safetensors", "--device", "cpu")


def jsonl(result) -> list[dict]:
    assert result.stdout.endswith("\n")
    return [json.loads(line) for line in result.stdout.splitlines()]


def reference(clf, path: str, **protocol) -> torch.Tensor:
    """The model's own logits on ``load_views``, aggregated: what predict must report."""
    proto = clf.protocol.override(**protocol)
    views, _, _ = load_views(path, clf.preprocessing, proto)
    with torch.no_grad():
        return aggregate(clf.model.eval()(views), proto.aggregate)


# --------------------------------------------------------------------------- formats


def test_jsonl_one_record_per_input_in_order_with_exact_scores(run, clf):
    result = run(*PREDICT, "b.mp4", "a.mp4", "--top-k", "3", "--precision", "fp32")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    records = jsonl(result)
    assert [r["path"] for r in records] == ["b.mp4", "a.mp4"]
    for record in records:
        assert set(record) == RECORD_KEYS
        assert record["ok"] is True and record["error"] is None
        assert (record["views"], record["clips"], record["crops"]) == (12, 4, 3)
        probs = reference(clf, record["path"])
        order = torch.argsort(probs, descending=True)[:3].tolist()
        assert [item["label"] for item in record["labels"]] == [LABELS[i] for i in order]
        assert [item["score"] for item in record["labels"]] == pytest.approx([probs[i].item() for i in order], abs=1e-6)
        scores = [item["score"] for item in record["labels"]]
        assert scores == sorted(scores, reverse=True)
    assert (records[1]["frames"], records[1]["fps"], records[1]["duration"]) == (20, 25.0, 0.8)
    assert (records[1]["width"], records[1]["height"]) == (80, 48)


def test_protocol_options_reach_the_engine(run, clf):
    result = run(
        *PREDICT, "a.mp4", "--clips", "2", "--crops", "1", "--aggregate", "logits", "-k", "5", "--precision", "fp32"
    )
    assert result.exit_code == 0, result.output
    (record,) = jsonl(result)
    assert (record["views"], record["clips"], record["crops"]) == (2, 2, 1)
    probs = reference(clf, "a.mp4", clips=2, crops=1, aggregate="logits")
    by_label = {item["label"]: item["score"] for item in record["labels"]}
    assert by_label == pytest.approx(dict(zip(LABELS, probs.tolist(), strict=True)), abs=1e-6)


def test_batch_size_option_does_not_change_scores(run):
    one = jsonl(run(*PREDICT, "a.mp4", "--batch-size", "1", "--scores"))[0]["scores"]
    twelve = jsonl(run(*PREDICT, "a.mp4", "--batch-size", "12", "--scores"))[0]["scores"]
    assert list(one) == LABELS
    assert twelve == pytest.approx(one, abs=1e-5)
    assert sum(one.values()) == pytest.approx(1.0, abs=1e-5)


def test_json_document(run):
    result = run(*PREDICT, "a.mp4", "missing.mp4", "--format", "json", "-k", "2")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert set(doc) == {"model", "results"}
    model = doc["model"]
    assert model["name"] == "vivit-micro" and model["source"] == "model.safetensors"
    assert model["labels"] == LABELS and model["device"] == "cpu"
    assert model["protocol"] == {"clips": 4, "crops": 3, "aggregate": "softmax"}
    assert model["preprocessing"]["num_frames"] == 8
    assert [r["path"] for r in doc["results"]] == ["a.mp4", "missing.mp4"]
    assert len(doc["results"][0]["labels"]) == 2
    assert doc["results"][1] == {
        **{key: None for key in RECORD_KEYS},
        "path": "missing.mp4",
        "ok": False,
        "labels": [],
        "error": "file not found",
        "seconds": doc["results"][1]["seconds"],
    }


def test_csv(run):
    result = run(*PREDICT, "a.mp4", "corrupt.mp4", "b.mp4", "--format", "csv", "-k", "2")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "path",
        "ok",
        "label",
        "score",
        "labels",
        "views",
        "frames",
        "duration",
        "seconds",
        "error",
    ]
    assert [r["path"] for r in rows] == ["a.mp4", "corrupt.mp4", "b.mp4"]
    assert [r["ok"] for r in rows] == ["true", "false", "true"]
    good = jsonl(run(*PREDICT, "a.mp4", "-k", "2"))[0]
    first = rows[0]
    assert first["label"] == good["labels"][0]["label"]
    assert float(first["score"]) == pytest.approx(good["labels"][0]["score"], abs=1e-6)
    pairs = [item.split(":") for item in first["labels"].split(";")]
    assert [label for label, _ in pairs] == [item["label"] for item in good["labels"]]
    assert (first["views"], first["frames"], first["duration"], first["error"]) == ("12", "20", "0.8", "")
    assert rows[1]["label"] == "" and rows[1]["error"].startswith("cannot ")


def test_csv_scores_columns(run):
    result = run(*PREDICT, "a.mp4", "--format", "csv", "--scores")
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][-5:] == LABELS
    assert sum(float(x) for x in rows[1][-5:]) == pytest.approx(1.0, abs=1e-4)


def test_forced_table_on_a_pipe_is_plain_text(run):
    result = run(*PREDICT, "a.mp4", "missing.mp4", "--format", "table")
    assert result.exit_code == 1
    assert "\x1b[" not in result.stdout
    assert "a.mp4" in result.stdout and "vivit-micro" in result.stdout
    assert "error: file not found" in result.stdout
    label = jsonl(run(*PREDICT, "a.mp4"))[0]["labels"][0]["label"]
    assert label in result.stdout
    assert result.stderr == "error: missing.mp4: file not found\n"


def test_default_format_is_jsonl_off_a_terminal(run):
    result = run(*PREDICT, "a.mp4")
    assert json.loads(result.stdout)["path"] == "a.mp4"


def test_output_file_and_format_from_suffix(run, work):
    result = run(*PREDICT, "a.mp4", "b.mp4", "--output", "out.csv")
    assert result.exit_code == 0 and result.stdout == ""
    rows = list(csv.DictReader(open(work / "out.csv", encoding="utf-8")))
    assert [r["path"] for r in rows] == ["a.mp4", "b.mp4"]
    result = run(*PREDICT, "a.mp4", "-o", "out.txt")
    assert json.loads((work / "out.txt").read_text())["path"] == "a.mp4"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_streaming_formats_flush_each_video_as_it_is_done(run, work, monkeypatch, fmt):
    # a.mp4 and b.mp4 have 12 views each; -b 5 cuts their 24 views into batches of 5, 5,
    # 2 + 3 (shared), 5 and 4. a's record must be in the file once the shared batch has run,
    # before b's own batches; b's when the run ends.
    seen: list[tuple[int, str]] = []
    original = Predictor.forward

    def spy(self, batch):
        seen.append((batch.shape[0], (work / f"stream.{fmt}").read_text()))
        return original(self, batch)

    monkeypatch.setattr(Predictor, "forward", spy)
    result = run(*PREDICT, "a.mp4", "b.mp4", "-b", "5", "--format", fmt, "-o", f"stream.{fmt}")
    assert result.exit_code == 0, result.output
    header = 1 if fmt == "csv" else 0
    assert [size for size, _ in seen] == [5, 5, 5, 5, 4]
    assert [len(text.splitlines()) for _, text in seen] == [header] * 3 + [header + 1] * 2
    assert seen[3][1].endswith("\n")
    assert len((work / f"stream.{fmt}").read_text().splitlines()) == header + 2


def test_batch_boundaries_do_not_reorder_or_drop_records(run, clf):
    """Failures between good videos, batches that split videos: every input once, in order,
    each good one with the scores of its own views."""
    names = ["a.mp4", "missing.mp4", "b.mp4", "corrupt.mp4", os.path.join("dir", "c.mp4"), ODD_NAME]
    for batch_size in ("5", "7", "64"):
        result = run(*PREDICT, *names, "-b", batch_size, "--precision", "fp32", "--scores")
        assert result.exit_code == 1, result.output
        records = jsonl(result)
        assert [r["path"] for r in records] == names
        assert [r["ok"] for r in records] == [True, False, True, False, True, True]
        assert [line.split(": ")[1] for line in result.stderr.splitlines()] == ["missing.mp4", "corrupt.mp4"]
        for record in records:
            if record["ok"]:
                probs = reference(clf, record["path"])
                assert list(record["scores"].values()) == pytest.approx(probs.tolist(), abs=1e-6)


def test_writers_flush_after_every_record():
    class Counting(io.StringIO):
        flushes = 0

        def flush(self):
            self.flushes += 1

    p = Prediction(path="x.mp4", labels=[("walk", 0.75)], class_names=("walk",))
    for cls, per_record in [(JsonlWriter, 1), (CsvWriter, 1)]:
        stream = Counting()
        writer = cls(stream, {"labels": ["walk"]})
        writer.begin()
        before = stream.flushes
        writer.write(p)
        assert stream.flushes - before == per_record
        assert stream.getvalue().endswith("\n")


@pytest.mark.parametrize("at,finished", [(3, []), (4, ["a.mp4"])])
def test_interrupt_keeps_finished_results_and_exits_130(run, monkeypatch, at, finished):
    # -b 5: batches 1-2 hold a's views, batch 3 a's last two and b's first three, batch 4 b's.
    # Ctrl-C in batch 3 finishes nothing; in batch 4, a is done.
    original = Predictor.forward
    calls = []

    def interrupt(self, batch):
        calls.append(batch.shape[0])
        if len(calls) == at:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Predictor, "forward", interrupt)
    result = run(*PREDICT, "a.mp4", "b.mp4", "-b", "5", "--format", "json")
    assert result.exit_code == 130
    assert [r["path"] for r in json.loads(result.stdout)["results"]] == finished
    assert result.stderr == "error: interrupted\n"


# --------------------------------------------------------------------------- inputs


def test_stdin_paths_with_spaces_and_unicode(run):
    text = f"a.mp4\n\n   \n{ODD_NAME}\r\nmissing one.mp4\n"
    result = run(*PREDICT, "-", input=text)
    assert result.exit_code == 1
    records = jsonl(result)
    assert [r["path"] for r in records] == ["a.mp4", ODD_NAME, "missing one.mp4"]
    assert [r["ok"] for r in records] == [True, True, False]
    assert result.stderr == "error: missing one.mp4: file not found\n"


def test_stdin_mixed_with_arguments_keeps_order(run):
    result = run(*PREDICT, "b.mp4", "-", "dir", input="a.mp4\n")
    assert [r["path"] for r in jsonl(result)] == ["b.mp4", "a.mp4", os.path.join("dir", "c.mp4")]


def test_directories_top_level_or_recursive(run):
    flat = jsonl(run(*PREDICT, "dir"))
    assert [r["path"] for r in flat] == [os.path.join("dir", "c.mp4")]
    deep = jsonl(run(*PREDICT, "dir", "--recursive"))
    assert [r["path"] for r in deep] == [
        os.path.join("dir", "c.mp4"),
        os.path.join("dir", "sub", "d.mp4"),
    ]


def test_failed_inputs_exit_1_and_good_ones_still_complete(run):
    result = run(*PREDICT, "a.mp4", "missing.mp4", "corrupt.mp4", "b.mp4")
    assert result.exit_code == 1
    records = jsonl(result)
    assert [r["ok"] for r in records] == [True, False, False, True]
    assert all(len(r["labels"]) == 5 for r in records if r["ok"])
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0] == "error: missing.mp4: file not found"
    assert lines[1].startswith("error: corrupt.mp4: ")
    assert records[2]["error"] == lines[1].removeprefix("error: corrupt.mp4: ")


# --------------------------------------------------------------------------- usage errors (2)


@pytest.mark.parametrize(
    "args",
    [
        ("--crops", "2"),
        ("--top-k", "0"),
        ("--clips", "0"),
        ("--batch-size", "0"),
        ("--aggregate", "median"),
        ("--format", "xml"),
        ("--device", "tpu"),
        ("--no-such-option",),
    ],
)
def test_bad_option_values_exit_2(run, args):
    result = run(*PREDICT, "a.mp4", *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Error:" in result.stderr


def test_no_inputs_exits_2(run):
    for args, stdin in [((), None), (("-",), "\n\n")]:
        result = run(*PREDICT, *args, input=stdin)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
    result = run(*PREDICT, "-", "-", input="a.mp4\n")
    assert result.exit_code == 2


def test_missing_or_bad_model_exits_2_with_one_line(run, work):
    result = run("predict", "a.mp4")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: no model given") and "--model" in result.stderr

    (work / "bad.safetensors").write_bytes(b"garbage")
    for model in ["bad.safetensors", "nope.safetensors", "vivit-micro"]:
        result = run("predict", "a.mp4", "--model", model)
        assert result.exit_code == 2, (model, result.output)
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
        assert result.stdout == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_exits_2(run):
    result = run(*PREDICT[:-2], "a.mp4", "--device", "cuda")
    assert result.exit_code == 2
    assert result.stderr == "error: CUDA is not available on this machine\n"


def test_default_model_from_env_and_from_weights(run, work, clf):
    env_result = run("predict", "a.mp4", "--device", "cpu", env={"VIDCLASS_MODEL": "model.safetensors"})
    assert env_result.exit_code == 0, env_result.output
    vidclass.save_model(clf, work / "weights" / "default.safetensors")
    try:
        bundled = run("predict", "a.mp4", "--device", "cpu")
        assert bundled.exit_code == 0, bundled.output
        assert jsonl(bundled)[0]["labels"] == jsonl(env_result)[0]["labels"]
        by_name = run("predict", "a.mp4", "--device", "cpu", "--model", "default")
        assert jsonl(by_name)[0]["labels"] == jsonl(env_result)[0]["labels"]
    finally:
        (work / "weights" / "default.safetensors").unlink()


# --------------------------------------------------------------------------- models, info, version


def test_models_json(run, work, clf):
    vidclass.save_model(clf, work / "weights" / "vivit-micro.safetensors")
    try:
        result = run("models", "--format", "json")
    finally:
        (work / "weights" / "vivit-micro.safetensors").unlink()
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [row["name"] for row in doc["registry"]] == vidclass.list_models()
    micro = next(row for row in doc["registry"] if row["name"] == "vivit-micro")
    assert micro["weights"] is True and micro["params"] > 0 and micro["gflops"] > 0
    assert [f["name"] for f in doc["files"]] == ["vivit-micro"]
    assert doc["files"][0]["model"] == "vivit-micro" and doc["files"][0]["num_labels"] == 5
    table = run("models", "--format", "table")
    assert table.exit_code == 0 and "vivit-micro" in table.stdout and "\x1b[" not in table.stdout


def test_models_table_names_files_in_its_folder_and_sizes_them_in_binary_units(run, work, clf):
    path = work / "weights" / "vivit-micro.safetensors"
    vidclass.save_model(clf, path)
    size = path.stat().st_size
    try:
        table = run("models", "--format", "table")
    finally:
        path.unlink()
    assert table.exit_code == 0, table.output
    assert f"model files in {work / 'weights'}" in table.stdout
    row = next(line for line in table.stdout.splitlines() if "vivit-micro.safetensors" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[0] == "vivit-micro.safetensors"  # the name: the folder is the title, once
    assert cells[3] == (f"{size / 1024:.1f} KiB" if size < 2**20 else f"{size / 2**20:.1f} MiB")  # 1024-based


def test_info_prints_the_sampler_indices_and_crop_boxes(run, clf):
    result = run("info", "a.mp4", "--model", "model.safetensors", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["frames"], doc["fps"], doc["width"], doc["height"], doc["codec"]) == (20, 25.0, 80, 48, "h264")
    assert doc["duration"] == pytest.approx(0.8)
    # 20 frames, 8 frames at stride 2, 4 clips: starts int(linspace(0, 20 - 16, 4)) = 0 1 2 4
    assert [c["frame_indices"] for c in doc["clips"]] == [
        [0, 2, 4, 6, 8, 10, 12, 14],
        [1, 3, 5, 7, 9, 11, 13, 15],
        [2, 4, 6, 8, 10, 12, 14, 16],
        [4, 6, 8, 10, 12, 14, 16, 18],
    ]
    # 80x48 -> short side 36 -> 60x36; three 32 px crops at 0, ceil(28 / 2), 28
    assert doc["resized"] == [36, 60]
    assert doc["crops"] == [
        {"index": 0, "name": "left", "top": 2, "left": 0, "size": 32},
        {"index": 1, "name": "centre", "top": 2, "left": 14, "size": 32},
        {"index": 2, "name": "right", "top": 2, "left": 28, "size": 32},
    ]
    plan = plan_views(probe("a.mp4"), clf.preprocessing, clf.protocol)
    assert [tuple(c["frame_indices"]) for c in doc["clips"]] == [c.frame_indices for c in plan.clips]
    assert doc["views"] == 12 and doc["model"] == "vivit-micro"

    one = json.loads(run("info", "a.mp4", "-m", "vivit-micro", "--clips", "1", "--crops", "1").stdout)
    assert [c["frame_indices"] for c in one["clips"]] == [[2, 4, 6, 8, 10, 12, 14, 16]]
    assert one["crops"] == [{"index": 0, "name": "centre", "top": 2, "left": 14, "size": 32}]

    table = run("info", "a.mp4", "-m", "vivit-micro", "--format", "table")
    assert table.exit_code == 0 and "0 2 4 6 8 10 12 14" in table.stdout


def test_info_without_model_uses_default_preprocessing(run):
    result = run("info", "a.mp4")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"] is None and doc["preprocessing"]["crop_size"] == 224
    assert doc["protocol"] == {"clips": 4, "crops": 3, "aggregate": "softmax"}
    # 20 frames, shorter than one 32-frame clip at stride 2: every clip starts at 0 and loops
    assert doc["clips"][0]["frame_indices"][:12] == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 0, 2]
    assert result.stderr.startswith("note: no model given")


def test_info_bad_video_exits_1(run):
    result = run("info", "missing.mp4", "--model", "vivit-micro")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "error: missing.mp4: file not found\n"


def test_version(run):
    result = run("--version")
    assert result.exit_code == 0 and result.stdout == f"vidclass, version {vidclass.__version__}\n"


# --------------------------------------------------------------------------- output decisions


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    tty = FakeTTY()
    make_console(tty).print("[bold]x[/bold]", style="red")
    assert "\x1b[" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    plain = FakeTTY()
    make_console(plain).print("x", style="red")
    assert plain.getvalue() == "x\n"
    monkeypatch.delenv("NO_COLOR")
    pipe = io.StringIO()
    make_console(pipe).print("x", style="red")
    assert pipe.getvalue() == "x\n"


def test_error_lines_never_wrap(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    long_path = "/very/long/" + "x" * 300 + ".mp4"
    Messages().input_error(long_path, "cannot decode frames: something [bold]odd[/bold]")
    assert stream.getvalue() == f"error: {long_path}: cannot decode frames: something [bold]odd[/bold]\n"


def test_progress_only_on_a_terminal_stderr(monkeypatch):
    monkeypatch.setattr(sys, "stderr", FakeTTY())
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert Messages().show_progress(streaming_to_stdout=True)
    assert not Messages(quiet=True).show_progress(streaming_to_stdout=True)
    monkeypatch.setattr(sys, "stdout", FakeTTY())  # records stream to the same terminal
    assert not Messages().show_progress(streaming_to_stdout=True)
    assert Messages().show_progress(streaming_to_stdout=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not Messages().show_progress(streaming_to_stdout=False)


def test_python_dash_m_entry_point_separates_streams(work):
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "NO_COLOR")}
    proc = subprocess.run(
        [sys.executable, "-m", "vidclass", *PREDICT, "a.mp4", "missing.mp4", "--quiet"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["path"], r["ok"]) for r in records] == [("a.mp4", True), ("missing.mp4", False)]
    assert proc.stderr == "error: missing.mp4: file not found\n"


def test_unwritable_output_exits_2_before_any_work(run, work):
    result = run(*PREDICT, "a.mp4", "--output", str(work / "no" / "such" / "dir" / "out.jsonl"))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: --output ") and len(result.stderr.splitlines()) == 1
