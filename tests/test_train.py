"""Training: loss goes down, resume is exact, model surgery keeps what fits, torchrun agrees."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

import vidclass
from tests.videos import level_pattern as flat
from tests.videos import write_video
from vidclass.checkpoints.modelfile import read_model_card
from vidclass.cli.main import main
from vidclass.data.training import Augment, TrainClips, split_validation
from vidclass.distributed import Group as Dist
from vidclass.models import TokenLearnerConfig
from vidclass.training import TrainOptions, lr_factor, parse_tokenlearner, prepare_model, train
from vidclass.training.batches import epoch_indices as _epoch_indices
from vidclass.training.batches import evaluate_clips

LABELS = ["dark", "mid", "bright"]
LEVELS = {"dark": 30, "mid": 120, "bright": 220}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("train-set")
    for label in LABELS:
        for k in range(4):
            write_video(
                root / label / f"{label}_{k}.mp4",
                num_frames=20,
                width=64,
                height=64,
                pattern=flat(LEVELS[label] + 4 * k),
            )
    return root


def samples_of(root):
    return [(str(root / label / f"{label}_{k}.mp4"), i) for i, label in enumerate(LABELS) for k in range(4)]


QUICK = TrainOptions(
    epochs=3,
    batch_size=4,
    lr=3e-3,
    warmup_epochs=0.5,
    val_fraction=0.0,
    label_smoothing=0.0,
    augment=Augment(randaugment=False),
    seed=0,
)


def test_training_lowers_the_loss(dataset, tmp_path):
    samples = samples_of(dataset)
    before = vidclass.create_model("vivit-micro-tl4at1", labels=LABELS, seed=0)
    prep = before.preprocessing
    loss0, _, _ = evaluate_clips(before.model, samples, prep, 4, 0, torch.device("cpu"), None, Dist(), 3)
    result = train(samples, LABELS, tmp_path / "run", "vivit-micro-tl4at1", QUICK, device="cpu")
    loss1, top1, _ = evaluate_clips(result.classifier.model, samples, prep, 4, 0, torch.device("cpu"), None, Dist(), 3)
    assert loss1 < 0.7 * loss0, (loss0, loss1)
    assert [r.epoch for r in result.records] == [1, 2, 3] and result.records[-1].step == 9
    loaded = vidclass.load_model(tmp_path / "run" / "model.safetensors")
    assert loaded.labels == tuple(LABELS)
    assert loaded.provenance["recipe"]["lr"] == 3e-3 and loaded.provenance["epochs_trained"] == 3
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


def test_resume_continues_exactly(dataset, tmp_path):
    samples = samples_of(dataset)
    options = TrainOptions(
        **{**QUICK.to_dict(), "augment": Augment(randaugment=True), "dropout": 0.1, "drop_path": 0.1, "mixup": 0.4}
    )
    straight = train(samples, LABELS, tmp_path / "a", "vivit-micro", options, device="cpu")

    class Stop(Exception):
        pass

    def stop_after_two(record):
        if record.epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        train(samples, LABELS, tmp_path / "b", "vivit-micro", options, device="cpu", on_epoch=stop_after_two)
    resumed = train(samples, LABELS, tmp_path / "b", "vivit-micro", options, device="cpu", resume=True)
    assert [r.step for r in resumed.records] == [r.step for r in straight.records]
    a, b = straight.classifier.model.state_dict(), resumed.classifier.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from an uninterrupted run"
    assert resumed.records[-1].train_loss == straight.records[-1].train_loss


def test_resume_refuses_other_options_and_a_fresh_run_refuses_an_old_folder(dataset, tmp_path):
    samples = samples_of(dataset)
    options = TrainOptions(**{**QUICK.to_dict(), "epochs": 1, "augment": Augment(randaugment=False)})
    train(samples, LABELS, tmp_path / "r", "vivit-micro", options, device="cpu")
    with pytest.raises(FileExistsError, match="--resume"):
        train(samples, LABELS, tmp_path / "r", "vivit-micro", options, device="cpu")
    other = TrainOptions(**{**options.to_dict(), "lr": 1e-4, "augment": Augment(randaugment=False)})
    with pytest.raises(ValueError, match=r"other options: --lr 0\.0001 \(the run: 0\.003\): resume"):
        train(samples, LABELS, tmp_path / "r", "vivit-micro", other, device="cpu", resume=True)


def test_tokenlearner_is_inserted_into_a_pretrained_vivit(tmp_path):
    pretrained = vidclass.create_model("vivit-micro", labels=LABELS, seed=5)  # Model 1, CLS token
    path = vidclass.save_model(pretrained, tmp_path / "pre.safetensors")
    tl = TokenLearnerConfig(num_tokens=4, location=1)
    model, origin = prepare_model(str(path), LABELS, TrainOptions(), tokenlearner=tl)
    new, old = model.model.state_dict(), pretrained.model.state_dict()
    assert model.config.tokenlearner == tl and model.config.classifier.value == "gap"
    assert torch.equal(new["backbone.encoder.pos_embed"], old["backbone.encoder.pos_embed"][:, 1:])
    assert torch.equal(
        new["backbone.encoder.blocks.1.attn.qkv.weight"], old["backbone.encoder.blocks.1.attn.qkv.weight"]
    )
    assert torch.equal(new["head.weight"], old["head.weight"])  # same labels: the head is kept
    assert sorted(origin["newly_initialised"]) == sorted(k for k in new if ".learners." in k)


def test_fine_tuning_on_other_labels_replaces_only_the_head(tmp_path):
    pretrained = vidclass.create_model("vivit-micro-fe", labels=LABELS, seed=5)
    path = vidclass.save_model(pretrained, tmp_path / "pre.safetensors")
    model, origin = prepare_model(str(path), ["x", "y"], TrainOptions(drop_path=0.2))
    assert sorted(origin["newly_initialised"]) == ["head.bias", "head.weight"]
    assert model.config.drop_path == 0.2 and model.labels == ("x", "y")


def test_registry_model_with_tokenlearner():
    model, origin = prepare_model(
        "vivit-micro", LABELS, TrainOptions(), tokenlearner=parse_tokenlearner("4at1+fuser,v1.0")
    )
    assert model.config.tokenlearner == TokenLearnerConfig(num_tokens=4, location=1, version="v1.0", fuse=True)
    assert origin["weights"] == "random init"


def test_difference_kernel_init_is_blind_to_static_video_and_sees_change():
    model, origin = prepare_model("vivit-micro", LABELS, TrainOptions(kernel_init="difference", seed=3))
    embed = model.model.patch_embed
    dim, frames = embed.proj.weight.shape[0], embed.proj.weight.shape[2]
    moving = round(dim * 0.75)
    cfg = model.config
    still = torch.rand(1, 3, 1, cfg.image_size, cfg.image_size).expand(-1, -1, cfg.num_frames, -1, -1)
    tokens = embed(still)  # (B, t, h*w, D)
    assert tokens[..., :moving].abs().max() < 1e-5  # change detectors: silent on a still clip
    assert tokens[..., moving:].abs().min() > 0  # appearance channels still see it
    flashed = still.clone()
    flashed[:, :, frames // 2 :] += 0.5  # a change inside each first tubelet
    assert (embed(flashed)[0, 0, :, :moving] - tokens[0, 0, :, :moving]).abs().max() > 0.1
    # the positive half of the ramp sums to the gain, the whole ramp to zero
    kernel = embed.proj.weight.detach()[0]  # (C, t, h, w)
    ramp = kernel.sum(dim=(0, 2, 3)) / kernel[:, 0].sum()
    assert float(ramp.sum()) == pytest.approx(0.0, abs=1e-5)
    assert origin["kernel_init"] == "difference"
    again, _ = prepare_model("vivit-micro", LABELS, TrainOptions(kernel_init="difference", seed=3))
    assert torch.equal(again.model.patch_embed.proj.weight, embed.proj.weight)  # seeded
    plain, _ = prepare_model("vivit-micro", LABELS, TrainOptions(seed=3))
    assert plain.model.patch_embed(still)[..., :moving].abs().max() > 1e-3


def test_difference_kernel_init_is_refused_for_fine_tuning_and_single_frame_tubelets(tmp_path):
    path = vidclass.save_model(vidclass.create_model("vivit-micro", labels=LABELS, seed=0), tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="new model"):
        prepare_model(str(path), LABELS, TrainOptions(kernel_init="difference"))
    with pytest.raises(ValueError, match="2 or more frames"):
        vidclass.create_model(
            "vivit-micro", labels=LABELS, tubelet=(1, 8, 8)
        ).model.patch_embed.init_temporal_difference_()
    with pytest.raises(ValueError, match="kernel init"):
        TrainOptions(kernel_init="zeros")


def test_parse_tokenlearner_rejects_nonsense():
    assert parse_tokenlearner("8at6") == TokenLearnerConfig(num_tokens=8, location=6)
    with pytest.raises(ValueError, match="TOKENSatLAYER"):
        parse_tokenlearner("eight")


def test_lr_schedule_warms_up_then_follows_a_cosine():
    factors = [lr_factor(s, 100, 10, 0.01) for s in range(100)]
    assert factors[:3] == [0.1, 0.2, 0.3] and factors[9] == 1.0
    assert factors[10] == 1.0 and math.isclose(factors[55], 0.01 + 0.99 * 0.5, rel_tol=1e-9)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False))


def test_validation_split_is_stratified_and_seeded():
    labels = [0] * 10 + [1] * 10 + [2] * 3
    train_idx, val_idx = split_validation(labels, 0.2, seed=1)
    assert sorted(train_idx + val_idx) == list(range(23))
    assert [sum(labels[i] == c for i in val_idx) for c in range(3)] == [2, 2, 1]
    assert split_validation(labels, 0.2, seed=1) == (train_idx, val_idx)
    assert split_validation(labels, 0.2, seed=2) != (train_idx, val_idx)


def test_training_clips_are_deterministic_per_epoch_and_index(dataset):
    prep = vidclass.create_model("vivit-micro", labels=LABELS).preprocessing
    clips = TrainClips(samples_of(dataset), prep, Augment(), seed=3)
    first = clips[5][0]
    assert torch.equal(first, clips[5][0])
    clips.set_epoch(1)
    assert not torch.equal(first, clips[5][0])


def test_ranks_cover_each_epoch_like_one_process():
    n = 23
    single = _epoch_indices(n, 2, 0, Dist())
    ranks = [_epoch_indices(n, 2, 0, Dist(r, 2)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 11
    assert set(ranks[0]).isdisjoint(ranks[1]) and set(ranks[0]) | set(ranks[1]) <= set(single)
    batches_single = [set(single[i : i + 4]) for i in range(0, 20, 4)]
    batches_ddp = [set(ranks[0][i : i + 2]) | set(ranks[1][i : i + 2]) for i in range(0, 10, 2)]
    assert batches_single == batches_ddp  # the same global batches, split across processes


def test_cli_train_reports_epochs_as_json(dataset, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "train",
            str(dataset),
            "-o",
            str(tmp_path / "cli"),
            "-m",
            "vivit-micro",
            "--epochs",
            "1",
            "-b",
            "4",
            "--no-randaugment",
            "--val-fraction",
            "0.25",
            "--kernel-init",
            "difference",
            "-f",
            "json",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    card = read_model_card(tmp_path / "cli" / "model.safetensors")
    assert card.provenance["kernel_init"] == "difference" and card.provenance["recipe"]["kernel_init"] == "difference"
    doc = json.loads(result.stdout)
    assert doc["classes"] == sorted(LABELS) and len(doc["epochs"]) == 1
    assert doc["epochs"][0]["val_top1"] is not None
    bad = CliRunner().invoke(
        main, ["train", str(dataset), "-o", str(tmp_path / "x"), "-m", "vivit-micro", "--tokenlearner", "nope"]
    )
    assert bad.exit_code == 2 and "TOKENSatLAYER" in bad.stderr


def test_cli_train_option_defaults_and_choices_are_train_options():
    from vidclass.cli.train import train_command
    from vidclass.training.options import KERNEL_INITS, PRECISIONS

    params = {p.name: p for p in train_command.params}
    recipe = TrainOptions()
    shown = [name for name, p in params.items() if getattr(p, "show_default", False) and name in recipe.to_dict()]
    assert len(shown) == 15, shown  # every recipe option whose --help shows a default
    for name in shown:
        assert params[name].default == getattr(recipe, name), name
    assert tuple(params["precision"].type.choices) == PRECISIONS
    assert tuple(params["kernel_init"].type.choices) == KERNEL_INITS
    # --hflip turns on and --no-randaugment turns off what Augment leaves off and on.
    assert Augment().hflip is False and Augment().randaugment is True


@pytest.mark.skipif(
    shutil.which("torchrun") is None and not os.path.exists(os.path.join(os.path.dirname(sys.executable), "torchrun")),
    reason="torchrun is installed with torch",
)
def test_torchrun_two_cpu_processes(dataset, tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    out = tmp_path / "ddp"
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "vidclass",
        "train",
        str(dataset),
        "-o",
        str(out),
        "-m",
        "vivit-micro",
        "--epochs",
        "2",
        "-b",
        "4",
        "--no-randaugment",
        "--val-fraction",
        "0.25",
        "--device",
        "cpu",
        "-f",
        "json",
        "-q",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(json.loads(done.stdout)["epochs"]) == 2  # one document: rank 0's, not one per process
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]  # written once, by rank 0
    assert all(math.isfinite(r["train_loss"]) and r["val_top1"] is not None for r in records)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint", "metrics.jsonl", "model.safetensors"]
    assert records[-1]["step"] == 2 * (9 // 4)  # 9 training videos, global batch 4: the single-process count
    assert vidclass.load_model(out / "model.safetensors").labels == tuple(sorted(LABELS))
