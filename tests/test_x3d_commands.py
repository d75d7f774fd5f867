"""X3D and X3D-TL through every command that takes a model: predict (scores equal the views'
softmax mean computed by hand, batching across videos, bf16 against fp32, a multi-label head),
eval (one process and two under torchrun), and timeline (its window grid from X3D's clip)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import vidclass
from tests.videos import tile_pattern as pattern
from tests.videos import write_video
from vidclass.cli.main import main
from vidclass.video.views import load_views

LABELS = ["walk", "run", "jump"]


def sharpened(name: str, multi_label: bool = False):
    """A random model whose scores are far apart (its projection scaled up), so that the top
    label does not hang on rounding."""
    classifier = vidclass.create_model(name, labels=LABELS, seed=0, multi_label=multi_label)
    with torch.no_grad():
        classifier.model.head.proj.weight.mul_(40.0)
    return classifier


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("x3d-commands")
    vidclass.save_model(sharpened("x3d-micro-tl4"), root / "tl.safetensors")
    vidclass.save_model(sharpened("x3d-micro", multi_label=True), root / "ml.safetensors")
    seed = 0
    for label in LABELS:
        for i in range(2):
            seed += 1
            write_video(root / "ds" / label / f"v{i}.mp4", num_frames=16, width=96, height=80, pattern=pattern(seed))
    write_video(root / "long.mp4", num_frames=40, width=96, height=80, fps=10, pattern=pattern(99))
    return root


def run(work: Path, *args: str):
    cwd = os.getcwd()
    os.chdir(work)
    try:
        env = {"VIDCLASS_MODEL": None, "NO_COLOR": "1", "FORCE_COLOR": None}
        return CliRunner().invoke(main, list(args), env=env)
    finally:
        os.chdir(cwd)


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def scores(record: dict) -> dict[str, float]:
    return {entry["label"]: entry["score"] for entry in record["labels"]}


def videos(work: Path) -> list[str]:
    return sorted(str(p.relative_to(work)) for p in (work / "ds").rglob("*.mp4"))


def test_predict_scores_are_the_mean_of_the_views_softmax(work):
    model = vidclass.load_model(work / "tl.safetensors")
    result = run(
        work, "predict", "-m", "tl.safetensors", "--precision", "fp32", "-f", "jsonl", "-k", "3", *videos(work)
    )
    assert result.exit_code == 0, result.output
    for record in records(result.stdout):
        views, plan, _ = load_views(work / record["path"], model.preprocessing, model.protocol)
        assert views.shape == (12, 3, 4, 72, 72) and record["views"] == 12  # 4 clips x 3 crops of 72 px
        with torch.no_grad():
            expected = model.model.eval()(views).softmax(-1).mean(0)
        got = scores(record)
        assert max(abs(got[label] - float(expected[i])) for i, label in enumerate(LABELS)) < 1e-5


def test_predict_batches_across_videos_without_changing_a_score(work):
    args = ("predict", "-m", "tl.safetensors", "--precision", "fp32", "-f", "jsonl", "-k", "3", *videos(work))
    one = records(run(work, *args, "-b", "1").stdout)
    many = records(run(work, *args, "-b", "64").stdout)  # the 6 videos' 72 views in two passes
    assert [r["path"] for r in one] == [r["path"] for r in many] == videos(work)
    for a, b in zip(one, many, strict=True):
        assert max(abs(scores(a)[k] - scores(b)[k]) for k in LABELS) < 1e-5


def test_bf16_agrees_with_fp32(work):
    args = ("predict", "-m", "tl.safetensors", "-f", "jsonl", "-k", "3", *videos(work))
    fp32 = records(run(work, *args, "--precision", "fp32").stdout)
    bf16 = run(work, *args, "--precision", "bf16")
    assert bf16.exit_code == 0, bf16.output
    for a, b in zip(fp32, records(bf16.stdout), strict=True):
        assert a["labels"][0]["label"] == b["labels"][0]["label"]
        assert max(abs(scores(a)[k] - scores(b)[k]) for k in LABELS) < 0.05


def test_a_multi_label_x3d_takes_the_max_of_the_views_sigmoids(work):
    model = vidclass.load_model(work / "ml.safetensors")
    assert model.multi_label and model.protocol.aggregate.value == "max"
    path = videos(work)[0]
    result = run(
        work, "predict", "-m", "ml.safetensors", "--precision", "fp32", "-f", "jsonl", "--threshold", "0.5", path
    )
    assert result.exit_code == 0, result.output
    (record,) = records(result.stdout)
    views, _, _ = load_views(work / path, model.preprocessing, model.protocol)
    with torch.no_grad():
        expected = model.model.eval()(views).sigmoid().amax(0)
    got = scores(record)
    assert max(abs(got[label] - float(expected[i])) for i, label in enumerate(LABELS)) < 1e-5
    assert {p["label"] for p in record["positives"]} == {label for i, label in enumerate(LABELS) if expected[i] >= 0.5}


def test_eval_agrees_with_predict(work):
    result = run(work, "eval", "ds", "-m", "tl.safetensors", "--precision", "fp32", "--device", "cpu", "-f", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    predicted = records(
        run(work, "predict", "-m", "tl.safetensors", "--precision", "fp32", "-f", "jsonl", *videos(work)).stdout
    )
    hits = sum(r["labels"][0]["label"] == Path(r["path"]).parent.name for r in predicted)
    assert doc["top1"] == pytest.approx(hits / 6) and doc["complete"] and doc["num_classes"] == 3


def test_eval_under_torchrun_equals_one_process(work, tmp_path):
    from vidclass.evaluation import result_fields

    args = ["eval", "ds", "-m", "tl.safetensors", "--device", "cpu", "--precision", "fp32", "-f", "json"]
    single = result_fields(json.loads(run(work, *args).stdout))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "FORCE_COLOR")}
    proc = subprocess.run(
        [*torchrun, "-m", "vidclass", *args, "-o", str(tmp_path / "dist")],
        cwd=work,
        env={**env, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert result_fields(doc) == single and doc["throughput"]["processes"] == 2


def test_timeline_windows_follow_x3ds_clip(work):
    """4 frames every 2nd at 10 fps: 0.8 s windows; the default stride is half a window."""
    result = run(work, "timeline", "-m", "tl.safetensors", "long.mp4", "-f", "jsonl")
    assert result.exit_code == 0, result.output
    rows = records(result.stdout)
    windows = [r for r in rows if r["type"] == "window"]
    assert [(w["start"], w["end"]) for w in windows[:3]] == [(0.0, 0.8), (0.4, 1.2), (0.8, 1.6)]
    segments = [r for r in rows if r["type"] == "segment"]
    assert segments[0]["start"] == 0.0 and segments[-1]["end"] == pytest.approx(4.0)
    assert all(a["end"] == b["start"] for a, b in zip(segments, segments[1:], strict=False))
