"""Rough edges a new user hits (issue 14, items 5 and 6): messages that say what is wrong and what
to do, each checked through a real ``python -m vidclass`` process: its exit status, its one
``error:`` line on stderr, and its parsed stdout.

- a mistyped model name or path gets a "did you mean"; the name of the bundled model's
  configuration points at the bundled model; a bad ``$VIDCLASS_MODEL`` names the variable;
- a file that is no model says what it is, a video given as a dataset says a dataset is a folder
  or an annotation file, a text file is "not a video file (text)" whatever it is called, and
  ``report`` of two models' results says what differs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import vidclass
from tests.videos import write_video
from vidclass.checkpoints import read_model_card
from vidclass.checkpoints.sources import bundled_default
from vidclass.evaluation.records import PredictionsError, check_compatible

ROOT = Path(__file__).resolve().parents[1]
NOT_FOUND = "no such model file, bundled model, directory or hub id"
MODEL_SOURCES = (
    "vidclass reads vidclass model files (.safetensors) and converts Hugging Face ViViT folders and hub ids, "
    "scenic Flax checkpoints and pytorchvideo X3D checkpoints"
)
NOT_A_DATASET = (
    "a video, not a dataset: the dataset must be a folder (of class folders) or an annotation file "
    "(to classify videos, use vidclass predict)"
)


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m vidclass ARGS`` in ``cwd``, this checkout first on the path, no model or
    colour settings of the caller's, a cache of its own; ``env`` adds variables."""
    base = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "NO_COLOR", "FORCE_COLOR")}
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT), base.get("PYTHONPATH", "")])
    base["VIDCLASS_CACHE"] = str(cwd / ".cache")
    return subprocess.run(
        [sys.executable, "-m", "vidclass", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**base, **env},
    )


def usage_error(done: subprocess.CompletedProcess[str]) -> str:
    """Exit 2, nothing on stdout, and stderr is one ``error:`` line: that line."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A folder with a video, a small model file in ``weights/``, and a results CSV."""
    work = tmp_path_factory.mktemp("work")
    write_video(work / "clip.mp4", num_frames=12, width=48, height=48)
    vidclass.save_model(
        vidclass.create_model("vivit-micro", labels=["left", "right"], seed=0), work / "model.safetensors"
    )
    (work / "weights").mkdir()
    (work / "weights" / "mymodel.safetensors").write_bytes((work / "model.safetensors").read_bytes())
    (work / "results.csv").write_text("path,label,score\nclip.mp4,left,0.9\n")
    return work


# --------------------------------------------------------------------------- 5. model name typos


@pytest.mark.parametrize(
    ("spec", "meant"),
    [
        ("vivit-tiyn", "vivit-tiny"),  # a registered configuration
        ("defualt", "default"),  # a bundled model
        ("defualt.safetensors", "default"),  # ... with the suffix
        ("weights/mymodle.safetensors", "weights/mymodel.safetensors"),  # a model file in its folder
        ("weights/mymodel", "weights/mymodel.safetensors"),  # the suffix left out (not a hub id)
    ],
)
def test_a_mistyped_model_gets_a_did_you_mean(work, spec, meant):
    done = run(work, "predict", "-m", spec, "clip.mp4")
    assert usage_error(done) == f"error: {spec}: {NOT_FOUND} (did you mean {meant}?)"


def test_the_bundled_model_s_configuration_name_points_at_the_bundled_model(work):
    config = read_model_card(bundled_default()).name  # vivit-s64-tl8at1
    done = run(work, "predict", "-m", config, "clip.mp4")
    assert usage_error(done) == (
        f"error: {config!r} is a model configuration, not a model; the bundled model 'default' is a trained "
        f"{config}: pass --model default (or no --model: it is the default)"
    )
    other = run(work, "predict", "-m", "vivit-micro", "clip.mp4")  # no bundled model has it
    assert usage_error(other) == (
        "error: 'vivit-micro' is a model configuration with no weights here; pass a model file, or make one "
        "with vidclass.create_model('vivit-micro', labels=[...]) and vidclass.save_model"
    )


@pytest.mark.parametrize("command", ["predict", "info"])
def test_a_bad_vidclass_model_variable_is_named(work, command):
    done = run(work, command, "clip.mp4", VIDCLASS_MODEL="nothere")
    assert usage_error(done) == (
        f"error: $VIDCLASS_MODEL: nothere: {NOT_FOUND}; set $VIDCLASS_MODEL to a model file or name, or unset it"
    )


def test_a_good_vidclass_model_variable_still_loads(work):
    done = run(work, "predict", "clip.mp4", "-f", "json", VIDCLASS_MODEL="model.safetensors")
    assert done.returncode == 0, done.stderr
    assert [r["ok"] for r in json.loads(done.stdout)["results"]] == [True]


# --------------------------------------------------------------------------- 6. misleading messages


def _pytorch(path: Path) -> None:
    torch.save({"weight": torch.zeros(2)}, path)


def _binary(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 4)


@pytest.mark.parametrize(
    ("name", "make", "what"),
    [
        ("results.csv", None, "a text file, not a model"),
        (
            "pytorch_model.bin",
            _pytorch,
            "a PyTorch weights file: for a Hugging Face ViViT, pass the folder that holds it and config.json",
        ),
        ("junk.ckpt", _binary, "not a model file"),
    ],
)
def test_a_file_that_is_no_model_says_what_it_is(work, name, make, what):
    if make is not None:
        make(work / name)
    done = run(work, "predict", "-m", name, "clip.mp4")
    assert usage_error(done) == f"error: {name}: {what}; {MODEL_SOURCES}"


@pytest.mark.parametrize("command", ["eval", "train"])
def test_a_video_given_as_the_dataset_says_what_a_dataset_is(work, tmp_path, command):
    args = ["-m", "model.safetensors"] if command == "eval" else ["-m", "vivit-micro", "-o", str(tmp_path / "run")]
    done = run(work, command, "clip.mp4", *args)
    assert usage_error(done) == f"error: clip.mp4: {NOT_A_DATASET}"
    assert not (tmp_path / "run").exists()


def test_a_binary_file_given_as_the_dataset_is_no_annotation_file(work):
    _binary(work / "data.bin")
    done = run(work, "eval", "data.bin", "-m", "model.safetensors")
    assert usage_error(done) == (
        "error: data.bin: not an annotation file (not UTF-8 text): the dataset must be a folder or a UTF-8 "
        "annotation file"
    )


@pytest.mark.parametrize("decoder", ["auto", "decord"])
def test_a_text_file_is_not_a_video_whatever_its_name(work, tmp_path, decoder):
    for name in ("notes.txt", ".txt", "fake.mp4"):
        (tmp_path / name).write_text("hello world\nthis is text, not a video\n")
    names = [str(tmp_path / n) for n in ("notes.txt", ".txt", "fake.mp4")]
    done = run(
        work, "predict", "-m", "model.safetensors", "--decoder", decoder, "-f", "jsonl", *names, str(work / "clip.mp4")
    )
    assert done.returncode == 1, done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {name}: not a video file (text)" for name in names
    ]
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["path"], r["ok"], r["error"]) for r in records] == [
        *[(name, False, "not a video file (text)") for name in names],
        (str(work / "clip.mp4"), True, None),
    ]


def test_a_y4m_video_whose_frames_read_as_text_is_still_a_video(work, tmp_path):
    """YUV4MPEG2: a text header, then raw frames; 'P' (0x50) pixels are printable text too."""
    frame = b"FRAME\n" + b"P" * (32 * 32 * 3 // 2)
    (tmp_path / "gray.y4m").write_bytes(b"YUV4MPEG2 W32 H32 F8:1 Ip A1:1 C420jpeg\n" + frame * 8)
    done = run(work, "info", str(tmp_path / "gray.y4m"), "-m", "model.safetensors", "-f", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["frames"] == 8


@pytest.fixture(scope="module")
def two_models_results(work, tmp_path_factory) -> tuple[Path, Path]:
    """``eval`` output folders of two models, with 2 and 3 labels, on one dataset."""
    root = tmp_path_factory.mktemp("results")
    for label in ("left", "right"):
        write_video(root / "data" / label / f"{label}.mp4", num_frames=12, width=48, height=48)
    three = vidclass.create_model("vivit-micro", labels=["left", "right", "up"], seed=1)
    vidclass.save_model(three, root / "three.safetensors")
    outputs = []
    for model, out in ((work / "model.safetensors", root / "A"), (root / "three.safetensors", root / "B")):
        done = run(root, "eval", "data", "-m", str(model), "-o", str(out), "--clips", "1", "--crops", "1", "-q")
        assert done.returncode == 0, done.stderr
        outputs.append(out)
    return outputs[0], outputs[1]


def test_report_of_two_models_says_what_differs_and_what_to_do(two_models_results):
    a, b = two_models_results
    done = run(a.parent, "report", "A", "B")
    assert usage_error(done) == (
        f"error: {Path('B', 'predictions.jsonl')}: made with a different model than {Path('A', 'predictions.jsonl')}"
        " (3 labels instead of 2); report merges the files of one evaluation: report each evaluation's files on their"
        " own"
    )
    alone = run(a.parent, "report", "A", "-f", "json")  # each on its own works
    assert alone.returncode == 0, alone.stderr
    assert json.loads(alone.stdout)["counts"]["scored"] == 2


@pytest.mark.parametrize(
    ("field", "a", "b", "shown"),
    [
        ("model.labels", ["left", "right"], ["left", "up"], 'label 2 is "up" instead of "right"'),
        ("model.labels", ["left", "right"], ["right", "left"], "the same labels in another order"),
        ("protocol", {"clips": 4, "crops": 3}, {"clips": 1, "crops": 3}, "clips 1 instead of 4"),
        ("limit", 10, 20, "20 instead of 10"),
    ],
)
def test_what_differs_between_two_evaluations_is_said_in_words(field, a, b, shown):
    first, other = {"model": {}}, {"model": {}}
    for header, value in ((first, a), (other, b)):
        if field.startswith("model."):
            header["model"][field.split(".")[1]] = value
        else:
            header[field] = value
    with pytest.raises(PredictionsError) as raised:
        check_compatible(first, other, "B", [field], than="A", remedy="do this")
    thing = "model" if field.startswith("model.") else field
    assert str(raised.value) == f"B: made with a different {thing} than A ({shown}); do this"
