"""Training X3D and X3D-TL: from scratch, fine-tuning a converted X3D (a new head, a TokenLearner
block that starts as the identity), the training crop, precise BatchNorm statistics, exact
resume, the options X3D has not got, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import vidclass
from tests.videos import level_pattern as flat
from tests.videos import write_video
from vidclass.cli.main import main
from vidclass.data.training import Augment
from vidclass.distributed import Group
from vidclass.models.tokenlearner_block import BottleneckAttention, TokenLearnerBottleneckConfig
from vidclass.training import Trainer, TrainOptions, parse_x3d_tokenlearner, prepare_model, train
from vidclass.training.batches import evaluate_clips
from vidclass.training.precise_bn import batchnorm_layers, update_bn_stats

LABELS = ["dark", "mid", "bright"]
LEVELS = {"dark": 30, "mid": 120, "bright": 220}
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("x3d-set")
    for label in LABELS:
        for k in range(4):
            write_video(
                root / label / f"{label}_{k}.mp4",
                num_frames=12,
                width=80,
                height=80,
                pattern=flat(LEVELS[label] + 4 * k),
            )
    return root


def samples_of(root):
    return [(str(root / label / f"{label}_{k}.mp4"), i) for i, label in enumerate(LABELS) for k in range(4)]


QUICK = TrainOptions(
    epochs=4,
    batch_size=4,
    lr=1e-2,
    warmup_epochs=0.5,
    val_fraction=0.0,
    label_smoothing=0.0,
    augment=Augment(randaugment=False),
    seed=0,
)


def loss_of(classifier, samples):
    loss, top1, _ = evaluate_clips(
        classifier.model, samples, classifier.preprocessing, 4, 0, CPU, None, Group.solo(CPU), 3
    )
    return loss, top1


def test_x3d_trains_from_scratch_and_evaluates_with_its_recomputed_statistics(dataset, tmp_path):
    samples = samples_of(dataset)
    before = vidclass.create_model("x3d-micro", labels=LABELS, seed=0)
    loss0, _ = loss_of(before, samples)
    result = train(samples, LABELS, tmp_path / "run", "x3d-micro", QUICK, device="cpu")
    loss1, top1 = loss_of(result.classifier, samples)
    assert loss1 < 0.7 * loss0 and top1 > 0.5, (loss0, loss1, top1)  # in eval mode: with the running statistics
    loaded = vidclass.load_model(tmp_path / "run" / "model.safetensors")
    assert loaded.config == before.config and loaded.labels == tuple(LABELS)
    assert loaded.provenance["recipe"]["precise_bn"] == 200


def test_without_precise_statistics_the_running_averages_lag_the_weights(dataset, tmp_path):
    """What precise BN is for: the same run with it off evaluates worse than the trained weights do."""
    samples = samples_of(dataset)
    off = TrainOptions(**{**QUICK.to_dict(), "precise_bn": 0, "augment": Augment(randaugment=False)})
    result = train(samples, LABELS, tmp_path / "off", "x3d-micro", off, device="cpu")
    lagging, _ = loss_of(result.classifier, samples)
    update_bn_stats(result.classifier.model, _clips(result.classifier, samples), 10, CPU, None, Group.solo(CPU))
    precise, _ = loss_of(result.classifier, samples)
    assert precise < lagging, (precise, lagging)


def _clips(classifier, samples):
    """Training-crop batches of 4 centre clips, each batch of several classes."""
    from vidclass.data.training import EvalClips, drop_failed

    prep = vidclass.models.family_of(classifier.config).train_input(classifier.config, classifier.preprocessing)
    order = [i for start in range(4) for i in range(start, len(samples), 4)]  # mixed classes, as training's batches
    items = [EvalClips(samples, prep)[i] for i in order]
    return [drop_failed(items[i : i + 4]) for i in range(0, len(items), 4)]


def test_precise_statistics_are_the_mean_of_the_batches_statistics(dataset):
    """Each layer's running mean is the average of its input's per-batch channel means, and its
    running variance the average of the per-batch (unbiased) variances, with the final weights."""
    classifier = vidclass.create_model("x3d-micro", labels=LABELS, seed=1)
    net = classifier.model
    batches = _clips(classifier, samples_of(dataset))
    layer = batchnorm_layers(net)[3]
    seen = []
    handle = layer.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    counter = layer.num_batches_tracked.clone()
    used = update_bn_stats(net, batches, 2, CPU, None, Group.solo(CPU))
    handle.remove()
    assert used == 2 and len(seen) == 2  # the limit: two of the three batches
    means = torch.stack([x.mean(dim=(0, 2, 3, 4)) for x in seen])
    variances = torch.stack([x.transpose(0, 1).flatten(1).var(dim=1, unbiased=True) for x in seen])
    torch.testing.assert_close(layer.running_mean, means.mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer.running_var, variances.mean(0), rtol=1e-5, atol=1e-6)
    assert layer.momentum == 0.1 and torch.equal(layer.num_batches_tracked, counter) and not net.training
    # nothing decoded: the statistics stay as they were (not reset ones); a model without BatchNorm: nothing to do
    state = {k: v.clone() for k, v in net.state_dict().items()}
    assert update_bn_stats(net, [(None, None, [("x.mp4", "broken")])], 5, CPU, None, Group.solo(CPU)) == 0
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    vivit = vidclass.create_model("vivit-micro", labels=LABELS, seed=0).model
    assert update_bn_stats(vivit, batches, 5, CPU, None, Group.solo(CPU)) == 0


def test_x3d_trains_at_its_training_crop_and_validates_at_its_test_crop(dataset, tmp_path):
    trainer = Trainer(samples_of(dataset), LABELS, tmp_path / "t", "x3d-micro", QUICK, device="cpu")
    trainer.group = Group.solo(CPU)
    trainer._setup()
    clip, target, failures = trainer.dataset[0]
    assert clip.shape == (3, 4, 64, 64) and not failures  # the config's crop, the head's one window
    assert trainer.classifier.preprocessing.crop_size == 72  # evaluation keeps the model's 3-crop size


def test_a_converted_x3d_fine_tunes_with_a_new_projection_only(tmp_path):
    source = vidclass.create_model("x3d-micro", labels=["a", "b", "c", "d"], seed=5)
    path = vidclass.save_model(source, tmp_path / "x3d.safetensors")
    model, origin = prepare_model(str(path), LABELS, TrainOptions(dropout=0.2))
    assert sorted(origin["newly_initialised"]) == ["blocks.5.proj.bias", "blocks.5.proj.weight"]
    assert model.config.dropout == 0.2 and model.config.num_classes == 3
    old = source.model.state_dict()
    assert all(torch.equal(v, old[k]) for k, v in model.model.state_dict().items() if ".proj." not in k)


def test_a_tokenlearner_block_inserted_into_a_converted_x3d_starts_as_the_identity(tmp_path):
    source = vidclass.create_model("x3d-micro", labels=LABELS, seed=5)
    path = vidclass.save_model(source, tmp_path / "x3d.safetensors")
    model, origin = prepare_model(str(path), LABELS, TrainOptions(), tokenlearner="4at3,mhsa,layers=2")
    block = model.config.tokenlearner
    assert (block.num_tokens, block.attention, block.layers, model.config.tokenlearner_after) == (4, "mhsa", 2, 3)
    assert origin["newly_initialised"] and all(k.startswith("tokenlearner.") for k in origin["newly_initialised"])
    clip = torch.randn(2, 3, 4, 72, 72)
    with torch.no_grad():
        torch.testing.assert_close(model.model.eval()(clip), source.model.eval()(clip), rtol=0, atol=0)
    # the library's typed form: a block after the last stage (the paper's place)
    typed, _ = prepare_model(str(path), LABELS, TrainOptions(), tokenlearner=TokenLearnerBottleneckConfig(num_tokens=2))
    assert typed.config.tokenlearner_after == 4 and typed.config.tokenlearner.num_tokens == 2


def test_x3d_tl_trains_and_its_loss_decreases(dataset, tmp_path):
    samples = samples_of(dataset)
    before = vidclass.create_model("x3d-micro-tl4", labels=LABELS, seed=0)
    loss0, _ = loss_of(before, samples)
    result = train(samples, LABELS, tmp_path / "tl", "x3d-micro-tl4", QUICK, device="cpu")
    loss1, _ = loss_of(result.classifier, samples)
    assert loss1 < 0.9 * loss0, (loss0, loss1)
    assert [r.train_loss for r in result.records][-1] < result.records[0].train_loss
    trained, initial = result.classifier.model.state_dict(), before.model.state_dict()
    assert not torch.equal(trained["tokenlearner.fuser.mix.weight"], initial["tokenlearner.fuser.mix.weight"])


def test_x3d_resume_continues_exactly(dataset, tmp_path):
    samples = samples_of(dataset)
    options = TrainOptions(**{**QUICK.to_dict(), "epochs": 2, "dropout": 0.3, "augment": Augment(randaugment=True)})
    straight = train(samples, LABELS, tmp_path / "a", "x3d-micro-tl4", options, device="cpu")

    class Stop(Exception):
        pass

    def stop(record):
        raise Stop

    with pytest.raises(Stop):
        train(samples, LABELS, tmp_path / "b", "x3d-micro-tl4", options, device="cpu", on_epoch=stop)
    resumed = train(samples, LABELS, tmp_path / "b", "x3d-micro-tl4", options, device="cpu", resume=True)
    a, b = straight.classifier.model.state_dict(), resumed.classifier.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights or statistics differ from an uninterrupted run"


def test_parse_x3d_tokenlearner():
    block, stage = parse_x3d_tokenlearner("8at4")
    assert stage == 4 and block == TokenLearnerBottleneckConfig(num_tokens=8)
    block, stage = parse_x3d_tokenlearner("16at2+fuser, v1.1 ,MHSA")
    assert (block.num_tokens, block.learner.value, block.attention, stage) == (16, "v1.1", BottleneckAttention.MHSA, 2)
    for bad, match in (("8at5", "stages 1-4"), ("8at4,fast", "unknown option 'fast'"), ("eight", "TOKENSatSTAGE")):
        with pytest.raises(ValueError, match=match):
            parse_x3d_tokenlearner(bad)


@pytest.mark.parametrize(
    "args",
    [
        ["--drop-path", "0.1"],
        ["--kernel-init", "difference"],
        ["--tokenlearner", "8at9"],
        ["--tokenlearner", "8at6+fuser,v1.0x"],
    ],
    ids=["drop-path", "kernel-init", "stage-9", "vivit-spec"],
)
def test_what_x3d_has_not_got_is_one_line(dataset, tmp_path, args):
    result = CliRunner().invoke(main, ["train", str(dataset), "-o", str(tmp_path / "x"), "-m", "x3d-micro", *args])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert not (tmp_path / "x").exists()


def test_cli_trains_a_multi_label_x3d_tl(dataset, tmp_path):
    import shutil

    root = shutil.copytree(dataset, tmp_path / "set")
    csv = root / "sets.csv"  # a label set per video: one label, or two for a video of each class
    rows = [
        f"{label}/{label}_{k}.mp4,{label}{';mid' if k == 0 and label != 'mid' else ''}"
        for label in LABELS
        for k in range(4)
    ]
    csv.write_text("path,labels\n" + "\n".join(rows) + "\n")
    args = ["train", str(csv), "-o", str(tmp_path / "ml"), "-m", "x3d-micro", "--tokenlearner", "2at4"]
    args += ["--epochs", "1", "-b", "4", "--no-randaugment", "--val-fraction", "0.25", "-f", "json", "--device", "cpu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["multi_label"] is True and doc["epochs"][0]["val_map"] is not None
    model = vidclass.load_model(tmp_path / "ml" / "model.safetensors")
    assert model.multi_label and model.config.tokenlearner.num_tokens == 2 and model.config.tokenlearner_after == 4


def test_torchrun_trains_an_x3d_with_statistics_averaged_over_processes(dataset, tmp_path):
    """Two CPU processes: each recomputes BatchNorm statistics on its own batches, then they are
    averaged, so both hold the same model; rank 0 writes it."""
    import os
    import subprocess
    import sys

    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    out = tmp_path / "ddp"
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "vidclass", "train", str(dataset), "-o", str(out)]
    cmd += ["-m", "x3d-micro-tl4", "--epochs", "1", "-b", "4", "--no-randaugment", "--val-fraction", "0.25"]
    cmd += ["--device", "cpu", "-f", "json", "-q"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    (record,) = json.loads(done.stdout)["epochs"]
    assert record["step"] == 9 // 4 and record["val_top1"] is not None and np.isfinite(record["val_loss"])
    model = vidclass.load_model(out / "model.safetensors")
    layers = batchnorm_layers(model.model)
    assert all(int(layer.num_batches_tracked) == 2 for layer in layers)  # the training steps, not the statistics pass
    fresh = batchnorm_layers(vidclass.create_model("x3d-micro-tl4", labels=LABELS, seed=0).model)
    assert all(not torch.equal(a.running_var, b.running_var) for a, b in zip(layers, fresh, strict=True))
