"""``vidclass train --time-reversal SPEC``: a clip played backwards trains its twin class.

The SPEC and its refusals, the augmentation itself (exactly the frames reversed, the twin's
label, a class not named never reversed, about half of the named ones), and runs of both model
families that record the setting, resume with an equivalent SPEC and refuse another."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import vidclass
from tests.cli import cli_in
from vidclass.cli.main import main
from vidclass.data.reversal import canonical_spec, draw_reversal, parse_spec, reversal_targets, synth_twins_spec
from vidclass.data.training import Augment, TrainClips
from vidclass.training import TrainOptions

CLASSES = ["moving_left", "moving_right", "static"]  # the class folders, in the order the model has them
TINY = ["-m", "vivit-micro", "--device", "cpu", "--epochs", "1", "-b", "2", "--val-fraction", "0", "-f", "json"]


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    """Two tiny videos of each of three classes, written by ``vidclass synth`` (with synth.json)."""
    root = tmp_path_factory.mktemp("reversal") / "set"
    args = ["synth", str(root), "-n", "2", "--classes", ",".join(CLASSES), "--min-size", "32", "--max-size", "48"]
    done = CliRunner().invoke(main, [*args, "--max-seconds", "1"])
    assert done.exit_code == 0, done.output
    return root


@pytest.fixture(scope="module")
def plain_set(synth_set, tmp_path_factory):
    """The same videos without synth.json: no twins to read."""
    root = tmp_path_factory.mktemp("reversal-plain") / "set"
    for label in CLASSES:
        shutil.copytree(synth_set / label, root / label)
    return root


def samples_of(root):
    return [(str(path), i) for i, label in enumerate(CLASSES) for path in sorted((root / label).glob("*.mp4"))]


# ----------------------------------------------------------------------------------------- the SPEC


def test_a_spec_gives_its_exact_mapping_in_one_canonical_form():
    assert parse_spec(" static , moving_right:moving_left") == (("moving_left", "moving_right"), ("static", "static"))
    assert canonical_spec("static,moving_right:moving_left") == "moving_left:moving_right,static"
    # Augment keeps the canonical form: an equivalent SPEC is the same recipe.
    assert Augment(time_reversal="static, moving_right:moving_left").time_reversal == "moving_left:moving_right,static"
    assert Augment().time_reversal == ""
    labels = ["moving_left", "moving_right", "static", "blinking"]
    assert reversal_targets("moving_right:moving_left,static", labels) == {0: 1, 1: 0, 2: 2}  # blinking: never
    assert reversal_targets("blinking", labels) == {3: 3}


def test_twins_are_read_from_a_synth_set_for_the_classes_the_run_has(synth_set, plain_set):
    assert synth_twins_spec(synth_set, CLASSES) == "moving_left:moving_right,static"
    assert synth_twins_spec(synth_set, ["moving_left", "static"]) == "static"  # moving_right's twin is not in it
    with pytest.raises(ValueError, match="synth.json"):
        synth_twins_spec(plain_set, CLASSES)


def test_multi_label_training_refuses_time_reversal():
    with pytest.raises(ValueError, match="single-label"):
        TrainOptions(multi_label=True, augment=Augment(time_reversal="static"))


@pytest.mark.parametrize(
    ("spec", "extra", "says"),
    [
        ("", [], "the spec is empty"),
        ("moving_left,,static", [], "an empty item"),
        ("static:static", [], "a class that is its own reverse is written alone, as 'static'"),
        ("static,moving_left:static", [], "static is named twice"),
        ("moving_left:moving_right:static", [], "'moving_left:moving_right:static': no item"),
        ("moving_left:movin_right", [], "movin_right is not a class of the training set (did you mean moving_right?)"),
        ("static", ["--multi-label"], "time reversal is for single-label training"),
        ("twins", ["no synth.json"], "does not exist (only a vidclass synth set lists its twins)"),
    ],
)
def test_each_bad_spec_is_one_error_line_and_exit_2_before_anything_trains(
    synth_set, plain_set, tmp_path, monkeypatch, spec, extra, says
):
    invoke = cli_in(tmp_path, monkeypatch)
    dataset = plain_set if extra == ["no synth.json"] else synth_set
    extra = [] if extra == ["no synth.json"] else extra
    done = invoke("train", str(dataset), "-o", str(tmp_path / "run"), "--time-reversal", spec, *extra, *TINY)
    assert (done.exit_code, done.stdout) == (2, "")
    [line] = done.stderr.splitlines()
    assert line.startswith("error: time reversal") or line.startswith("error: --time-reversal twins"), line
    assert says in line
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------------------- the clips


def test_a_reversed_clip_is_its_frames_in_reverse_order_with_the_twin_label(synth_set):
    samples, prep = samples_of(synth_set), vidclass.create_model("vivit-micro", labels=CLASSES).preprocessing
    plain = TrainClips(samples, prep, Augment(), seed=5)
    twins = TrainClips(samples, prep, Augment(time_reversal="moving_left:moving_right"), seed=5, labels=CLASSES)
    reversed_ = []
    for epoch in range(3):
        plain.set_epoch(epoch)
        twins.set_epoch(epoch)
        for index in range(len(samples)):
            (clip, label, _), (got, got_label, _) = plain[index], twins[index]
            assert not torch.equal(clip, clip.flip(1))  # the frames differ: a reversal shows
            if label == 2:  # static is not named: never reversed, and every other draw is the same
                assert torch.equal(got, clip) and got_label == 2
            elif torch.equal(got, clip.flip(1)):  # exactly the frames reversed (RandAugment's draw kept)
                assert got_label == 1 - label
                reversed_.append((epoch, index))
            else:
                assert torch.equal(got, clip) and got_label == label
    assert reversed_ == [(0, 0), (0, 2), (0, 3), (1, 3), (2, 0), (2, 1)]  # seed 5's draws: 6 of the 12 named clips


def test_a_class_not_named_is_never_reversed_and_about_half_of_a_named_one_is():
    twins, rng = {0: 1, 1: 0, 2: 2}, np.random.default_rng(11)
    state = rng.bit_generator.state
    assert all(draw_reversal(3, twins, rng) is None for _ in range(400))
    assert rng.bit_generator.state == state  # an unnamed class draws nothing: other draws are unchanged
    draws = [draw_reversal(0, twins, rng) for _ in range(400)]
    assert set(draws) == {None, 1}
    assert draws[:8] == [1, 1, None, 1, 1, None, 1, 1]  # seed 11
    count = sum(d is not None for d in draws)
    assert 400 * 0.5 - 4.5 * 10 <= count <= 400 * 0.5 + 4.5 * 10, count  # 4.5 standard deviations of Bin(400, 1/2)
    assert {draw_reversal(2, twins, rng) for _ in range(50)} == {None, 2}  # a self-twin keeps its label


# ----------------------------------------------------------------------------------------- runs


def test_a_run_records_the_setting_resumes_with_an_equivalent_spec_and_refuses_another(
    synth_set, tmp_path, monkeypatch
):
    invoke = cli_in(tmp_path, monkeypatch)
    run = tmp_path / "run"
    recipe = ["--mixup", "0.2", "--label-smoothing", "0.1", *TINY]
    done = invoke("train", str(synth_set), "-o", str(run), "--time-reversal", "twins", *recipe)
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["epochs"][0]["step"] == 3  # 6 videos, batches of 2
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["options"]["augment"]["time_reversal"] == "moving_left:moving_right,static"
    recipe_saved = vidclass.load_model(run / "model.safetensors").provenance["recipe"]
    assert recipe_saved["augment"]["time_reversal"] == "moving_left:moving_right,static"

    other = invoke("train", str(synth_set), "-o", str(run), "--resume", "--time-reversal", "static", *recipe)
    assert (other.exit_code, other.stdout) == (2, "")
    assert other.stderr == (
        f"error: --resume: the run in {run} started with other options: --time-reversal static (the run: "
        "moving_left:moving_right,static): resume with the run's options (only --epochs may change), or train "
        "into another folder\n"
    )
    off = invoke("train", str(synth_set), "-o", str(run), "--resume", *recipe)
    assert off.exit_code == 2 and "--time-reversal off (the run: moving_left:moving_right,static)" in off.stderr

    spec = "static, moving_right:moving_left"  # the same twins, written otherwise
    more = invoke(
        "train", str(synth_set), "-o", str(run), "--resume", "--time-reversal", spec, *recipe, "--epochs", "2"
    )
    assert more.exit_code == 0, more.stderr
    assert [e["epoch"] for e in json.loads(more.stdout)["epochs"]] == [1, 2]


def test_an_x3d_trains_with_time_reversal(synth_set, tmp_path, monkeypatch):
    invoke = cli_in(tmp_path, monkeypatch)
    args = [*TINY[2:], "-m", "x3d-micro", "--precise-bn", "1", "--time-reversal", "moving_left:moving_right"]
    done = invoke("train", str(synth_set), "-o", str(tmp_path / "run"), *args)
    assert done.exit_code == 0, done.stderr
    recipe = vidclass.load_model(tmp_path / "run" / "model.safetensors").provenance["recipe"]
    assert recipe["augment"]["time_reversal"] == "moving_left:moving_right"
