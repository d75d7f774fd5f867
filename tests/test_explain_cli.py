"""vidclass explain: the command and vidclass.explain, on the bundled model and on small ones.

What is pinned: the picture's grid (one column per tubelet step, one row per learned token),
the JSON's maps (one per input frame and row, each summing to 1) and frame indices (those
vidclass info lists for the clip), that the label and score are predict's, the clip choice
(the clip whose centre crop scores the label highest), the animation's frame count, and the
failures: one error line and exit 1 for a bad video, exit 2 for what the model cannot explain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import vidclass
from tests.videos import write_video
from vidclass.cli.main import main
from vidclass.explanation.picture import COLUMN_LABEL_HEIGHT, MARGIN, ROW_LABEL_WIDTH, TITLE_HEIGHT, cell_size
from vidclass.synth import generate

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "weights" / "default.safetensors"
LABELS = ["walk", "run", "jump"]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("explain")
    generate(root / "synth", classes=["moving_right", "growing"], per_class=1, seed=41, workers=1, max_seconds=3.0)
    vidclass.save_model(vidclass.create_model("vivit-micro", labels=LABELS, seed=3), root / "plain.safetensors")
    vidclass.save_model(vidclass.create_model("vivit-micro-tl4at1", labels=LABELS, seed=3), root / "tl.safetensors")
    write_video(root / "small.mp4", num_frames=20, width=48, height=40)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 400)
    return root


def _run(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``vidclass ARGS`` in ``work``, in a process of its own (as a user runs it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "FORCE_COLOR")}
    env.update(NO_COLOR="1", OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "vidclass", *args], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def invoke(work, monkeypatch):
    """``vidclass ARGS`` in ``work``, in this process (the command's code, without a process
    start per call); the bundled model is named explicitly."""
    monkeypatch.chdir(work)
    runner = CliRunner()

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        model = () if "-m" in args else ("-m", str(BUNDLED))
        result = runner.invoke(main, [*args, *model], env={"VIDCLASS_MODEL": None, "NO_COLOR": "1"})
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)

    return call


def _video(work: Path) -> str:
    return "synth/moving_right/moving_right_00000.mp4"


def test_bundled_model_with_no_options_writes_the_picture_grid(work):
    run = _run(work, "explain", _video(work))
    assert run.returncode == 0, run.stderr
    assert run.stdout == "" and run.stderr == ""  # not a terminal: no note
    picture = Image.open(work / "moving_right_00000.explain.png")
    picture.load()
    size = cell_size(64)  # the bundled model's 64 px crop, enlarged
    steps, tokens = 4, 8  # 16 frames in tubelets of 4; 8 learned tokens
    assert picture.format == "PNG"
    assert picture.size == (
        ROW_LABEL_WIDTH + steps * (size + MARGIN) + MARGIN,
        TITLE_HEIGHT + COLUMN_LABEL_HEIGHT + tokens * (size + MARGIN) + MARGIN,
    )
    # the default name is never overwritten: a second run refuses, and the file stays
    before = (work / "moving_right_00000.explain.png").read_bytes()
    again = _run(work, "explain", _video(work))
    assert again.returncode == 2
    assert again.stderr.startswith("error: ") and again.stderr.count("\n") == 1
    assert (work / "moving_right_00000.explain.png").read_bytes() == before


def test_json_maps_sum_to_one_and_frames_are_infos_and_label_is_predicts(work, invoke):
    run = invoke("explain", _video(work), "-f", "json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["method"] == "tokens" and doc["model"] == "vivit-s64-tl8at1" and doc["layer"] == 1
    assert doc["grid"] == [8, 8] and doc["tubelet"] == 4
    maps = np.array(doc["maps"])
    assert maps.shape == (16, 8, 8, 8)  # frames, tokens, h, w
    np.testing.assert_allclose(maps.sum(axis=(2, 3)), 1.0, atol=1e-4)
    np.testing.assert_allclose(np.array(doc["row_weights"]).sum(axis=1), 1.0, atol=1e-4)
    assert abs(sum(doc["frame_weights"]) - 1.0) < 1e-4
    # the tubelet's frames share its maps
    np.testing.assert_array_equal(maps[0], maps[3])
    info = json.loads(invoke("info", _video(work), "-f", "json").stdout)
    clips = {c["index"]: c["frame_indices"] for c in info["clips"]}
    assert doc["frame_indices"] == clips[doc["clip"]]
    predicted = json.loads(invoke("predict", _video(work), "-f", "jsonl").stdout)
    assert doc["label"] == predicted["labels"][0]["label"]
    assert doc["score"] == pytest.approx(predicted["labels"][0]["score"], abs=1e-6)
    assert doc["video"]["width"] == info["width"] and doc["video"]["height"] == info["height"]


def test_clip_option_and_rollout_on_the_bundled_model(work, invoke):
    run = invoke("explain", _video(work), "-f", "json", "--clip", "0", "--method", "rollout")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["clip"] == 0 and doc["method"] == "rollout" and doc["layer"] is None
    maps = np.array(doc["maps"])
    assert maps.shape == (16, 1, 8, 8)
    np.testing.assert_allclose(maps.sum(axis=(2, 3)), 1.0, atol=1e-4)
    out = invoke("explain", _video(work), "--clip", "9", "-f", "json")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error: ") and "0 to 3" in out.stderr


def test_the_chosen_clip_is_the_one_whose_centre_crop_scores_the_label_highest(work):
    e = vidclass.explain(work / _video(work), device="cpu", precision="fp32", workers=0)
    clf = vidclass.load_model(str(BUNDLED))
    predictor = vidclass.Predictor(clf, device="cpu", precision="fp32", workers=0)
    ((decoded, views),) = list(predictor.queue.decoded([str(work / _video(work))], read_ahead=False))
    logits = predictor.logits(views)  # (12, K): clip-major, crops left, centre, right
    label = clf.labels.index(e.label)
    centre = torch.softmax(logits[1::3], dim=-1)[:, label]
    assert e.clip == int(centre.argmax())
    assert e.frame_indices == decoded.plan.clips[e.clip].frame_indices
    assert e.maps.shape == (16, 8, 8, 8) and e.frames.shape == (16, 64, 64, 3) and e.frames.dtype == np.uint8


def test_animation_has_one_frame_per_input_frame(work, invoke, tmp_path):
    gif, mp4 = tmp_path / "a.gif", tmp_path / "a.mp4"
    for target in (gif, mp4):
        run = invoke("explain", _video(work), "-o", str(tmp_path / f"{target.stem}.png"), "--video", str(target))
        assert run.returncode == 0, run.stderr
    with Image.open(gif) as image:
        assert image.n_frames == 16
    with av.open(str(mp4)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 16


def test_a_model_without_tokenlearner_cannot_show_tokens(work, invoke):
    run = invoke("explain", "small.mp4", "-m", "plain.safetensors", "--method", "tokens")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1 and "rollout" in run.stderr
    auto = invoke("explain", "small.mp4", "-m", "plain.safetensors", "-f", "json")
    assert auto.returncode == 0, auto.stderr
    assert json.loads(auto.stdout)["method"] == "rollout"


def test_a_layer_without_tokenlearner_is_refused_naming_the_layers_with_one(work, invoke):
    run = invoke("explain", "small.mp4", "-m", "tl.safetensors", "--layer", "0", "-f", "json")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1 and "1" in run.stderr


def test_a_bad_video_is_one_error_line_and_exit_1_and_nothing_written(work, tmp_path):
    out = tmp_path / "b.png"
    run = _run(work, "explain", "broken.mp4", "-o", str(out))
    assert run.returncode == 1 and run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: broken.mp4: ")
    assert not out.exists() and not list(tmp_path.iterdir())
    missing = _run(work, "explain", "nothere.mp4", "-f", "json")
    assert missing.returncode == 1 and missing.stderr.startswith("error: nothere.mp4: ")


def test_the_input_video_is_never_the_output(work, invoke):
    for args in (("-o", "small.mp4"), ("-o", "x.png", "--video", "small.mp4")):
        before = (work / "small.mp4").read_bytes()
        run = invoke("explain", "small.mp4", "-m", "plain.safetensors", *args)
        assert run.returncode == 2 and run.stderr.startswith("error: ")
        assert (work / "small.mp4").read_bytes() == before


def test_library_explanation_saves_each_format(work, tmp_path):
    e = vidclass.explain(work / "small.mp4", model=str(work / "tl.safetensors"), device="cpu", workers=0)
    assert e.method == "tokens" and e.label in LABELS
    for name in ("e.png", "e.gif", "e.json"):
        e.save(tmp_path / name)
    assert json.loads((tmp_path / "e.json").read_text())["frame_indices"] == list(e.frame_indices)
    with pytest.raises(vidclass.errors.VidclassError):
        e.save(tmp_path / "e.bmp")
