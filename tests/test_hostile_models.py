"""Hostile models: model files and foreign checkpoints whose values are out of bounds, a model path
that is a pipe or a device, a mistyped ``train -m``, and bad videos while training.

Every bad model is one ``error:`` line naming the file and the field, exit 2, before anything is
built; a bad training video is one ``error:`` line, once, and training goes on (exit 1).
"""

from __future__ import annotations

import json
import math
import os
import resource
import struct
import subprocess
import sys
from pathlib import Path

import msgpack
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

import vidclass
from tests.videos import write_video
from vidclass.checkpoints import ModelFileError
from vidclass.checkpoints.convert.common import ConversionError
from vidclass.cli.main import main
from vidclass.models import TokenLearnerConfig, build_network, family_of, get_entry, list_models
from vidclass.protocol import Preprocessing, ViewProtocol
from vidclass.training import TrainOptions, train

LABELS = ["left", "right"]
NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", num_frames=12, width=48, height=48)


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    classifier = vidclass.create_model("vivit-micro", labels=LABELS, seed=0)
    return vidclass.save_model(classifier, tmp_path_factory.mktemp("model") / "good.safetensors")


def edited(good: Path, out: Path, section: str, value: object = None, **changes: object) -> Path:
    """A copy of ``good`` whose metadata ``section`` has ``changes`` (or is ``value``)."""
    tensors = load_file(str(good))
    raw = good.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    meta = json.loads(raw[8 : 8 + size])["__metadata__"]
    if changes:
        meta[section] = json.dumps({**json.loads(meta[section]), **changes})
    else:
        meta[section] = json.dumps(value)
    save_file(tensors, str(out), metadata=meta)
    return out


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def assert_one_usage_error(result, *names: str) -> str:
    """Exit 2, nothing on stdout, and stderr is exactly one ``error:`` line naming ``names``."""
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


# --------------------------------------------------------------------------- model-file values

BAD_VALUES = [
    ("config", "num_layers", {"num_layers": 10**9}),
    ("preprocessing", "resize_size", {"resize_size": 2000}),
    ("config", "num_heads", {"num_heads": 0}),
    ("config", "num_heads", {"num_heads": -4}),
    ("config", "hidden_size", {"hidden_size": -64}),
    ("config", "mlp_dim", {"mlp_dim": -128}),
    ("config", "num_layers", {"num_layers": 2.5}),
    ("config", "num_classes", {"num_classes": True}),
    ("config", "dropout", {"dropout": 2.0}),
    ("preprocessing", "mean", {"mean": [NAN, 0.5, 0.5]}),
    ("config", "layer_norm_eps", {"layer_norm_eps": NAN}),
    ("preprocessing", "target_fps", {"target_fps": INF}),
    ("config", "tubelet", {"tubelet": [2, 8, "8"]}),
    ("config", "qkv_bias", {"qkv_bias": "yes"}),
    ("config", "variant", {"variant": "__import__"}),
    ("config", "tokenlearner", {"tokenlearner": [4, 1]}),
    ("preprocessing", "std", {"std": [0.5, 0.0, 0.5]}),
    ("preprocessing", "frame_stride", {"frame_stride": 10**9}),
    ("protocol", "clips", {"clips": 10**6}),
    ("protocol", "crops", {"crops": True}),
]


@pytest.mark.parametrize(("section", "field", "changes"), BAD_VALUES, ids=[f"{c}" for c in BAD_VALUES])
def test_a_model_file_value_out_of_bounds_is_one_error_line_naming_the_field(
    good_model, clip, tmp_path, section, field, changes
):
    bad = edited(good_model, tmp_path / "bad.safetensors", section, **changes)
    result = CliRunner().invoke(main, ["predict", "--model", str(bad), str(clip)])
    assert_one_usage_error(result, str(bad), field)
    with pytest.raises(ModelFileError, match=field):
        vidclass.load_model(bad)


@pytest.mark.parametrize("labels", [["left", "left"], ["left", ""], ["left", "right\nerror: forged"], ["left", 2]])
def test_labels_must_be_distinct_one_line_strings(good_model, clip, tmp_path, labels):
    bad = edited(good_model, tmp_path / "bad.safetensors", "labels", labels)
    result = CliRunner().invoke(main, ["predict", "--model", str(bad), str(clip)])
    assert_one_usage_error(result, str(bad), "label")
    with pytest.raises(ModelFileError, match="label"):
        vidclass.checkpoints.read_model_card(bad)
    if all(isinstance(label, str) for label in labels):  # create_model takes str() of each label
        with pytest.raises(ValueError, match="label"):
            vidclass.create_model("vivit-micro", labels=labels)


def test_a_config_that_implies_far_more_parameters_than_the_file_stores_is_refused(good_model, clip, tmp_path):
    bad = edited(good_model, tmp_path / "bad.safetensors", "config", num_layers=100, mlp_dim=4096)
    result = CliRunner().invoke(main, ["predict", "--model", str(bad), str(clip)])
    assert_one_usage_error(result, str(bad), "parameters")


def test_non_finite_weights_are_refused(good_model, tmp_path):
    tensors = load_file(str(good_model))
    tensors["head.bias"][0] = NAN
    raw = good_model.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    bad = tmp_path / "nan.safetensors"
    save_file(tensors, str(bad), metadata=json.loads(raw[8 : 8 + size])["__metadata__"])
    with pytest.raises(ModelFileError, match="head.bias"):
        vidclass.load_model(bad)


def _vm_size_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1])
    raise AssertionError("no VmSize")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_billion_layers_is_refused_before_any_memory_is_allocated(good_model, clip, tmp_path):
    """It grew to 8 GB until it was killed. The command now runs with its address space capped at
    what this torch-importing test process maps plus 2 GB, and is refused (exit 2) well within it."""
    bad = edited(good_model, tmp_path / "bad.safetensors", "config", num_layers=10**9)
    cap = (max(_vm_size_kb(), 4 << 20) + (2 << 20)) * 1024

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    done = subprocess.run(
        [sys.executable, "-m", "vidclass", "predict", "--model", str(bad), str(clip)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
        env={**os.environ, "VIDCLASS_MODEL": ""},
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(error_lines(done.stderr)) == 1 and "num_layers" in done.stderr and "Traceback" not in done.stderr


def test_the_records_check_type_range_and_finiteness_for_library_callers():
    base = get_entry("vivit-micro").config
    for changes in (
        {"num_layers": 10**9},
        {"num_layers": 2.5},
        {"num_classes": True},
        {"num_heads": 0},
        {"hidden_size": -64},
        {"layer_norm_eps": NAN},
        {"drop_path": 1.0},
        {"representation_size": 0},
        {"image_size": 4096},
        {"tubelet": (2, 8)},
        {"num_frames": 256, "image_size": 1024, "tubelet": (1, 8, 8)},  # 4M tokens per view
    ):
        with pytest.raises(ValueError):
            base.replace(**changes)
    with pytest.raises(ValueError):
        TokenLearnerConfig(fuse="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TokenLearnerConfig(num_tokens=10**6)
    for changes in ({"resize_size": 2000}, {"target_fps": INF}, {"mean": (NAN, 0, 0)}, {"std": (1e-30, 1, 1)}):
        with pytest.raises(ValueError):
            Preprocessing(**changes)  # type: ignore[arg-type]
    for changes in ({"clips": 10**6}, {"crops": 2}, {"clips": 1.0}):
        with pytest.raises(ValueError):
            ViewProtocol(**changes)  # type: ignore[arg-type]
    # What is in bounds is normalised to the declared types: a JSON int for a float, lists for tuples.
    prep = Preprocessing(num_frames=8, resize_size=36, crop_size=32, target_fps=8, mean=[0, 0, 0])  # type: ignore[arg-type]
    assert prep.target_fps == 8.0 and isinstance(prep.target_fps, float) and prep.mean == (0.0, 0.0, 0.0)


def test_the_parameter_count_is_computed_without_building_the_model():
    configs = [get_entry(name).config for name in list_models()]
    micro = get_entry("vivit-micro").config
    for version in ("v1.0", "v1.1"):
        for fuse in (False, True):
            tl = TokenLearnerConfig(num_tokens=3, location=0, version=version, fuse=fuse, bottleneck_dim=7)
            for variant in ("spacetime", "factorized_encoder", "factorized_self_attention"):
                configs.append(micro.replace(variant=variant, classifier="gap", tokenlearner=tl))
    configs += [micro.replace(qkv_bias=False, representation_size=24, variant="factorized_encoder", temporal_heads=2)]
    for cfg in configs:  # every family's count, from its config alone (models.families)
        with torch.device("meta"):
            built = sum(p.numel() for p in build_network(cfg).parameters())
        assert family_of(cfg).params(cfg) == built, cfg
    assert {family_of(cfg).name for cfg in configs} == {"vivit", "x3d"}


# --------------------------------------------------------------------------- foreign checkpoints

HF_CONFIG = {
    "model_type": "vivit",
    "num_frames": 8,
    "image_size": 32,
    "tubelet_size": [2, 8, 8],
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "id2label": {"0": "left", "1": "right"},
}


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({**HF_CONFIG, "num_attention_heads": 0}, "num_attention_heads"),
        ({**HF_CONFIG, "num_attention_heads": 5}, "num_attention_heads"),
        ({**HF_CONFIG, "num_hidden_layers": "2"}, "num_hidden_layers"),
        ({**HF_CONFIG, "num_hidden_layers": 10**9}, "num_hidden_layers"),
        ({**HF_CONFIG, "tubelet_size": 8}, "tubelet_size"),
        ({**HF_CONFIG, "hidden_act": ["gelu"]}, "hidden_act"),
        ({**HF_CONFIG, "id2label": ["left", "right"]}, "id2label"),
        ({**HF_CONFIG, "id2label": {"0": "left", "1": "left"}}, "id2label"),
        ([HF_CONFIG], "config.json"),
    ],
)
def test_a_hugging_face_config_json_out_of_bounds_is_one_error_line(clip, tmp_path, monkeypatch, config, named):
    monkeypatch.setenv("VIDCLASS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"")  # the config is refused before the weights are read
    result = CliRunner().invoke(main, ["predict", "--model", str(folder), str(clip)])
    assert_one_usage_error(result, str(folder), named)
    with pytest.raises(ConversionError, match=named):
        vidclass.checkpoints.convert_source(folder)


def _ndarray(array: np.ndarray) -> msgpack.ExtType:
    return msgpack.ExtType(1, msgpack.packb([list(array.shape), array.dtype.name, array.tobytes()]))


@pytest.mark.parametrize(
    "tree",
    [
        {"__msgpack_chunked_array__": True},
        {"params": {"__msgpack_chunked_array__": True, "shape": 5, "chunks": {}}},
        {"params": {"w": {"__msgpack_chunked_array__": True, "shape": {"0": 4}, "chunks": {"0": 1}}}},
        {1: {"a": 2}, "params": {"x": 1}},
        {"params": {7: _ndarray(np.zeros(3, np.float32))}},
        {"params": msgpack.ExtType(1, b"\x01")},
        {"params": msgpack.ExtType(1, msgpack.packb([[10**12], "float32", b"abcd"]))},
        {"params": msgpack.ExtType(1, msgpack.packb([["x"], "float32", b"abcd"]))},
        {"params": msgpack.ExtType(1, msgpack.packb([[1], "object", b"abcdabcd"]))},
        {"params": {"embedding": {"kernel": _ndarray(np.zeros(3, np.float32))}}},
    ],
    ids=range(10),
)
def test_a_malformed_flax_msgpack_is_one_error_line(clip, tmp_path, monkeypatch, tree):
    monkeypatch.setenv("VIDCLASS_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "checkpoint.msgpack"
    path.write_bytes(msgpack.packb(tree, use_bin_type=True))
    result = CliRunner().invoke(main, ["predict", "--model", str(path), str(clip)])
    assert_one_usage_error(result, str(path))


def test_a_deeply_nested_msgpack_is_one_error_line(clip, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLASS_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "checkpoint.msgpack"
    path.write_bytes(b"\x81\xa1a" * 1000 + b"\xc0")  # {"a": {"a": ... 1000 deep ... None}}
    result = CliRunner().invoke(main, ["predict", "--model", str(path), str(clip)])
    assert_one_usage_error(result, str(path))


# --------------------------------------------------------------------------- model paths that are no model


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize("command", ["predict", "train", "convert"])
def test_a_model_path_that_is_a_pipe_or_a_device_is_refused_without_reading_it(clip, dataset, tmp_path, kind, command):
    """Run in a process of its own with a timeout: opening a FIFO to read it would block."""
    if kind == "fifo":
        model = tmp_path / "model.safetensors"
        os.mkfifo(model)
    else:
        model = Path("/dev/zero")
    args = {
        "predict": ["predict", "--model", str(model), str(clip)],
        "train": ["train", str(dataset), "-o", str(tmp_path / "run"), "-m", str(model), "-b", "2"],
        "convert": ["convert", str(model), "-o", str(tmp_path / "out.safetensors")],
    }[command]
    env = {**os.environ, "VIDCLASS_CACHE": str(tmp_path / "cache"), "VIDCLASS_MODEL": ""}
    done = subprocess.run(
        [sys.executable, "-m", "vidclass", *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"error: {model}: not a regular file"), done.stderr


def _dataset(root: Path, bad: dict[str, str]) -> Path:
    for label in LABELS:
        for k in range(3):
            write_video(root / label / f"{label}_{k}.mp4", num_frames=12, width=40, height=40)
    for name, content in bad.items():
        (root / name).write_text(content)
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return _dataset(tmp_path_factory.mktemp("data"), {})


@pytest.mark.parametrize("spec", ["vivit-tiyn", "no/such/dir", "./nothing.safetensors"])
def test_train_with_a_bad_model_is_one_error_line(dataset, tmp_path, spec):
    result = CliRunner().invoke(main, ["train", str(dataset), "-o", str(tmp_path / "run"), "-m", spec, "-b", "2"])
    assert_one_usage_error(result, spec)
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- bad training videos

QUICK = ["--epochs", "2", "-b", "2", "--no-randaugment", "--device", "cpu", "-f", "json", "-m", "vivit-micro"]


def test_train_reports_each_bad_video_once_and_exits_1_with_the_model_written(tmp_path):
    data = _dataset(tmp_path / "data", {"left/broken.mp4": "not a video", "right/empty.mp4": ""})
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(data), "-o", str(out), "--val-fraction", "0", *QUICK])
    assert result.exit_code == 1, (result.output, result.exception)
    lines = error_lines(result.stderr)
    assert sorted(lines) == sorted(
        [line for line in lines if line.startswith(f"error: {data / 'left' / 'broken.mp4'}: ")]
        + [line for line in lines if line.startswith(f"error: {data / 'right' / 'empty.mp4'}: ")]
    )
    assert len(lines) == 2, result.stderr  # two epochs, each bad video once
    doc = json.loads(result.stdout)
    assert [epoch["failed"] for epoch in doc["epochs"]] == [2, 2]
    assert vidclass.load_model(out / "model.safetensors").labels == tuple(LABELS)


def test_train_reports_a_bad_validation_video_once(dataset, tmp_path):
    data = dataset
    val = _dataset(tmp_path / "val", {"right/broken.mp4": "not a video"})
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(data), "-o", str(out), "--val", str(val), *QUICK])
    assert result.exit_code == 1, (result.output, result.exception)
    assert [line.split(": ")[1] for line in error_lines(result.stderr)] == [str(val / "right" / "broken.mp4")]
    assert [epoch["val_failed"] for epoch in json.loads(result.stdout)["epochs"]] == [1, 1]
    assert (out / "model.safetensors").is_file()


def test_train_with_no_decodable_video_is_one_line_per_video_then_exit_2(tmp_path):
    data = tmp_path / "data"
    for label in LABELS:
        (data / label).mkdir(parents=True)
        (data / label / "x.mp4").write_text("junk")
        (data / label / "y.mp4").write_text("junk")
    result = CliRunner().invoke(main, ["train", str(data), "-o", str(tmp_path / "run"), "--val-fraction", "0", *QUICK])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = error_lines(result.stderr)
    assert len(lines) == 5 and "Traceback" not in result.stderr
    assert sorted(line.split(": ")[1] for line in lines[:4]) == sorted(str(p) for p in data.rglob("*.mp4"))
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_the_library_hands_each_bad_video_to_on_failure_once(tmp_path):
    data = _dataset(tmp_path / "data", {"left/broken.mp4": "not a video"})
    samples = [(str(p), LABELS.index(p.parent.name)) for p in sorted(data.rglob("*.mp4"))]
    seen: list[tuple[str, str]] = []
    options = TrainOptions(epochs=2, batch_size=2, val_fraction=0.0, seed=0)
    result = train(
        samples,
        LABELS,
        tmp_path / "run",
        "vivit-micro",
        options,
        device="cpu",
        on_failure=lambda p, r: seen.append((p, r)),
    )
    broken = str(data / "left" / "broken.mp4")
    assert [path for path, _ in seen] == [broken] and seen[0][1]
    assert result.failed == dict(seen)
    assert all(math.isfinite(r.train_loss) for r in result.records)


@pytest.mark.skipif(not os.path.exists(os.path.join(os.path.dirname(sys.executable), "torchrun")), reason="torchrun")
def test_under_torchrun_rank_0_reports_every_process_s_bad_videos_once(tmp_path):
    data = _dataset(tmp_path / "data", {"left/broken.mp4": "not a video", "right/empty.mp4": ""})
    out = tmp_path / "run"
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "vidclass", "train", str(data), "-o", str(out)]
    cmd += ["--val-fraction", "0", "-q", *QUICK]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode != 0  # each process exits 1; torchrun reports that as a failure of its own
    reported = sorted(line.split(": ")[1] for line in error_lines(done.stderr))
    assert reported == sorted([str(data / "left" / "broken.mp4"), str(data / "right" / "empty.mp4")]), done.stderr
    assert vidclass.load_model(out / "model.safetensors").labels == tuple(LABELS)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["failed"] for r in records] == [2, 2]
