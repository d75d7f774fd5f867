"""predict and eval --runtime onnxruntime: the model exported to ONNX and run by onnxruntime
gives torch fp32's scores; what it cannot do (GPU, bf16, --compile) is refused up front."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")

import vidclass  # noqa: E402
from tests.cli import cli_in  # noqa: E402
from tests.videos import tile_pattern as pattern  # noqa: E402
from tests.videos import write_video
from vidclass.inference import OptionsError, RunOptions  # noqa: E402

LABELS = ["walk", "run", "jump"]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runtime-onnx")
    vidclass.save_model(vidclass.create_model("vivit-micro-tl4at1", labels=LABELS, seed=0), root / "vivit.safetensors")
    vidclass.save_model(vidclass.create_model("x3d-micro-tl4", labels=LABELS, seed=0), root / "x3d.safetensors")
    seed = 0
    for label in LABELS:
        seed += 1
        write_video(root / "ds" / label / "v0.mp4", num_frames=20, width=48, height=40, pattern=pattern(seed))
    return root


def scores(stdout: str) -> dict[str, dict[str, float]]:
    records = [json.loads(line) for line in stdout.splitlines()]
    return {r["path"]: {s["label"]: s["score"] for s in r["labels"]} for r in records}


@pytest.mark.parametrize("model", ["vivit.safetensors", "x3d.safetensors"])
def test_predict_with_onnxruntime_gives_torch_fp32s_scores(work, monkeypatch, model):
    invoke = cli_in(work, monkeypatch)
    videos = sorted(str(p.relative_to(work)) for p in (work / "ds").rglob("*.mp4"))
    common = ["predict", "-m", model, "-f", "jsonl", "-b", "5", "--top-k", "3", *videos]
    torch_run = invoke(*common, "--precision", "fp32")
    onnx_run = invoke(*common, "--runtime", "onnxruntime")
    assert torch_run.exit_code == 0 and onnx_run.exit_code == 0, onnx_run.stderr
    assert onnx_run.stderr == ""  # neither the exporter nor onnxruntime print anything
    expected, got = scores(torch_run.stdout), scores(onnx_run.stdout)
    assert got.keys() == expected.keys()
    for path in expected:
        assert got[path].keys() == expected[path].keys()
        assert max(abs(got[path][k] - expected[path][k]) for k in expected[path]) < 1e-5


def test_eval_with_onnxruntime_agrees_with_torch(work, monkeypatch):
    invoke = cli_in(work, monkeypatch)
    args = ["eval", "ds", "-m", "vivit.safetensors", "-f", "json", "-j", "2"]
    torch_doc = json.loads(invoke(*args, "--precision", "fp32", "-o", "torch-run").stdout)
    result = invoke(*args, "--runtime", "onnxruntime", "-o", "onnx-run")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["top1"], doc["complete"]) == (torch_doc["top1"], True)

    def records(folder: str) -> dict[str, list]:
        rows = [json.loads(line) for line in (work / folder / "predictions.jsonl").read_text().splitlines()]
        return {r["path"]: [(s["label"], s["score"]) for s in r["labels"]] for r in rows if "path" in r}

    a, b = records("torch-run"), records("onnx-run")
    assert a.keys() == b.keys() and len(a) == 3
    for path in a:
        assert [label for label, _ in a[path]] == [label for label, _ in b[path]]
        assert max(abs(x - y) for (_, x), (_, y) in zip(a[path], b[path], strict=True)) < 1e-5


def test_the_library_takes_the_runtime_too(work):
    classifier = vidclass.load_model(work / "vivit.safetensors")
    path = work / "ds" / "run" / "v0.mp4"
    (torch_p,) = vidclass.predict(path, model=classifier, precision="fp32", top_k=3)
    (onnx_p,) = vidclass.predict(path, model=classifier, runtime="onnxruntime", top_k=3)
    assert onnx_p.ok and [label for label, _ in onnx_p.labels] == [label for label, _ in torch_p.labels]
    assert max(abs(a - b) for (_, a), (_, b) in zip(onnx_p.labels, torch_p.labels, strict=True)) < 1e-5
    predictor = vidclass.Predictor(classifier, runtime="onnxruntime")
    assert (str(predictor.device), predictor.precision, predictor.describe()["runtime"]) == (
        "cpu",
        "fp32",
        "onnxruntime",
    )


@pytest.mark.parametrize(
    "changes",
    [{"device": "cuda"}, {"precision": "bf16"}, {"precision": "fp16"}, {"compile": True}, {"runtime": "tensorrt"}],
)
def test_run_options_refuse_what_onnxruntime_cannot_do(changes):
    with pytest.raises(OptionsError):
        RunOptions(**{"runtime": "onnxruntime", **changes})


@pytest.mark.parametrize(
    "args",
    [["--device", "cuda"], ["--precision", "bf16"], ["--compile"]],
)
def test_predict_refuses_them_in_one_line(work, monkeypatch, args):
    invoke = cli_in(work, monkeypatch)
    result = invoke("predict", "-m", "vivit.safetensors", "--runtime", "onnxruntime", *args, "ds/run/v0.mp4")
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "onnxruntime" in lines[0], result.stderr


def test_a_missing_onnxruntime_is_one_line_naming_the_extra(work, monkeypatch):
    invoke = cli_in(work, monkeypatch)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    result = invoke("predict", "-m", "vivit.safetensors", "--runtime", "onnxruntime", "ds/run/v0.mp4")
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "vidclass[export]" in lines[0], result.stderr
