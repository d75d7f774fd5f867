"""``vidclass eval`` end to end on small generated datasets with a micro model: layouts, exit
codes, JSON, reports, shards merged by ``vidclass report``, resume after SIGKILL, torchrun."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import vidclass
from tests.videos import tile_pattern as pattern
from tests.videos import write_video
from vidclass.cli.main import main
from vidclass.evaluation import evaluate, report, result_fields
from vidclass.inference import Predictor

MODEL_LABELS = ["walk", "run", "jump", "swim", "climb", "sit"]
FOLDERS = ["Jump", "run", "walk"]  # "Jump" matches the model's "jump" ignoring case
FAST = ("--clips", "1", "--crops", "1")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run far faster on one thread than on two busy cores; restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    vidclass.save_model(vidclass.create_model("vivit-micro", labels=MODEL_LABELS, seed=0), root / "model.safetensors")
    seed = 0
    for label in FOLDERS:
        for i in range(4):
            seed += 1
            write_video(root / "ds" / label / f"v{i}.mp4", num_frames=10, width=64, height=64, pattern=pattern(seed))
    return root


def run(work: Path, *args: str):
    """``vidclass ARGS`` in ``work``, with no default model and no colour settings."""
    cwd = os.getcwd()
    os.chdir(work)
    try:
        env = {"VIDCLASS_MODEL": None, "NO_COLOR": None, "FORCE_COLOR": None}
        return CliRunner().invoke(main, list(args), env=env)
    finally:
        os.chdir(cwd)


def eval_args(*args: str) -> tuple[str, ...]:
    return ("eval", "--model", "model.safetensors", "--device", "cpu", *args)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_class_folders_end_to_end(work, tmp_path):
    out = tmp_path / "out"
    result = run(work, *eval_args("ds", *FAST, "-o", str(out), "--format", "json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["command"] == "eval" and doc["counts"] == {
        "samples": 12,
        "scored": 12,
        "failed": 0,
        "missing": 0,
        "ignored": 0,
        "pending": 0,
    }
    assert doc["dataset"]["layout"] == "folders" and doc["model"]["num_labels"] == 6
    assert doc["top5"] is not None  # 6 model classes
    assert "matched the model's after ignoring case" in result.stderr
    assert sorted(os.listdir(out)) == [
        "confusion.csv",
        "confusion.png",
        "metrics.json",
        "per_class.csv",
        "predictions.jsonl",
    ]
    assert json.loads((out / "metrics.json").read_text()) == doc
    head, *records = lines(out / "predictions.jsonl")
    assert head["type"] == "header" and head["model"]["labels"] == MODEL_LABELS
    assert [r["id"] for r in records] == sorted(r["id"] for r in records)
    assert {r["true_label"] for r in records} == {"jump", "run", "walk"}
    assert {r["dataset_label"] for r in records} == {"Jump", "run", "walk"}
    # Each record holds what the Predictor says about that video: top-5 labels, exact scores.
    predictor = Predictor(vidclass.load_model(work / "model.safetensors"), device="cpu", top_k=5, clips=1, crops=1)
    for record in records[:2]:
        expected = predictor.predict(work / "ds" / record["path"])
        assert [item["label"] for item in record["labels"]] == [label for label, _ in expected.labels]
        assert [item["score"] for item in record["labels"]] == pytest.approx([s for _, s in expected.labels], abs=1e-6)
        assert record["correct"] == (expected.label == record["true_label"])
        assert record["views"] == 1 and "scores" not in record
    # The metrics are those of the records: report on the file gives the same.
    assert result_fields(report([out / "predictions.jsonl"])) == result_fields(doc)
    top1 = sum(r["correct"] for r in records) / 12
    assert doc["top1"] == pytest.approx(top1)
    # A table on request; the library returns the same document.
    table = run(work, *eval_args("ds", *FAST, "--format", "table"))
    assert table.exit_code == 0 and "top-1" in table.stdout and "mean class accuracy" in table.stdout
    library = evaluate(work / "ds", work / "model.safetensors", device="cpu", clips=1, crops=1)
    assert result_fields(library) == result_fields(doc)


def test_annotation_file_missing_failed_and_unknown_labels(work, tmp_path):
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    listing = tmp_path / "val.txt"
    ds = work / "ds"
    listing.write_text(f"{ds}/run/v0.mp4 run\n{ds}/walk/v1.mp4 WALK\ncorrupt.mp4 swim\ngone.mp4 jump\n")
    outside = "--allow-outside-root"  # the absolute paths lead out of the listing's folder
    result = run(
        work, *eval_args(str(listing), *FAST, outside, "--format", "json", "--save-scores", "-o", str(tmp_path / "o"))
    )
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert (doc["counts"]["scored"], doc["counts"]["failed"], doc["counts"]["missing"]) == (2, 1, 1)
    assert doc["missing"] == ["gone.mp4"] and doc["failed"][0]["path"] == "corrupt.mp4"
    assert "1 listed video(s) are not on disk (e.g. gone.mp4)" in result.stderr
    assert "error: corrupt.mp4: " in result.stderr
    records = {r["id"]: r for r in lines(tmp_path / "o" / "predictions.jsonl")[1:]}
    assert records["gone.mp4"]["status"] == "missing" and records["corrupt.mp4"]["status"] == "failed"
    scored = records[f"{ds}/run/v0.mp4"]
    assert list(scored["scores"]) == MODEL_LABELS and sum(scored["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    # Labels the model lacks: an error that lists them, or skipped and counted.
    listing.write_text(f"{ds}/run/v0.mp4 run\n{ds}/walk/v1.mp4 dance\n{ds}/walk/v2.mp4 fly\n")
    result = run(work, *eval_args(str(listing), *FAST, outside))
    assert result.exit_code == 2 and result.stdout == ""
    assert "2 dataset label(s) not among the model's labels: 'dance', 'fly'" in result.stderr
    result = run(work, *eval_args(str(listing), *FAST, outside, "--ignore-unknown", "--format", "json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["counts"]["ignored"] == 2 and doc["unknown_labels"] == {"dance": 1, "fly": 1}
    assert doc["counts"]["scored"] == 1


def test_usage_errors_exit_2(work, tmp_path, monkeypatch):
    monkeypatch.setattr(vidclass.checkpoints.sources, "weights_dir", lambda: work / "weights")  # no bundled model
    for args, message in (
        (eval_args("nowhere"), "no such file or directory"),
        (eval_args("ds", "--shard", "2/2"), "I must be below N=2"),
        (eval_args("ds", "--resume"), "--resume needs --output"),
        (("eval", "ds"), "no model given"),
        (eval_args("ds", "--limit", "0"), "0 is not in the range"),
    ):
        result = run(work, *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and result.stdout == ""
    out = tmp_path / "o"
    assert run(work, *eval_args("ds", *FAST, "--limit", "3", "-o", str(out))).exit_code == 0
    again = run(work, *eval_args("ds", *FAST, "--limit", "3", "-o", str(out)))
    assert again.exit_code == 2 and "add --resume to continue it, or --overwrite" in again.stderr
    assert run(work, *eval_args("ds", *FAST, "--limit", "3", "-o", str(out), "--overwrite")).exit_code == 0
    assert len(lines(out / "predictions.jsonl")) == 4
    # A resume must be the same evaluation: another view protocol is refused.
    other = run(work, *eval_args("ds", "--clips", "2", "--crops", "1", "--limit", "3", "-o", str(out), "--resume"))
    assert other.exit_code == 2 and "different protocol" in other.stderr


def test_limit_is_stratified_and_views_are_overridable(work):
    result = run(work, *eval_args("ds", "--clips", "2", "--crops", "1", "--limit", "6", "--format", "json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["counts"]["samples"] == 6 and doc["dataset"]["limit"] == 6
    assert [row["support"] for row in doc["per_class"] if row["support"]] == [2, 2, 2]
    assert doc["protocol"] == {"clips": 2, "crops": 1, "aggregate": "softmax"}


def test_two_shards_merged_by_report_equal_the_unsharded_run(work, tmp_path):
    whole = run(work, *eval_args("ds", *FAST, "--format", "json", "-o", str(tmp_path / "all")))
    shards = [run(work, *eval_args("ds", *FAST, "--shard", f"{i}/2", "-o", str(tmp_path / f"s{i}"))) for i in (0, 1)]
    assert whole.exit_code == 0 and all(s.exit_code == 0 for s in shards)
    sizes = [len(lines(tmp_path / f"s{i}" / "predictions.jsonl")) - 1 for i in (0, 1)]
    assert sizes == [6, 6]
    merged = run(
        work,
        "report",
        str(tmp_path / "s0" / "predictions.jsonl"),
        str(tmp_path / "s1" / "predictions.jsonl"),
        "--format",
        "json",
    )
    assert merged.exit_code == 0, merged.output
    assert result_fields(json.loads(merged.stdout)) == result_fields(json.loads(whole.stdout))
    # Workers overlap videos; the results are the same.
    parallel = run(work, *eval_args("ds", *FAST, "--workers", "3", "--format", "json"))
    assert result_fields(json.loads(parallel.stdout)) == result_fields(json.loads(whole.stdout))


def test_resume_drops_a_torn_line_and_finishes_the_rest(work, tmp_path):
    out = tmp_path / "o"
    full = run(work, *eval_args("ds", *FAST, "--format", "json", "-o", str(out)))
    data = (out / "predictions.jsonl").read_bytes().split(b"\n")
    # Keep the header and 5 records, then half of the 6th: what a kill mid-write leaves.
    (out / "predictions.jsonl").write_bytes(b"\n".join(data[:6]) + b"\n" + data[6][: len(data[6]) // 2])
    resumed = run(work, *eval_args("ds", *FAST, "--format", "json", "-o", str(out), "--resume"))
    assert resumed.exit_code == 0, resumed.output
    assert "dropped a torn last line" in resumed.stderr and "5 of 12 videos already done, 7 to run" in resumed.stderr
    assert result_fields(json.loads(resumed.stdout)) == result_fields(json.loads(full.stdout))
    records = lines(out / "predictions.jsonl")[1:]
    assert len(records) == 12 and len({r["id"] for r in records}) == 12
    again = run(work, *eval_args("ds", *FAST, "--format", "json", "-o", str(out), "--resume"))
    assert json.loads(again.stdout)["throughput"]["videos"] == 0 and len(lines(out / "predictions.jsonl")) == 13


def _subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "FORCE_COLOR")}
    env["NO_COLOR"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


def test_sigkill_at_random_points_then_resume_gives_identical_metrics(work, tmp_path):
    args = [sys.executable, "-m", "vidclass", *eval_args("ds", "--clips", "3", "--crops", "3", "-q")]
    baseline = run(work, *eval_args("ds", "--clips", "3", "--crops", "3", "--format", "json"))
    out = tmp_path / "o"
    pred = out / "predictions.jsonl"
    rng = random.Random(1234)
    kills = []
    for target in sorted(rng.sample(range(1, 9), 3)):  # kill once this many records are written
        proc = subprocess.Popen(
            [*args, "-o", str(out), "--resume"],
            cwd=work,
            env=_subprocess_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                if pred.exists() and pred.read_bytes().count(b"\n") - 1 >= target:
                    time.sleep(rng.random() * 0.01)  # anywhere in the next video, or mid-write
                    break
                time.sleep(0.002)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        done = pred.read_bytes().count(b"\n") - 1
        kills.append(done - sum(kills))
        assert proc.returncode == -signal.SIGKILL, "the run finished before it was killed"
    assert 0 < sum(kills) < 12
    final = subprocess.run(
        [*args, "-o", str(out), "--resume", "--format", "json"],
        cwd=work,
        env=_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert final.returncode == 0, final.stderr
    assert result_fields(json.loads(final.stdout)) == result_fields(json.loads(baseline.stdout))
    records = [json.loads(line) for line in pred.read_text().splitlines()[1:]]  # every line whole JSON
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == 12  # nothing lost, nothing twice


def test_torchrun_two_cpu_processes_equal_one_and_resume(work, tmp_path):
    single = result_fields(json.loads(run(work, *eval_args("ds", *FAST, "--format", "json")).stdout))
    out = tmp_path / "dist"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd = [*torchrun, "-m", "vidclass", *eval_args("ds", *FAST, "--format", "json", "-o", str(out))]
    proc = subprocess.run(cmd, cwd=work, env=_subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)  # only rank 0 prints
    assert result_fields(doc) == single
    assert doc["throughput"]["processes"] == 2
    records = lines(out / "predictions.jsonl")[1:]
    assert len(records) == len({r["id"] for r in records}) == 12
    # Resume works the same: cut the file to 4 records and a torn fifth, run again.
    data = (out / "predictions.jsonl").read_bytes().split(b"\n")
    (out / "predictions.jsonl").write_bytes(b"\n".join(data[:5]) + b"\n" + data[5][:40])
    proc = subprocess.run(
        [*cmd, "--resume"], cwd=work, env=_subprocess_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "dropped a torn last line" in proc.stderr and "4 of 12 videos already done, 8 to run" in proc.stderr
    assert result_fields(json.loads(proc.stdout)) == single
    records = lines(out / "predictions.jsonl")[1:]
    assert len(records) == len({r["id"] for r in records}) == 12


def test_torchrun_planning_error_stops_every_rank(work, tmp_path):
    """Rank 0 plans alone; when planning fails, every rank stops (none waits for work) and
    rank 0 prints the one error line."""
    out = tmp_path / "taken"
    out.mkdir()
    (out / "predictions.jsonl").write_text('{"type": "header"}\n')
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd = [*torchrun, "-m", "vidclass", *eval_args("ds", *FAST, "-o", str(out))]
    proc = subprocess.run(cmd, cwd=work, env=_subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0, proc.stderr[-3000:]  # each rank exits 2; torchrun reports a failed child
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "already holds results" in errors[0], proc.stderr[-3000:]
    assert proc.stdout == ""
    assert (out / "predictions.jsonl").read_text() == '{"type": "header"}\n'  # left as it was
