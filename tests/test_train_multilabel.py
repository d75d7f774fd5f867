"""Multi-label training: BCE on label sets, its smoothing and mixing, validation mAP, the model
file's flag, forced modes, fine-tuning, convert --multi-label, and exact resume."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

import vidclass
from tests.videos import write_video
from vidclass.checkpoints import load_classifier, read_model_card, save_model
from vidclass.cli.main import main
from vidclass.data.training import Augment
from vidclass.scores.ranking import mean_average_precision
from vidclass.training import TrainOptions, prepare_model, train
from vidclass.training.checkpoint import option_changes
from vidclass.training.multilabel import LabelSetMix, bce_loss

COLOURS = ["red", "green", "blue"]  # a video's label set: the colour channels that are lit


def lit(channels, offset):
    def pattern(i, h, w):
        frame = np.full((h, w, 3), 30 + offset, dtype=np.uint8)
        for c in channels:
            frame[..., COLOURS.index(c)] = 220 - offset
        frame[(i * 3) % h, :, :] = 128  # a moving line, so frames differ
        return frame

    return pattern


SETS = [(), ("red",), ("green",), ("blue",), ("red", "green"), ("red", "blue"), ("green", "blue"), tuple(COLOURS)]


@pytest.fixture(scope="module")
def label_sets(tmp_path_factory):
    """16 tiny videos, two of each label set over three colours, and a path,labels CSV."""
    root = tmp_path_factory.mktemp("label-sets")
    rows = ["path,labels"]
    for k, colours in enumerate(SETS):
        for variant in range(2):
            name = f"v{k}_{variant}.mp4"
            write_video(root / name, num_frames=16, width=40, height=40, pattern=lit(colours, 12 * variant))
            rows.append(f"{name},{';'.join(colours)}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def samples_of(root):
    """``(path, class indices)`` in the order of ``SETS``."""
    return [
        (str(root / f"v{k}_{v}.mp4"), tuple(COLOURS.index(c) for c in s)) for k, s in enumerate(SETS) for v in (0, 1)
    ]


def _train_cli(*args):
    return CliRunner().invoke(main, ["train", *args, "--device", "cpu", "--no-randaugment", "--precision", "fp32"])


# ----------------------------------------------------------------------------- loss, mixing, AP


def test_bce_is_the_mean_over_videos_and_classes_with_targets_smoothed_towards_one_half():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    each = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    assert torch.equal(bce_loss(logits, targets), each.mean())
    smoothed = torch.tensor([[0.95, 0.05, 0.95], [0.05, 0.05, 0.95]])
    assert torch.allclose(bce_loss(logits, targets, 0.1), F.binary_cross_entropy_with_logits(logits, smoothed))


@pytest.mark.parametrize("mixup, cutmix", [(0.4, 0.0), (0.0, 1.0)])
def test_label_sets_are_mixed_with_the_clips_lambda(mixup, cutmix):
    clips = torch.randn(4, 3, 2, 16, 16, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([[1.0, 0, 0], [0, 1.0, 1.0], [0, 0, 0], [1.0, 1.0, 1.0]])
    torch.manual_seed(3)
    mixed = LabelSetMix(mixup, cutmix)(clips, targets)
    lam, partner = mixed.lam, clips.roll(1, 0)
    assert 0 < lam < 1
    assert torch.equal(mixed.targets, lam * targets + (1 - lam) * targets.roll(1, 0))
    if cutmix:  # the pasted box is the partner's, everything else the clip's own; lambda is what is left
        top, bottom, left, right = mixed.box
        inside = torch.zeros(16, 16, dtype=torch.bool)
        inside[top:bottom, left:right] = True
        assert torch.equal(mixed.clips[..., inside], partner[..., inside])
        assert torch.equal(mixed.clips[..., ~inside], clips[..., ~inside])
        assert lam == 1 - inside.sum().item() / 256
    else:
        assert mixed.box is None
        assert torch.allclose(mixed.clips, lam * clips + (1 - lam) * partner)


def test_validation_map_is_over_classes_with_a_positive():
    # the shared exact AP (vidclass.scores.ranking; checked against sklearn in test_multilabel_metrics)
    scores = np.array([[0.9, 0.1, 0.4], [0.2, 0.8, 0.3], [0.5, 0.5, 0.5]])
    targets = np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0]]) > 0  # the third class has no positive
    assert mean_average_precision(scores, targets) == (1.0 + 0.5) / 2
    assert mean_average_precision(scores, np.zeros((3, 3), dtype=bool)) is None


# ----------------------------------------------------------------------------- runs


def test_multi_label_training_lowers_the_bce_and_writes_a_multi_label_model(label_sets, tmp_path):
    out = tmp_path / "run"
    result = _train_cli(
        str(label_sets),
        "--annotations",
        str(label_sets / "labels.csv"),
        "-o",
        str(out),
        "-m",
        "vivit-micro-tl4at1",
        "--epochs",
        "4",
        "-b",
        "4",
        "--lr",
        "3e-3",
        "--warmup-epochs",
        "0.5",
        "--val-fraction",
        "0.25",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["multi_label"] is True and doc["classes"] == sorted(COLOURS)
    epochs = doc["epochs"]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"], [e["train_loss"] for e in epochs]
    for e in epochs:  # BCE and mAP; top-1 and top-5 belong to single-label runs
        assert e["train_top1"] is None and e["val_top1"] is None and e["val_top5"] is None
        assert math.isfinite(e["val_loss"]) and 0 <= e["val_map"] <= 1
    card = read_model_card(out / "model.safetensors")
    assert card.multi_label is True and card.protocol.aggregate.value == "max"
    assert card.provenance["recipe"]["multi_label"] is True
    loaded = load_classifier(str(out / "model.safetensors"))
    assert loaded.multi_label is True and loaded.labels == tuple(sorted(COLOURS))


def test_resume_of_a_multi_label_run_is_exact(label_sets, tmp_path):
    samples = samples_of(label_sets)
    options = TrainOptions(
        epochs=2,
        batch_size=4,
        lr=3e-3,
        warmup_epochs=0.5,
        val_fraction=0.25,
        mixup=0.4,
        cutmix=1.0,
        dropout=0.1,
        drop_path=0.1,
        augment=Augment(randaugment=True),
        multi_label=True,
    )
    straight = train(samples, COLOURS, tmp_path / "a", "vivit-micro", options, device="cpu")

    class Stop(Exception):
        pass

    def stop_after_one(record):
        if record.epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        train(samples, COLOURS, tmp_path / "b", "vivit-micro", options, device="cpu", on_epoch=stop_after_one)
    resumed = train(samples, COLOURS, tmp_path / "b", "vivit-micro", options, device="cpu", resume=True)
    a, b = straight.classifier.model.state_dict(), resumed.classifier.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from an uninterrupted run"
    assert [r.to_dict() | {"seconds": 0, "clips_per_second": 0} for r in resumed.records] == [
        r.to_dict() | {"seconds": 0, "clips_per_second": 0} for r in straight.records
    ]
    assert resumed.classifier.multi_label is True


def test_a_resume_may_not_change_the_mode_and_older_runs_were_single_label():
    single = json.loads(json.dumps(TrainOptions().to_dict()))  # as the checkpoint stores it
    assert option_changes(single, TrainOptions(multi_label=True)) == ["--multi-label on (the run: off)"]
    before = {k: v for k, v in single.items() if k != "multi_label"}  # a run from before multi-label training
    assert option_changes(before, TrainOptions()) == []


def test_single_label_run_refuses_a_label_set(label_sets, tmp_path):
    samples = samples_of(label_sets)
    with pytest.raises(ValueError, match=r"v0_0\.mp4: a label set of 0 in a single-label run"):
        train(samples, COLOURS, tmp_path / "x", "vivit-micro", TrainOptions(batch_size=4), device="cpu")


def test_single_label_forced_on_label_sets_names_the_video_with_other_than_one_label(label_sets, tmp_path):
    args = [str(label_sets), "--annotations", str(label_sets / "labels.csv"), "-o", str(tmp_path / "s")]
    result = _train_cli(*args, "-m", "vivit-micro", "--single-label")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: --single-label: {label_sets / 'v0_0.mp4'} has no label: a single-label model takes videos with "
        "exactly one label each: leave --single-label out to train a multi-label model"
    ]
    assert not (tmp_path / "s").exists()


def test_forced_modes_train_what_they_say(label_sets, tmp_path):
    # --single-label on a label-set CSV whose videos have one label each; --multi-label on class folders.
    one = label_sets / "one.csv"
    one.write_text("path,labels\n" + "".join(f"v{k}_{v}.mp4,{COLOURS[k - 1]}\n" for k in (1, 2, 3) for v in (0, 1)))
    common = ["--epochs", "1", "-b", "2", "--val-fraction", "0", "-q", "-f", "json"]
    default = _train_cli(
        str(label_sets), "--annotations", str(one), "-o", str(tmp_path / "1"), "-m", "vivit-micro", *common
    )
    assert default.exit_code == 0, default.output
    assert json.loads(default.stdout)["multi_label"] is True  # a path,labels CSV is multi-label
    single = _train_cli(
        str(label_sets),
        "--annotations",
        str(one),
        "-o",
        str(tmp_path / "2"),
        "-m",
        "vivit-micro",
        "--single-label",
        *common,
    )
    assert single.exit_code == 0, single.output
    card = read_model_card(tmp_path / "2" / "model.safetensors")
    assert card.multi_label is False and card.protocol.aggregate.value == "softmax"
    folders = tmp_path / "folders"
    for k in (1, 2, 3):
        for v in (0, 1):
            (folders / COLOURS[k - 1]).mkdir(parents=True, exist_ok=True)
            (folders / COLOURS[k - 1] / f"{v}.mp4").write_bytes((label_sets / f"v{k}_{v}.mp4").read_bytes())
    forced = _train_cli(str(folders), "-o", str(tmp_path / "3"), "-m", "vivit-micro", "--multi-label", *common)
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["multi_label"] is True
    assert read_model_card(tmp_path / "3" / "model.safetensors").multi_label is True


def test_fine_tuning_sets_the_head_kind_of_the_run(tmp_path):
    single = vidclass.create_model("vivit-micro", labels=["a", "b"], seed=0)
    save_model(single, tmp_path / "single.safetensors")
    options = TrainOptions(multi_label=True)
    tuned, origin = prepare_model(str(tmp_path / "single.safetensors"), COLOURS, options)
    assert tuned.multi_label is True and tuned.protocol.aggregate.value == "max"
    assert {k for k in origin["newly_initialised"]} == {"head.weight", "head.bias"}  # other classes: a new head
    save_model(tuned, tmp_path / "multi.safetensors")
    again, origin = prepare_model(str(tmp_path / "multi.safetensors"), COLOURS, options)
    assert again.multi_label is True and origin["newly_initialised"] == []  # same classes: the head is kept
    assert torch.equal(again.model.head.weight, tuned.model.head.weight)


def test_convert_multi_label_marks_the_model_and_info_shows_it(tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.VivitConfig(
        num_frames=8,
        image_size=32,
        tubelet_size=[2, 8, 8],
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=64,
        id2label={"0": "a", "1": "b"},
        label2id={"a": 0, "b": 1},
    )
    transformers.VivitForVideoClassification(cfg).save_pretrained(tmp_path / "hf")
    runner = CliRunner()
    plain = runner.invoke(main, ["convert", str(tmp_path / "hf"), "-o", str(tmp_path / "s.safetensors"), "-f", "json"])
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.stdout)["multi_label"] is False
    multi = runner.invoke(
        main, ["convert", str(tmp_path / "hf"), "-o", str(tmp_path / "m.safetensors"), "--multi-label", "-f", "json"]
    )
    assert multi.exit_code == 0, multi.output
    doc = json.loads(multi.stdout)
    assert doc["multi_label"] is True and doc["protocol"]["aggregate"] == "max"
    info = runner.invoke(main, ["info", str(tmp_path / "m.safetensors"), "-f", "json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["multi_label"] is True
    assert read_model_card(tmp_path / "s.safetensors").multi_label is False


def test_a_class_list_names_the_models_labels(label_sets, tmp_path):
    # A Charades CSV over the colour videos: ids c000..c002, named by the class list beside it.
    ds = tmp_path / "charades"
    ds.mkdir()
    rows = ["id,actions,length"]
    for k, colours in enumerate(SETS):
        for v in (0, 1):
            (ds / f"V{k}{v}.mp4").write_bytes((label_sets / f"v{k}_{v}.mp4").read_bytes())
            actions = ";".join(f"c{COLOURS.index(c):03d} 0.00 1.00" for c in colours)
            rows.append(f"V{k}{v},{actions},1.0")
    (ds / "Charades_v1_train.csv").write_text("\n".join(rows) + "\n")
    (ds / "Charades_v1_classes.txt").write_text("c000 Red light\nc001 Green light\nc002 Blue light\n")
    common = ["--epochs", "1", "-b", "4", "--val-fraction", "0", "-q", "-f", "json", "-m", "vivit-micro"]
    result = _train_cli(str(ds), "-o", str(tmp_path / "named"), *common)
    assert result.exit_code == 0, result.output
    card = read_model_card(tmp_path / "named" / "model.safetensors")
    assert card.labels == ("Red light", "Green light", "Blue light") and card.multi_label is True
    # Repeated names cannot be labels: the ids are kept.
    (ds / "Charades_v1_classes.txt").write_text("c000 Light\nc001 Light\nc002 Blue light\n")
    result = _train_cli(str(ds), "-o", str(tmp_path / "ids"), *common)
    assert result.exit_code == 0, result.output
    assert read_model_card(tmp_path / "ids" / "model.safetensors").labels == ("c000", "c001", "c002")
