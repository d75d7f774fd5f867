"""Hostile inputs to ``eval``, ``report`` and ``train``: an --output folder that links to the
dataset's files, annotation paths that lead out of the dataset, option values no run can use,
hand-edited predictions files, and "files" that are FIFOs, devices or endless lines."""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vidclass
from tests.cli import cli_in
from tests.videos import write_video
from vidclass.data import DatasetError, load_dataset
from vidclass.evaluation import EvalError, evaluate
from vidclass.inference import OptionsError, RunOptions

LABELS = ["walk", "run", "jump", "swim", "climb", "sit"]
FAST = ("--clips", "1", "--crops", "1", "--device", "cpu")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A micro model, a two-video dataset and one video outside it."""
    root = tmp_path_factory.mktemp("hostile")
    vidclass.save_model(vidclass.create_model("vivit-micro", labels=LABELS, seed=0), root / "model.safetensors")
    write_video(root / "ds" / "walk" / "a.mp4", num_frames=8, width=32, height=32)
    write_video(root / "ds" / "run" / "b.mp4", num_frames=8, width=32, height=32)
    write_video(root / "outside" / "c.mp4", num_frames=8, width=32, height=32)
    return root


@pytest.fixture
def cli(work, monkeypatch):
    return cli_in(work, monkeypatch)


def dataset(work: Path, where: Path, listing: str | None = None) -> Path:
    """A copy of the dataset in ``where``, with ``list.txt`` holding ``listing`` if given."""
    ds = where / "ds"
    shutil.copytree(work / "ds", ds)
    shutil.copytree(work / "outside", where / "outside")
    if listing is not None:
        (ds / "list.txt").write_text(listing)
    return ds


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "FORCE_COLOR")}
    return {**env, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}


def run_bounded(*args: str, cwd: Path, memory_gb: int = 6, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m vidclass ARGS`` in a child whose address space is capped at ``memory_gb``
    (importing torch takes about 3.5 GB of it): reading without bound fails there instead of
    exhausting the machine. ``timeout`` is generous: it only turns a hang into a failure."""
    limit = memory_gb * 1024**3

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "vidclass", *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap,
    )


# --------------------------------------------------------------------------- eval --output over the dataset


def test_eval_output_that_links_to_a_dataset_file_is_refused_before_writing(work, tmp_path, cli):
    ds = dataset(work, tmp_path, "walk/a.mp4 walk\nrun/b.mp4 run\n")
    video, listing = ds / "walk" / "a.mp4", ds / "list.txt"
    video_bytes, listing_bytes = video.read_bytes(), listing.read_bytes()
    # predictions.jsonl a symbolic link to a video: --overwrite would truncate it, --resume append.
    out = tmp_path / "out"
    out.mkdir()
    (out / "predictions.jsonl").symlink_to(video)
    for flag in ("--overwrite", "--resume"):
        result = cli("eval", str(ds), "-m", "model.safetensors", *FAST, "-o", str(out), flag)
        assert result.exit_code == 2 and result.stdout == ""
        (line,) = error_lines(result.stderr)
        assert "predictions.jsonl" in line and str(video) in line
        assert video.read_bytes() == video_bytes and os.listdir(out) == ["predictions.jsonl"]
    # A report file a hard link to the annotation file (the same inode): refused as well.
    linked = tmp_path / "linked"
    linked.mkdir()
    os.link(listing, linked / "metrics.json")
    result = cli("eval", str(ds), "-m", "model.safetensors", *FAST, "-o", str(linked))
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = error_lines(result.stderr)
    assert "metrics.json" in line and str(listing) in line
    assert listing.read_bytes() == listing_bytes and os.listdir(linked) == ["metrics.json"]
    # An output folder inside the dataset, its files new: nothing of the dataset's is at stake.
    result = cli("eval", str(ds), "-m", "model.safetensors", *FAST, "-o", str(ds / "results"), "-f", "json")
    assert result.exit_code == 0, result.output
    assert video.read_bytes() == video_bytes and listing.read_bytes() == listing_bytes


# --------------------------------------------------------------------------- paths outside the dataset root


@pytest.mark.parametrize(
    "path",
    ["../outside/c.mp4", "walk/../../outside/c.mp4", "{abs}/outside/c.mp4", "/etc/passwd"],
)
def test_annotation_paths_outside_the_root_are_refused_with_their_line(work, tmp_path, path):
    path = path.format(abs=tmp_path)
    ds = dataset(work, tmp_path, f"walk/a.mp4 walk\n{path} run\n")
    with pytest.raises(DatasetError) as caught:
        load_dataset(ds)
    assert str(caught.value).startswith(f"{ds / 'list.txt'}:line 2: {path!r} leads outside the dataset root")
    allowed = load_dataset(ds, allow_outside_root=True)
    assert [s.label for s in allowed.listed] == ["walk", "run"]
    assert allowed.listed[1].path == os.path.normpath(os.path.join(ds, path))


def test_eval_and_train_refuse_outside_paths_and_eval_reads_them_when_allowed(work, tmp_path, cli):
    ds = dataset(work, tmp_path, "walk/a.mp4 walk\n../outside/c.mp4 run\n")
    result = cli("eval", str(ds), "-m", "model.safetensors", *FAST, "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"error: {ds / 'list.txt'}:line 2: '../outside/c.mp4' leads outside the dataset root")
    assert not (tmp_path / "out").exists()
    result = cli("eval", str(ds), "-m", "model.safetensors", *FAST, "--allow-outside-root", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["scored"] == 2
    library = evaluate(ds, work / "model.safetensors", allow_outside_root=True, device="cpu", clips=1, crops=1)
    assert library["counts"]["scored"] == 2
    with pytest.raises(DatasetError, match="line 2"):
        evaluate(ds, work / "model.safetensors", device="cpu", clips=1, crops=1)
    # train reads datasets through the same loader, with the same default.
    result = cli("train", str(ds), "-o", str(tmp_path / "trained"), "-m", "vivit-micro", "--epochs", "1", "-q")
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = error_lines(result.stderr)
    assert f"{ds / 'list.txt'}:line 2: '../outside/c.mp4' leads outside the dataset root" in line
    assert not (tmp_path / "trained").exists()


def test_one_video_is_one_video_however_its_path_is_spelled(work, tmp_path):
    ds = tmp_path / "ds"
    spellings = ["walk/a.mp4", "./walk/a.mp4", "walk/../walk/a.mp4", "walk//a.mp4", f"{ds}/walk/a.mp4"]
    dataset(work, tmp_path, "".join(f"{p} walk\n" for p in spellings) + "run/b.mp4 run\n")
    loaded = load_dataset(ds)
    assert [(s.key, s.label) for s in loaded.listed] == [("walk/a.mp4", "walk"), ("run/b.mp4", "run")]
    assert loaded.duplicates == len(spellings) - 1
    (ds / "list.txt").write_text("walk/a.mp4 walk\nwalk/../walk/a.mp4 run\n")
    with pytest.raises(DatasetError, match="list.txt:line 2: 'walk/../walk/a.mp4' is listed with label 'run'"):
        load_dataset(ds)


def test_a_symbolic_link_inside_the_root_is_followed_wherever_it_points(work, tmp_path):
    ds = dataset(work, tmp_path)
    (ds / "walk" / "linked.mp4").symlink_to(tmp_path / "outside" / "c.mp4")
    folders = load_dataset(ds)
    assert [s.key for s in folders.samples] == ["run/b.mp4", "walk/a.mp4", "walk/linked.mp4"]
    (ds / "list.txt").write_text("walk/linked.mp4 walk\n")
    (sample,) = load_dataset(ds).samples
    assert sample.path == str(ds / "walk" / "linked.mp4") and os.path.isfile(sample.path)


# --------------------------------------------------------------------------- option values


# Past vidclass.defaults' documented bounds: MAX_CLIPS 32, MAX_BATCH_SIZE 256, MAX_TOP_K 1000,
# MAX_WORKERS 64, MAX_TIMEOUT a day; and what is no number of seconds at all.
OUT_OF_RANGE = [
    ("--timeout", "inf"),
    ("--timeout", "nan"),
    ("--timeout", "1e400"),
    ("--timeout", "86401"),
    ("--clips", "100000000000000000000"),
    ("--clips", "33"),
    ("--batch-size", "257"),
    ("--top-k", "1001"),
    ("--workers", "65"),
]


@pytest.mark.parametrize("command", ["eval", "predict"])
@pytest.mark.parametrize(("option", "value"), OUT_OF_RANGE, ids=[" ".join(o) for o in OUT_OF_RANGE])
def test_option_values_no_run_can_use_are_refused_when_parsed(work, cli, command, option, value):
    target = "ds" if command == "eval" else "ds/walk/a.mp4"
    result = cli(command, target, "-m", "model.safetensors", "--device", "cpu", option, value)
    assert result.exit_code == 2 and result.stdout == ""
    assert option in result.stderr and "walk/a.mp4" not in result.stderr


@pytest.mark.parametrize(
    "changes",
    [
        {"timeout": math.inf},
        {"timeout": math.nan},
        {"timeout": -1.0},
        {"clips": 10**20},
        {"clips": 1e20},
        {"clips": 0},
        {"crops": 2},
        {"batch_size": 10**6},
        {"top_k": 10**6},
        {"workers": 10**4},
        {"workers": 1.5},
    ],
)
def test_run_options_hold_the_same_bounds_for_library_callers(work, changes):
    with pytest.raises(OptionsError):
        RunOptions.build(**changes)
    with pytest.raises(EvalError):  # before the model is loaded or a video read
        evaluate(work / "ds", work / "no-such-model.safetensors", **changes)


def test_the_bounds_are_one_set_of_values(work):
    from vidclass.defaults import MAX_BATCH_SIZE, MAX_CLIPS, MAX_TIMEOUT, MAX_TOP_K, MAX_WORKERS

    RunOptions.build(clips=MAX_CLIPS, batch_size=MAX_BATCH_SIZE, top_k=MAX_TOP_K, workers=MAX_WORKERS)
    RunOptions.build(timeout=MAX_TIMEOUT, crops=3)
    with pytest.raises(OptionsError):
        RunOptions.build(timeout=MAX_TIMEOUT * 2)


# --------------------------------------------------------------------------- predictions files


def header() -> dict:
    return {
        "type": "header",
        "format": "vidclass-eval",
        "version": 1,
        "model": {"name": "toy", "source": "toy.safetensors", "labels": LABELS, "fingerprint": "0123"},
        "protocol": {"clips": 1, "crops": 1, "aggregate": "softmax"},
        "preprocessing": {"num_frames": 8},
        "top_k": 5,
        "dataset": {"root": "/data", "layout": "folders", "evaluated": 3},
        "limit": None,
        "shard": None,
    }


def record(key: str, true: str = "walk") -> dict:
    return {
        "id": key,
        "path": key,
        "status": "scored",
        "true_label": true,
        "dataset_label": true,
        "correct": True,
        "labels": [{"label": "walk", "score": 0.6}, {"label": "run", "score": 0.3}],
        "seconds": 0.1,
        "error": None,
    }


EDITS = {
    "labels removed": lambda r: r.pop("labels"),
    "labels emptied": lambda r: r.update(labels=[]),
    "id a list": lambda r: r.update(id=["walk", "b.mp4"]),
    "id a number": lambda r: r.update(id=7),
    "status unknown": lambda r: r.update(status="great"),
    "true label unknown": lambda r: r.update(true_label="dance"),
    "true label removed": lambda r: r.pop("true_label"),
    "predicted label unknown": lambda r: r["labels"][0].update(label="dance"),
    "score not a number": lambda r: r["labels"][0].update(score="high"),
    "score NaN": lambda r: r["labels"][0].update(score=math.nan),
    "labels an object": lambda r: r.update(labels={"walk": 1.0}),
    "seconds a string": lambda r: r.update(seconds="slow"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_report_names_the_file_and_line_of_a_hand_edited_record(tmp_path, cli, edit):
    middle = record("walk/b.mp4")
    EDITS[edit](middle)
    path = tmp_path / "p.jsonl"
    lines = [header(), record("walk/a.mp4"), middle, record("walk/c.mp4")]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = cli("report", str(path), "-f", "json")
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"error: {path}:3: not a valid vidclass eval record")


def test_report_names_the_line_of_a_header_it_cannot_use(tmp_path, cli):
    broken = header()
    broken["model"]["labels"] = "walk,run"
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(broken) + "\n" + json.dumps(record("walk/a.mp4")) + "\n")
    result = cli("report", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"error: {path}:1: not a valid vidclass eval header")


def test_eval_resume_names_the_file_and_line_of_a_hand_edited_record(work, tmp_path, cli):
    ds = dataset(work, tmp_path)
    out = tmp_path / "out"
    args = ("eval", str(ds), "-m", "model.safetensors", *FAST, "-o", str(out), "-f", "json")
    assert cli(*args).exit_code == 0
    predictions = out / "predictions.jsonl"
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    for edit in ("labels removed", "id a list"):
        edited = json.loads(json.dumps(lines))
        EDITS[edit](edited[1])
        predictions.write_text("".join(json.dumps(line) + "\n" for line in edited))
        result = cli(*args, "--resume")
        assert result.exit_code == 2 and result.stdout == "", edit
        (line,) = error_lines(result.stderr)
        assert line.startswith(f"error: {predictions}:2: not a valid vidclass eval record"), edit


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")
def test_report_and_eval_refuse_a_fifo_instead_of_hanging(work, tmp_path):
    fifo = tmp_path / "p.jsonl"
    os.mkfifo(fifo)
    result = run_bounded("report", str(fifo), cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert error_lines(result.stderr) == [f"error: {fifo}: not a regular file"]
    out = tmp_path / "out"  # eval --resume with a FIFO for its predictions file
    out.mkdir()
    os.mkfifo(out / "predictions.jsonl")
    args = ("eval", "ds", "-m", "model.safetensors", *FAST, "-o", str(out), "--resume")
    result = run_bounded(*args, cwd=work, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert error_lines(result.stderr) == [f"error: {out / 'predictions.jsonl'}: not a regular file"]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_report_refuses_a_device_without_reading_it(tmp_path):
    result = run_bounded("report", "/dev/zero", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert error_lines(result.stderr) == ["error: /dev/zero: not a regular file"]


def test_a_line_too_long_to_be_a_record_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(header()) + "\n")
    with open(path, "r+b") as handle:
        handle.truncate(8 * 1024**3)  # sparse: 8 GiB of zero bytes, no newline, nothing on disk
    result = run_bounded("report", str(path), cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"error: {path}:2: a line over ")
