"""vidclass export: every model family and variant as an ONNX file that onnxruntime runs at any
batch size with torch's logits, its card in the file's metadata; the command's exit codes."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

import vidclass  # noqa: E402
from tests.cli import cli_in  # noqa: E402
from vidclass.checkpoints import ModelCard  # noqa: E402
from vidclass.export import ExportError, export_onnx, read_onnx_card  # noqa: E402
from vidclass.models.config import Classifier, TokenLearnerConfig, TokenLearnerVersion  # noqa: E402
from vidclass.models.tokenlearner_block import BottleneckAttention  # noqa: E402

TL = TokenLearnerConfig(num_tokens=4, location=1)
VARIANTS = {  # name -> (registry name, create_model's changes)
    "model1": ("vivit-micro", {}),
    "model2": ("vivit-micro-fe", {}),
    "model3": ("vivit-micro-fsa", {}),
    "model4": ("vivit-micro-fdp", {}),
    "tokenlearner-v1.1": ("vivit-micro-tl4at1", {}),
    "tokenlearner-v1.0": (
        "vivit-micro-tl4at1",
        {"tokenlearner": dataclasses.replace(TL, version=TokenLearnerVersion.V10)},
    ),
    "tokenlearner-v1.1-fuser": ("vivit-micro-tl4at1", {"tokenlearner": dataclasses.replace(TL, fuse=True)}),
    "tokenlearner-v1.0-fuser": (
        "vivit-micro-tl4at1",
        {"tokenlearner": dataclasses.replace(TL, version=TokenLearnerVersion.V10, fuse=True)},
    ),
    "model2-tokenlearner": ("vivit-micro-fe", {"classifier": Classifier.GAP, "tokenlearner": TL}),
    "x3d": ("x3d-micro", {}),
    "x3d-tl-vector": ("x3d-micro-tl4", {}),
    "x3d-tl-mhsa": ("x3d-micro-tl4", {"mhsa": True}),
    "multi-label": ("vivit-micro", {"multi_label": True}),
}


def make(name: str) -> vidclass.VideoClassifier:
    registered, changes = VARIANTS[name]
    changes = dict(changes)
    if changes.pop("mhsa", False):
        block = vidclass.create_model(registered).config.tokenlearner
        changes["tokenlearner"] = dataclasses.replace(block, attention=BottleneckAttention.MHSA)
    return vidclass.create_model(registered, labels=["a", "b", "c"], seed=0, **changes)


def run(path, video: torch.Tensor):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name, inp.type) == ("video", "logits", "tensor(float)")
    (logits,) = session.run(None, {"video": video.numpy()})
    return logits


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_runs_in_onnxruntime_with_torchs_logits_at_any_batch(name, tmp_path):
    classifier = make(name)
    path = export_onnx(classifier, tmp_path / "model.onnx")
    prep = classifier.preprocessing
    for batch in (1, 3):  # neither is the exporter's example batch: the axis is free
        video = torch.randn(
            batch, 3, prep.num_frames, prep.crop_size, prep.crop_size, generator=torch.Generator().manual_seed(batch)
        )
        with torch.no_grad():
            expected = classifier.model(video).numpy()
        logits = run(path, video)
        assert logits.shape == (batch, 3)
        assert abs(logits - expected).max() <= 1e-4
    assert read_onnx_card(path).to_dict() == ModelCard.of(classifier).to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temporary file left


@pytest.mark.parametrize("attention", ["vector", "mhsa"])
def test_x3d_tl_traces_with_a_free_batch_axis(attention):
    """torch.export itself (the exporter's first step) keeps the batch free: vector attention's
    query chunks, sized from the batch, would pin it to the example's (a guard on B)."""
    classifier = make("x3d-tl-vector" if attention == "vector" else "x3d-tl-mhsa")
    prep = classifier.preprocessing
    video = torch.zeros(2, 3, prep.num_frames, prep.crop_size, prep.crop_size)
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(classifier.model, (video,), dynamic_shapes=({0: batch},))
    ((low, high),) = [(r.lower, r.upper) for r in program.range_constraints.values()]
    assert low == 1 and high > 2**62  # no upper bound (int_oo)


@pytest.mark.parametrize("registered", ["x3d-xs", "x3d-s", "x3d-m", "x3d-l"])
def test_the_published_x3d_configurations_export_with_a_free_batch_axis(registered, tmp_path):
    import onnx

    classifier = vidclass.create_model(registered, labels=["a", "b"], seed=0)
    path = export_onnx(classifier, tmp_path / "x3d.onnx")
    graph = onnx.load(str(path)).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    prep = classifier.preprocessing
    assert dims[0].dim_param and not dims[0].dim_value  # symbolic
    assert [d.dim_value for d in dims[1:]] == [3, prep.num_frames, prep.crop_size, prep.crop_size]
    assert read_onnx_card(path).name == registered


def test_the_metadata_holds_the_card_as_json_strings(tmp_path):
    import onnx

    classifier = make("multi-label")
    path = export_onnx(classifier, tmp_path / "m.onnx")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["labels"]) == ["a", "b", "c"]
    assert json.loads(meta["multi_label"]) is True
    as_json = json.loads(json.dumps({"p": classifier.preprocessing.to_dict(), "v": classifier.protocol.to_dict()}))
    assert json.loads(meta["preprocessing"]) == as_json["p"]
    assert json.loads(meta["protocol"]) == as_json["v"]
    assert meta["name"] == "vivit-micro"
    assert json.loads(meta["provenance"])["created_from"] == "vivit-micro"


def test_the_library_refuses_an_existing_output_unless_overwrite(tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"mine")
    classifier = make("model1")
    with pytest.raises(ExportError):
        export_onnx(classifier, target)
    assert target.read_bytes() == b"mine"
    export_onnx(classifier, target, overwrite=True)
    assert read_onnx_card(target).name == "vivit-micro"
    assert vidclass.export_onnx is export_onnx


@pytest.fixture
def model_file(tmp_path):
    return vidclass.save_model(make("tokenlearner-v1.1"), tmp_path / "tl.safetensors")


def one_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_the_command_writes_the_file_and_reports_it(tmp_path, monkeypatch, model_file):
    invoke = cli_in(tmp_path, monkeypatch)
    result = invoke("export", str(model_file), "-o", "out.onnx", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # the exporter's own lines go nowhere
    doc = json.loads(result.stdout)
    assert doc["output"] == "out.onnx" and doc["model"] == "vivit-micro-tl4at1" and doc["family"] == "vivit"
    assert doc["input"] == {"name": "video", "shape": ["B", 3, 8, 32, 32]}
    assert (doc["output_name"], doc["classes"], doc["multi_label"], doc["opset"]) == ("logits", 3, False, 18)
    assert doc["bytes"] == (tmp_path / "out.onnx").stat().st_size
    assert read_onnx_card(tmp_path / "out.onnx").to_dict() == ModelCard.of(vidclass.load_model(model_file)).to_dict()


def test_an_existing_output_is_refused_without_overwrite(tmp_path, monkeypatch, model_file):
    invoke = cli_in(tmp_path, monkeypatch)
    (tmp_path / "out.onnx").write_bytes(b"mine")
    assert "out.onnx" in one_error(invoke("export", str(model_file), "-o", "out.onnx"))
    assert (tmp_path / "out.onnx").read_bytes() == b"mine"
    result = invoke("export", str(model_file), "-o", "out.onnx", "--overwrite", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert read_onnx_card(tmp_path / "out.onnx").name == "vivit-micro-tl4at1"


def test_the_models_own_file_is_never_overwritten(tmp_path, monkeypatch, model_file):
    invoke = cli_in(tmp_path, monkeypatch)
    before = model_file.read_bytes()
    one_error(invoke("export", str(model_file), "-o", str(model_file), "--overwrite"))
    assert model_file.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [
        ["nosuch.safetensors", "-o", "out.onnx"],  # no such model
        ["vivit-micro", "-o", "out.onnx"],  # a configuration without weights
        ["MODEL", "-o", "nodir/out.onnx"],  # no such folder
        ["MODEL", "-o", "."],  # a directory
    ],
)
def test_usage_problems_are_one_error_line_and_exit_2(args, tmp_path, monkeypatch, model_file):
    invoke = cli_in(tmp_path, monkeypatch)
    one_error(invoke("export", *[str(model_file) if a == "MODEL" else a for a in args]))
    assert not (tmp_path / "out.onnx").exists()


def test_a_missing_extra_is_one_line_naming_it(tmp_path, monkeypatch, model_file):
    invoke = cli_in(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed
    assert "vidclass[export]" in one_error(invoke("export", str(model_file), "-o", "out.onnx"))
    assert not (tmp_path / "out.onnx").exists()


def test_export_help_imports_neither_torch_nor_onnx():
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vidclass", "export", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "-o, --output" in done.stdout and "--overwrite" in done.stdout
    loaded = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "vidclass.cli.main" in loaded
    assert not loaded & {"torch", "onnx", "onnxscript", "onnxruntime", "numpy"}
