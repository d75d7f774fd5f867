"""X3D as a first-class model family: the registry, model files (family entry, bit-exact round
trip, absurd configs refused before anything is built), pytorchvideo checkpoint conversion at
logit parity, predict end to end, and one ``error:`` line where X3D is not supported yet."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from torch import nn

from tests.cli import cli_in
from tests.videos import write_video
from vidclass.checkpoints import create_model, read_model_card, read_model_file, save_model
from vidclass.checkpoints.sources import MODEL_SOURCES, kinetics_labels
from vidclass.models import X3D, X3D_CONFIGS, describe_models

x3d_ref = pytest.importorskip("pytorchvideo.models.x3d")  # a dev dependency: always present in CI

LABELS = ["waving", "clapping", "jumping"]


@pytest.fixture
def run(tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    monkeypatch.setenv("VIDCLASS_CACHE", str(tmp_path / "cache"))
    return cli_in(tmp_path, monkeypatch)


def one_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def pytorchvideo_x3d(variant: str = "x3d-m", num_classes: int = 400) -> nn.Module:
    """pytorchvideo's X3D (``variant`` a registry name) with random weights and BatchNorm
    statistics that matter."""
    cfg = X3D_CONFIGS[variant][0]
    torch.manual_seed(0)
    model = x3d_ref.create_x3d(
        input_clip_length=cfg.num_frames,
        input_crop_size=cfg.crop_size,
        depth_factor=cfg.depth_factor,
        model_num_class=num_classes,
        head_activation=None,
    )
    for module in model.modules():
        if isinstance(module, nn.BatchNorm3d):
            module.running_mean.normal_(0.0, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="module")
def hub_file(tmp_path_factory):
    """An X3D-M checkpoint laid out as pytorchvideo's hub saves it (``checkpoint["model_state"]``
    is what ``pytorchvideo.models.hub.x3d`` loads), with a training run's other entries."""
    model = pytorchvideo_x3d()
    path = tmp_path_factory.mktemp("hub") / "X3D_M.pyth"
    torch.save({"model_state": model.state_dict(), "epoch": 300}, path)
    return path, model


# --------------------------------------------------------------------------- registry


def test_models_lists_the_x3d_variants_with_their_cost(run):
    result = run("models", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)["registry"]}
    for name, (cfg, _, _) in X3D_CONFIGS.items():
        row = rows[name]
        assert (row["family"], row["variant"], row["tubelet"]) == ("x3d", "x3d", None)
        assert row["input"] == [cfg.num_frames, cfg.crop_size, cfg.crop_size]
        assert row["depth_factor"] == cfg.depth_factor and row["width_factor"] == cfg.width_factor
        assert row["params"] == sum(p.numel() for p in X3D(cfg).parameters())
        assert row["gflops"] == pytest.approx(2 * row["gmacs"], abs=2e-3)
    assert rows["x3d-m"]["gmacs"] == pytest.approx(4.73, rel=0.02)  # PySlowFast's model zoo
    assert all(row["family"] == "vivit" for name, row in rows.items() if name.startswith("vivit"))
    table = run("models", "--format", "table")
    assert table.exit_code == 0 and "x3d-m" in table.stdout


def test_create_model_gives_an_x3d_with_a_head_for_the_labels():
    classifier = create_model("x3d-xs", labels=LABELS, seed=0, multi_label=True)
    assert isinstance(classifier.model, X3D) and classifier.family == "x3d"
    assert classifier.model.head.proj.out_features == 3 and classifier.multi_label
    prep = classifier.preprocessing
    assert (prep.num_frames, prep.crop_size) == (4, 182)  # the 3-crop test size: larger than the window
    with torch.no_grad():
        assert classifier.model(torch.zeros(1, 3, 4, 182, 182)).shape == (1, 3)
    assert [row["name"] for row in describe_models() if row["family"] == "x3d"] == [
        *X3D_CONFIGS,
        "x3d-micro",
        "x3d-micro-tl4",
    ]


# --------------------------------------------------------------------------- model files


def test_an_x3d_model_file_round_trips_bit_exactly(tmp_path, run):
    classifier = create_model("x3d-xs", labels=LABELS, seed=3)
    for module in classifier.model.modules():  # statistics and counters that must travel too
        if isinstance(module, nn.BatchNorm3d):
            module.running_mean.normal_()
            module.num_batches_tracked.fill_(7)
    path = save_model(classifier, tmp_path / "x3d.safetensors")
    loaded = read_model_file(path)
    assert isinstance(loaded.model, X3D) and loaded.config == classifier.config
    ours, theirs = classifier.model.state_dict(), loaded.model.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) and ours[k].dtype == theirs[k].dtype for k in ours)
    assert (loaded.labels, loaded.preprocessing, loaded.protocol) == (
        classifier.labels,
        classifier.preprocessing,
        classifier.protocol,
    )
    card = run("info", str(path), "--format", "json")
    assert card.exit_code == 0, card.output
    doc = json.loads(card.stdout)
    assert doc["family"] == "x3d" and doc["config"] == classifier.config.to_dict() and doc["labels"] == LABELS
    assert doc["params"] == sum(p.numel() for p in classifier.model.parameters())
    table = run("info", str(path), "--format", "table")
    assert table.exit_code == 0 and "depth factor 2.2" in table.stdout


def test_a_vivit_model_file_has_no_family_entry(tmp_path):
    path = save_model(create_model("vivit-micro", labels=LABELS, seed=0), tmp_path / "v.safetensors")
    size = struct.unpack("<Q", path.read_bytes()[:8])[0]
    metadata = json.loads(path.read_bytes()[8 : 8 + size])["__metadata__"]
    assert "family" not in metadata  # files as they were written before X3D
    assert read_model_card(path).to_dict()["family"] == "vivit"


def _rewrite_metadata(path, **changes):
    """The model file at ``path`` with metadata entries changed (tensors as they were)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    metadata.update(changes)
    save_file(tensors, str(path), metadata=metadata)


@pytest.mark.parametrize(
    "change",
    [{"depth_factor": 1e9}, {"width_factor": 1e9}, {"num_frames": 10**9}, {"crop_size": 10**9}],
    ids=["depth", "width", "frames", "crop"],
)
def test_an_absurd_x3d_config_is_one_error_line_before_anything_is_built(tmp_path, run, change):
    path = save_model(create_model("x3d-xs", labels=LABELS, seed=0), tmp_path / "x3d.safetensors")
    config = {**create_model("x3d-xs", labels=LABELS).config.to_dict(), **change}
    _rewrite_metadata(path, config=json.dumps(config))
    (key,) = change
    for args in (["info", str(path)], ["predict", "-m", str(path), "clip.mp4"]):
        assert key in one_error(run(*args))


def test_an_x3d_config_larger_than_its_tensors_is_refused_by_the_parameter_budget(tmp_path, run):
    path = save_model(create_model("x3d-xs", labels=LABELS, seed=0), tmp_path / "x3d.safetensors")
    config = {**create_model("x3d-xs", labels=LABELS).config.to_dict(), "depth_factor": 8.0, "width_factor": 8.0}
    _rewrite_metadata(path, config=json.dumps(config))
    assert "refused before building it" in one_error(run("predict", "-m", str(path), "clip.mp4"))


def test_an_unknown_family_is_one_error_line(tmp_path, run):
    path = save_model(create_model("x3d-xs", labels=LABELS, seed=0), tmp_path / "x3d.safetensors")
    _rewrite_metadata(path, family="resnet")
    assert "family" in one_error(run("info", str(path)))
    _rewrite_metadata(path, family="vivit")  # X3D tensors and config read as a ViViT's
    assert "config" in one_error(run("info", str(path)))


# --------------------------------------------------------------------------- pytorchvideo checkpoints


def test_a_pytorchvideo_checkpoint_converts_at_logit_parity(hub_file, tmp_path, run):
    source, reference = hub_file
    out = tmp_path / "m.safetensors"
    result = run("convert", str(source), "-o", str(out), "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["format"], summary["variant"], summary["classes"]) == ("pytorchvideo", "x3d", 400)
    assert summary["protocol"] == {"clips": 10, "crops": 3, "aggregate": "softmax"}
    classifier = read_model_file(out)
    assert classifier.labels == tuple(kinetics_labels(400))
    assert classifier.provenance["conversion"] == {"variant": "x3d-m"}
    assert classifier.preprocessing == X3D_CONFIGS["x3d-m"][1]
    torch.manual_seed(1)
    for size in (224, 256):  # the head's window, and the 3-crop test size (several windows)
        video = torch.randn(1, 3, 16, size, size)
        with torch.no_grad():
            expected, got = reference(video), classifier.model(video)
        assert (got - expected).abs().max().item() <= 1e-5


def test_a_converted_x3d_predicts_end_to_end(hub_file, tmp_path, run):
    source, _ = hub_file
    out = tmp_path / "m.safetensors"
    assert run("convert", str(source), "-o", str(out)).exit_code == 0
    write_video(tmp_path / "clip.mp4", num_frames=30, fps=30, width=64, height=48)
    result = run("predict", "-m", str(out), "clip.mp4", "--clips", "1", "--crops", "1", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["ok"] and record["views"] == 1 and len(record["labels"]) == 5
    assert all(label["label"] in kinetics_labels(400) for label in record["labels"])


def test_the_variant_comes_from_the_file_name_or_variant(hub_file, tmp_path, run):
    source, _ = hub_file
    anonymous = tmp_path / "weights.pyth"
    anonymous.write_bytes(source.read_bytes())
    out = tmp_path / "m.safetensors"
    message = one_error(run("convert", str(anonymous), "-o", str(out)))
    assert "x3d-xs, x3d-s, x3d-m" in message and "--variant" in message
    result = run("convert", str(anonymous), "-o", str(out), "--variant", "x3d-s", "--format", "json")
    assert result.exit_code == 0, result.output
    assert read_model_file(out).preprocessing == X3D_CONFIGS["x3d-s"][1]
    assert "not an X3D variant" in one_error(run("convert", str(anonymous), "-o", str(out), "--variant", "spacetime"))


def test_a_pytorchvideo_checkpoint_of_no_known_variant_is_refused(tmp_path, run):
    state = pytorchvideo_x3d().state_dict()
    state.pop("blocks.3.res_blocks.10.branch2.conv_a.weight")  # a tensor short of every variant
    path = tmp_path / "X3D_M.pyth"
    torch.save({"model_state": state}, path)
    assert "match no X3D variant" in one_error(run("convert", str(path), "-o", str(tmp_path / "o.safetensors")))
    named = one_error(run("convert", str(path), "-o", str(tmp_path / "o.safetensors"), "--variant", "x3d-m"))
    assert "blocks.3.res_blocks.10.branch2.conv_a.weight" in named


def test_a_pytorch_file_without_model_state_still_says_what_it_is(tmp_path, run):
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pyth")
    message = one_error(run("convert", "other.pyth", "-o", "o.safetensors"))
    assert message.endswith(MODEL_SOURCES) and "a PyTorch weights file" in message


# --------------------------------------------------------------------------- not supported yet


@pytest.fixture
def x3d_file(tmp_path):
    path = save_model(create_model("x3d-xs", labels=LABELS, seed=0), tmp_path / "x3d.safetensors")
    for label in LABELS:
        for i in range(2):
            write_video(tmp_path / "data" / label / f"{i}.mp4", num_frames=12, fps=30, width=32, height=32)
    write_video(tmp_path / "clip.mp4", num_frames=30, fps=30, width=64, height=48)
    return path


def test_explain_refuses_an_x3d_with_one_line(x3d_file, run):
    message = one_error(run("explain", "-m", str(x3d_file), "clip.mp4", "-o", "maps"))
    assert "x3d" in message and "not supported yet" in message


def test_init_from_an_image_vit_refuses_an_x3d_configuration(tmp_path, run):
    (tmp_path / "labels.txt").write_text("\n".join(LABELS))
    torch.save({"weight": torch.zeros(2)}, tmp_path / "vit.pth")
    message = one_error(run("convert", "vit.pth", "-o", "o.safetensors", "--init", "x3d-m", "--labels", "labels.txt"))
    assert "ViViT configurations only" in message
