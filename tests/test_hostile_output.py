"""Output that survives hostile names and a hostile environment: ``-o`` never destroys an input,
control characters never reach a terminal, CSV cells never run as formulas, no NaN in JSON, a
full disk is one line, and a ``json`` result file is replaced whole or not at all."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.table import Table

import vidclass
from tests.cli import cli_in
from tests.videos import write_video
from vidclass.cli.output import Messages, make_console
from vidclass.cli.results import open_results
from vidclass.cli.writers import WRITERS
from vidclass.errors import VidclassError
from vidclass.evaluation.reports import confusion_csv, per_class_csv, write_reports
from vidclass.inference import Predictor
from vidclass.scores import Prediction
from vidclass.serialize import csv_cell, csv_row

# labels a model file may carry: formulas and rich markup (a model file with control characters
# or line breaks in a label is refused when loaded: tests/test_hostile_models.py)
LABELS = ["=cmd|' /C calc'!A0", "+x", "-1", "@sum", "[bold]b", "'q"]
ESC_NAME = "clr\x1b[2J\x1b]0;pwned\x07.mp4"
FORMULA_NAMES = ["=HYPERLINK(1).mp4", "+1.mp4", "-x.mp4", "@x.mp4", "\tx.mp4", "\rx.mp4", "'q.mp4"]
BREAK_NAMES = ["cr\rname.mp4", "lf\nname.mp4", "crlf\r\nname.mp4", 'quote",comma.mp4']
QUICK = ("--clips", "1", "--crops", "1", "--workers", "0", "--quiet")
SGR = re.compile(r"\x1b\[[0-9;]*m")  # rich's own colour codes on a terminal
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # anything but a line end


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    clf = vidclass.create_model("vivit-micro", labels=LABELS, seed=1)
    vidclass.save_model(clf, root / "model.safetensors")
    video = write_video(root / "a.mp4", num_frames=8, width=48, height=48).read_bytes()
    (root / "[").mkdir()  # for "[/bold]y.mp4", a closing markup tag
    for name in [ESC_NAME, "[bold]x.mp4", "[/bold]y.mp4", *FORMULA_NAMES, *BREAK_NAMES]:
        (root / name).write_bytes(video)
    return root


@pytest.fixture
def run(work, monkeypatch):
    return cli_in(work, monkeypatch)


PREDICT = ("predict", "--model", "model.safetensors", "--device", "cpu", *QUICK)


def one_error_line(result) -> str:
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# --------------------------------------------------------------------------- 2: -o never names an input


@pytest.mark.parametrize("how", ["same path", "./path", "symlink", "hard link", "stdin"])
def test_output_that_is_an_input_is_refused_before_anything_is_written(run, work, how):
    victim = work / "victim.mp4"
    victim.write_bytes((work / "a.mp4").read_bytes())
    before = victim.read_bytes()
    output = {"same path": "victim.mp4", "./path": "./victim.mp4", "stdin": "victim.json"}.get(how, "out.json")
    if how == "symlink":
        (work / output).unlink(missing_ok=True)
        (work / output).symlink_to("victim.mp4")
    if how in ("hard link", "stdin"):
        (work / output).unlink(missing_ok=True)
        os.link(victim, work / output)
    args = ("-",) if how == "stdin" else ("a.mp4", "victim.mp4")
    result = run(*PREDICT, *args, "-o", output, input="a.mp4\nvictim.mp4\n")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith(f"error: --output {output} ")
    assert victim.read_bytes() == before
    (work / output).unlink(missing_ok=True)
    victim.unlink(missing_ok=True)


def test_an_input_given_twice_as_output_is_refused_even_when_missing(run, work):
    result = run(*PREDICT, "a.mp4", "gone.mp4", "-o", "gone.mp4")
    assert result.exit_code == 2
    one_error_line(result)
    assert not (work / "gone.mp4").exists()


# --------------------------------------------------------------------------- 3: terminals


def test_table_shows_hostile_names_and_labels_escaped_and_markup_literally(run):
    names = [ESC_NAME, "[bold]x.mp4", "[/bold]y.mp4", "lf\nname.mp4", "\x1b]missing\x07.mp4"]
    result = run(*PREDICT, *names, "--format", "table", "-k", str(len(LABELS)))
    assert result.exit_code == 1
    assert not CONTROL.search(result.stdout) and "\x1b" not in result.stdout
    for shown in (
        "clr\\x1b[2J\\x1b]0;pwned\\x07.mp4",
        "[bold]x.mp4",
        "[/bold]y.mp4",
        "lf\\nname.mp4",
        "[bold]b",
    ):
        assert shown in result.stdout
    assert result.stderr == "error: \\x1b]missing\\x07.mp4: file not found\n"


def test_jsonl_keeps_the_exact_names(run):
    result = run(*PREDICT, ESC_NAME, "lf\nname.mp4", "-k", str(len(LABELS)))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in records] == [ESC_NAME, "lf\nname.mp4"]
    assert sorted(item["label"] for item in records[0]["labels"]) == sorted(LABELS)


def test_error_lines_are_escaped_whatever_the_error(run, monkeypatch):
    from vidclass.cli import common

    def refuse(model):
        raise VidclassError("model \x1b[2J\x1b]0;x\x07 not here")

    monkeypatch.setattr(common, "load_classifier", refuse)
    monkeypatch.setattr("vidclass.cli.predict.load_classifier", refuse)
    result = run(*PREDICT, "a.mp4")
    assert result.exit_code == 2
    assert result.stderr == "error: model \\x1b[2J\\x1b]0;x\\x07 not here\n"


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_colour_console_prints_only_its_own_escape_codes(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    tty = FakeTTY()
    table = Table(title="t\x1b]0;title\x07")
    table.add_column("[bold]name")
    table.add_row("x\x1b[2J\u202egnp.mp4")
    console = make_console(tty)
    console.print(table)
    console.print("line\x1b[31m")
    text = SGR.sub("", tty.getvalue())
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "t\\x1b]0;title\\x07" in text and "[bold]name" in text
    assert "x\\x1b[2J\\u202egnp.mp4" in text and "line\\x1b[31m" in text


def test_progress_bar_shows_names_literally(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    messages = Messages()
    with messages.progress(2, True, "[red]model") as tracker:
        tracker.current("[bold]odd\x1b[2J.mp4")
        tracker.advance()
    text = SGR.sub("", tty.getvalue())
    assert "[bold]odd\\x1b[2J.mp4" in text and "[red]model" in text
    assert "\x1b[2J" not in text


# --------------------------------------------------------------------------- 4: CSV


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_cells_that_start_a_formula_get_a_quote(run):
    result = run(*PREDICT, "--format", "csv", "--scores", "-k", "1", "--", *FORMULA_NAMES)
    assert result.exit_code == 0, result.stderr
    rows = read_csv(result.stdout_bytes.decode())
    assert rows[0][10:] == [
        "'=cmd|' /C calc'!A0",
        "'+x",
        "'-1",
        "'@sum",
        "[bold]b",
        "''q",
    ]
    assert [row[0] for row in rows[1:]] == [f"'{name}" for name in FORMULA_NAMES]
    for row in rows[1:]:
        assert row[2] == row[4].split(":")[0]  # label and labels: the same guarded cell start
        assert not row[2].startswith(("=", "+", "-", "@", "\t", "\r"))
        assert len(row) == 10 + len(LABELS)


def test_csv_line_breaks_in_names_round_trip_as_one_row(run):
    names = [*BREAK_NAMES, "a.mp4", *BREAK_NAMES[:2], "a.mp4", ESC_NAME, "cr\rname.mp4"]
    assert len(names) == 10
    result = run(*PREDICT, *names, "--format", "csv", "-k", "1")
    assert result.exit_code == 0, result.stderr
    rows = read_csv(result.stdout_bytes.decode())  # click's .stdout turns CRLF into LF
    assert len(rows) == 11
    assert [row[0] for row in rows[1:]] == names


def test_csv_on_a_terminal_is_escaped(monkeypatch):
    tty = FakeTTY()
    writer = WRITERS["csv"](tty, {"labels": ["walk"]})
    writer.begin()
    writer.write(Prediction(path="x\x1b[2J.mp4", labels=[("=walk", 0.5)], class_names=("walk",)))
    assert "\x1b" not in tty.getvalue()
    assert read_csv(tty.getvalue())[1][:3] == ["x\\x1b[2J.mp4", "true", "'=walk"]


def test_csv_cell_rules():
    for text in ("=1+1", "+1", "-1", "@a", "\tx", "\rx", "'x"):
        assert csv_cell(text) == "'" + text
    for text in ("a=1", "1", "", " =x", "é", "a\nb"):
        assert csv_cell(text) == text
    assert csv_cell(None) == "" and csv_cell(3) == "3"
    assert csv_row(["a,b", 'q"', "c\rd", "-x", 1.5]) == '"a,b","q""",' + '"c\rd",' + "'-x,1.5\n"


def test_eval_report_csvs_guard_labels_and_keep_line_breaks(tmp_path):
    labels = ["=SUM(A1)", "-1", "cr\rname", "plain"]
    per_class = [
        {"label": label, "support": 1, "correct": 1, "accuracy": 1.0, "top5_accuracy": None}
        | {"predicted": 1, "precision": float("nan"), "failed": 0, "missing": 0}
        for label in labels
    ]
    metrics = {"per_class": per_class, "confusion": {"labels": labels, "matrix": [[1, 0, 0, 0]] * 4}}
    rows = read_csv(per_class_csv(metrics))
    assert [row[0] for row in rows[1:]] == ["'=SUM(A1)", "'-1", "cr\rname", "plain"]
    assert rows[1] == ["'=SUM(A1)", "1", "1", "1.000000", "", "1", "", "0", "0"]
    confusion = read_csv(confusion_csv(metrics))
    assert confusion[0] == ["true \\ predicted", "'=SUM(A1)", "'-1", "cr\rname", "plain"]
    assert [row[0] for row in confusion[1:]] == ["'=SUM(A1)", "'-1", "cr\rname", "plain"]
    assert len(confusion) == 5


def test_report_command_on_hostile_labels_and_paths(tmp_path, monkeypatch):
    labels = ["=SUM(A1)", "\x1b[2Jclr", "[bold]b"]
    head = {
        "type": "header",
        "format": "vidclass-eval",
        "version": 1,
        "model": {"name": "m\x1b]0;t\x07", "source": "m", "labels": labels, "fingerprint": "0"},
        "protocol": {"clips": 1, "crops": 1, "aggregate": "softmax"},
        "preprocessing": {"num_frames": 8},
        "top_k": 5,
        "dataset": {"root": "/d\x1b[2J", "layout": "folders", "evaluated": 3},
        "limit": None,
        "shard": None,
    }

    def record(key, true, top, status="scored", error=None):
        return {
            "id": key,
            "path": key,
            "status": status,
            "true_label": true,
            "dataset_label": true,
            "correct": None if status != "scored" else top == true,
            "labels": [] if status != "scored" else [{"label": top, "score": 0.9}],
            "seconds": 0.1,
            "error": error,
        }

    lines = [head, record("x1", labels[0], labels[1]), record("x2", labels[1], labels[1])]
    lines.append(record("bad\x1b[2J.mp4", labels[2], None, "failed", "boom\x1b]0;t\x07"))
    pred = tmp_path / "p.jsonl"
    pred.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = cli_in(tmp_path, monkeypatch)
    result = run("report", str(pred), "--format", "table", "-o", "out")
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    for shown in ("\\x1b[2Jclr", "bad\\x1b[2J.mp4", "boom\\x1b]0;t\\x07", "/d\\x1b[2J", "m\\x1b]0;t\\x07"):
        assert shown in result.stdout
    assert "\x1b" not in result.stderr
    per_class = read_csv((tmp_path / "out" / "per_class.csv").read_bytes().decode())
    assert [row[0] for row in per_class[1:]] == ["'=SUM(A1)", "\x1b[2Jclr", "[bold]b"]


def test_models_table_escapes_model_file_names(run, work):
    weights = work / "weights"
    weights.mkdir(exist_ok=True)
    (weights / "evil\x1b[2J.safetensors").write_bytes((work / "model.safetensors").read_bytes())
    result = run("models", "--format", "table")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "evil\\x1b[2J.safetensors" in result.stdout


# --------------------------------------------------------------------------- 9: no NaN


def test_no_writer_writes_nan_or_infinity():
    nan, inf = float("nan"), float("inf")
    broken = Prediction(
        path="x.mp4",
        labels=[("walk", nan), ("run", inf)],
        scores=(nan, inf),
        views=1,
        duration=nan,
        seconds=nan,
        class_names=("walk", "run"),
    )

    def refuse(name):
        raise AssertionError(f"{name} in JSON")

    model = {"name": "m", "labels": ["walk", "run"]}
    for fmt, writer_class in WRITERS.items():
        stream = io.StringIO()
        writer = writer_class(stream, model, scores=True)
        writer.begin()
        writer.write(broken)
        writer.end()
        text = stream.getvalue()
        assert not re.search(r"nan|inf", text, re.IGNORECASE), (fmt, text)
        if fmt == "jsonl":
            record = json.loads(text, parse_constant=refuse)
            assert record["labels"] == [{"label": "walk", "score": None}, {"label": "run", "score": None}]
            assert record["scores"] == {"walk": None, "run": None}
            assert record["duration"] is None and record["seconds"] is None
        if fmt == "json":
            assert json.loads(text, parse_constant=refuse)["results"][0]["scores"] == {"walk": None, "run": None}
        if fmt == "csv":
            row = read_csv(text)[1]
            assert row[3] == "" and row[4] == "walk:;run:" and row[7:9] == ["", ""] and row[10:] == ["", ""]


def test_metrics_json_has_null_for_non_finite_numbers(tmp_path):
    from vidclass.evaluation.metrics import compute_metrics

    metrics = compute_metrics([], ["a", "b"])
    metrics.update({"model": {"name": "toy"}, "top1": math.nan, "mean_class_accuracy": math.inf})
    write_reports(metrics, tmp_path)
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["top1"] is None and json.loads(text)["mean_class_accuracy"] is None


# --------------------------------------------------------------------------- 12: a full disk


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "table"])
def test_output_to_a_full_device_is_one_line_and_exit_2(run, fmt):
    result = run(*PREDICT, "a.mp4", "a.mp4", "--format", fmt, "-o", "/dev/full")
    assert result.exit_code == 2
    assert one_error_line(result).startswith("error: --output /dev/full: ")


def vidclass_process(work: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "NO_COLOR")}
    return subprocess.run(
        [sys.executable, "-m", "vidclass", *args], cwd=work, env=env, timeout=120, check=False, **kwargs
    )


@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_stdout_on_a_full_disk_is_one_line_and_exit_2(work, fmt):
    with open("/dev/full", "w") as full:
        proc = vidclass_process(work, *PREDICT, "a.mp4", "a.mp4", "-f", fmt, stdout=full, stderr=subprocess.PIPE)
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, stderr
    assert len(stderr.splitlines()) == 1 and stderr.startswith("error: stdout: ")


def test_a_closed_pipe_stays_quiet(work):
    read, write = os.pipe()
    os.close(read)  # like `| head -1` that has already gone: the first write meets EPIPE
    try:
        proc = vidclass_process(work, *PREDICT, "a.mp4", "a.mp4", stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert proc.stderr.decode() == ""
    assert proc.returncode == 0  # the reader wanted no more: no failed input (issue 14)


def test_a_streamed_file_is_cut_back_to_whole_records_when_writing_fails(tmp_path):
    out = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError), open_results(str(out)) as stream:
        stream.write('{"a": 1}\n')
        stream.flush()
        stream.write('{"b": 2, "torn')
        stream.raw.flush()  # the torn part reached the file before the failure
        raise RuntimeError("the disk filled up")
    assert out.read_text() == '{"a": 1}\n'


# --------------------------------------------------------------------------- 13: json replaced whole


SIGTERM_SCRIPT = """
import pathlib, sys, time
from vidclass.inference import Predictor
from vidclass.cli.main import main

def hold(self, batch):
    pathlib.Path("running").write_text("yes")
    time.sleep(300)

Predictor.forward = hold
main(sys.argv[1:], prog_name="vidclass")
"""


def test_sigterm_mid_run_leaves_the_old_json_file_byte_identical(work):
    old = work / "x.json"
    old.write_bytes(b'{"results": ["from an earlier run"]}\n')
    before = old.read_bytes()
    (work / "running").unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "NO_COLOR")}
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGTERM_SCRIPT, *PREDICT, "a.mp4", "-o", "x.json"],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (work / "running").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "predict did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143  # handled since issue 14: 128 + SIGTERM, after the clean-up
    finally:
        proc.kill()
    assert old.read_bytes() == before
    assert list(work.glob("x.json.*.partial")) == []


def test_a_completed_run_replaces_the_json_file_and_keeps_its_mode(run, work):
    out = work / "y.json"
    out.write_text("old\n")
    out.chmod(0o640)
    link = work / "y-link.json"
    link.unlink(missing_ok=True)
    link.symlink_to("y.json")
    result = run(*PREDICT, "a.mp4", "-o", "y-link.json")
    assert result.exit_code == 0, result.output
    assert [r["path"] for r in json.loads(out.read_text())["results"]] == ["a.mp4"]
    assert link.is_symlink() and stat.S_IMODE(out.stat().st_mode) == 0o640
    assert not list(work.glob("y.json.*"))


def test_ctrl_c_still_writes_the_finished_results_to_a_json_file(run, work, monkeypatch):
    original, calls = Predictor.forward, []

    def interrupt(self, batch):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Predictor, "forward", interrupt)
    result = run(*PREDICT, "a.mp4", "a.mp4", "-b", "1", "-o", "z.json")
    assert result.exit_code == 130
    assert [r["path"] for r in json.loads((work / "z.json").read_text())["results"]] == ["a.mp4"]
    assert result.stderr == "error: interrupted\n"
