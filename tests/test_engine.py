"""The inference engine: aggregation, batching, error records and the library ``predict``."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

import vidclass
from tests.records import LABELS, RECORD_KEYS
from tests.videos import write_video
from vidclass.checkpoints import NoModelError
from vidclass.data.files import expand_paths
from vidclass.inference import Predictor, predict, resolve_device
from vidclass.models import ViViTConfig
from vidclass.protocol import Preprocessing, ViewProtocol
from vidclass.scores import Aggregate, Prediction, aggregate
from vidclass.video import load_views


@pytest.fixture(scope="module")
def clf():
    return vidclass.create_model("vivit-micro", labels=LABELS, seed=0)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("engine-videos")
    return {
        "land": write_video(root / "land.mp4", num_frames=20, width=80, height=48),
        "port": write_video(root / "port.mp4", num_frames=12, width=48, height=64),
        "corrupt": _write(root / "corrupt.mp4", b"\x00\x00\x00\x18ftypmp42 not really a video"),
        "root": root,
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _reference(clf, path, protocol: ViewProtocol) -> torch.Tensor:
    """Probabilities computed by hand: the model run directly on every view at once."""
    views, _, _ = load_views(path, clf.preprocessing, protocol)
    with torch.no_grad():
        logits = clf.model.eval()(views)
    return aggregate(logits, protocol.aggregate)


# --------------------------------------------------------------------------- aggregate

FIXED = torch.tensor([[1.0, 2.0, 3.0], [3.0, 1.0, 0.0]])


def _softmax(row: list[float]) -> list[float]:
    exps = [math.exp(x) for x in row]
    return [e / sum(exps) for e in exps]


def test_aggregate_softmax_is_mean_of_per_view_softmax():
    a, b = _softmax([1.0, 2.0, 3.0]), _softmax([3.0, 1.0, 0.0])
    expected = [(x + y) / 2 for x, y in zip(a, b, strict=True)]
    got = aggregate(FIXED, Aggregate.SOFTMAX)
    assert got.shape == (3,)
    assert got.tolist() == pytest.approx(expected, abs=1e-7)
    assert got.tolist() == pytest.approx([0.4669127, 0.1794618, 0.3536255], abs=1e-6)


def test_aggregate_logits_is_softmax_of_mean_logits():
    expected = _softmax([2.0, 1.5, 1.5])
    got = aggregate(FIXED, "logits")
    assert got.tolist() == pytest.approx(expected, abs=1e-7)
    assert got.tolist() == pytest.approx([0.4518628, 0.2740686, 0.2740686], abs=1e-6)


def test_aggregate_single_view_modes_agree_and_sum_to_one():
    one = FIXED[:1]
    assert torch.allclose(aggregate(one, "softmax"), aggregate(one, "logits"))
    assert float(aggregate(FIXED, "softmax").sum()) == pytest.approx(1.0, abs=1e-6)


def test_aggregate_rejects_bad_shapes_and_modes():
    with pytest.raises(ValueError):
        aggregate(torch.zeros(3), Aggregate.SOFTMAX)
    with pytest.raises(ValueError):
        aggregate(torch.zeros(0, 3), Aggregate.SOFTMAX)
    with pytest.raises(ValueError):
        aggregate(FIXED, "median")


# --------------------------------------------------------------------------- Predictor


class Probe(torch.nn.Module):
    """Deterministic tiny model: logits are linear in each view's per-channel mean; it
    records the batch sizes it sees."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, classes)
        with torch.no_grad():
            self.linear.weight.copy_(torch.arange(3 * classes, dtype=torch.float32).view(classes, 3) / 5)
            self.linear.bias.copy_(torch.tensor([0.5, -0.25, 0.0][:classes]))
        self.batches: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.shape[0])
        return self.linear(x.mean(dim=(2, 3, 4)))


@dataclass
class FakeClassifier:
    model: torch.nn.Module
    labels: tuple[str, ...] = ("x", "y", "z")
    preprocessing: Preprocessing = field(
        default_factory=lambda: Preprocessing(num_frames=4, frame_stride=1, resize_size=36, crop_size=32)
    )
    protocol: ViewProtocol = field(default_factory=ViewProtocol)
    name: str = "probe"
    source: str = "test"
    multi_label: bool = False
    config: ViViTConfig = field(default_factory=ViViTConfig)  # a ViViT's: the family runs the model as it is


def test_batches_are_cut_from_all_views_in_order(videos):
    probe = Probe()
    predictor = Predictor(FakeClassifier(probe), device="cpu", batch_size=5, precision="fp32")
    p = predictor.predict(videos["land"])
    assert p.ok, p.error
    assert probe.batches == [5, 5, 2]  # 12 views: 4 clips x 3 crops
    views, _, _ = load_views(videos["land"], predictor.preprocessing, predictor.protocol)
    expected = aggregate(probe(views), Aggregate.SOFTMAX)
    assert list(p.scores) == pytest.approx(expected.tolist(), abs=1e-6)


def test_batch_size_does_not_change_scores(clf, videos):
    one = Predictor(clf, device="cpu", batch_size=1).predict(videos["land"])
    twelve = Predictor(clf, device="cpu", batch_size=12).predict(videos["land"])
    assert one.ok and twelve.ok
    assert torch.allclose(torch.tensor(one.scores), torch.tensor(twelve.scores), atol=1e-5)
    assert [label for label, _ in one.labels] == [label for label, _ in twelve.labels]


def test_prediction_equals_model_on_load_views(clf, videos):
    predictor = Predictor(clf, device="cpu", top_k=3, precision="fp32")  # exact: no autocast
    assert predictor.protocol == clf.protocol  # no overrides: the model file's protocol
    p = predictor.predict(videos["land"])
    probs = _reference(clf, videos["land"], clf.protocol)
    order = torch.argsort(probs, descending=True).tolist()
    assert [label for label, _ in p.labels] == [LABELS[i] for i in order[:3]]
    assert [s for _, s in p.labels] == pytest.approx([probs[i].item() for i in order[:3]], abs=1e-6)
    assert [s for _, s in p.labels] == sorted((s for _, s in p.labels), reverse=True)
    assert list(p.scores) == pytest.approx(probs.tolist(), abs=1e-6)
    assert (p.label, p.score) == p.labels[0]
    assert (p.views, p.clips, p.crops) == (12, 4, 3)
    assert (p.frames, p.fps, p.width, p.height) == (20, 25.0, 80, 48)
    assert p.duration == pytest.approx(0.8)
    assert p.error is None and p.ok and p.seconds > 0


def test_protocol_overrides(clf, videos):
    predictor = Predictor(clf, device="cpu", clips=2, crops=1, aggregate="logits", top_k=99, precision="fp32")
    assert predictor.protocol == ViewProtocol(clips=2, crops=1, aggregate=Aggregate.LOGITS)
    assert predictor.preprocessing == clf.preprocessing
    p = predictor.predict(videos["port"])
    assert (p.views, p.clips, p.crops) == (2, 2, 1)
    assert len(p.labels) == len(LABELS)  # top_k is clamped to the number of classes
    probs = _reference(clf, videos["port"], predictor.protocol)
    assert list(p.scores) == pytest.approx(probs.tolist(), abs=1e-6)


def test_bad_inputs_become_error_records(clf, videos):
    predictor = Predictor(clf, device="cpu")
    missing = videos["root"] / "missing.mp4"
    for path, message in [
        (missing, "file not found"),
        (videos["corrupt"], None),
        (videos["root"], None),  # a directory
    ]:
        p = predictor.predict(path)
        assert not p.ok
        assert p.path == os.fspath(path)
        assert p.labels == [] and p.scores is None and p.label is None
        assert p.error and "\n" not in p.error
        if message:
            assert p.error == message
        record = p.to_record()
        assert record["ok"] is False and record["labels"] == [] and record["views"] is None


def test_unexpected_decoder_exception_is_a_record_but_interrupt_propagates(clf, videos, monkeypatch):
    import vidclass.video

    predictor = Predictor(clf, device="cpu")

    def boom(*args, **kwargs):
        raise RuntimeError("decoder\nexploded")

    monkeypatch.setattr(vidclass.video, "load_views", boom)
    p = predictor.predict(videos["land"])
    assert p.error == "RuntimeError: decoder exploded"

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vidclass.video, "load_views", interrupt)
    with pytest.raises(KeyboardInterrupt):
        predictor.predict(videos["land"])


def test_to_record_schema(clf, videos):
    p = Predictor(clf, device="cpu", top_k=2).predict(videos["land"])
    record = json.loads(json.dumps(p.to_record()))
    assert set(record) == RECORD_KEYS
    assert record["ok"] is True and record["error"] is None
    assert [set(item) for item in record["labels"]] == [{"label", "score"}] * 2
    assert record["labels"][0] == {"label": p.labels[0][0], "score": p.labels[0][1]}
    with_scores = json.loads(json.dumps(p.to_record(scores=True)))
    assert set(with_scores) == RECORD_KEYS | {"scores"}
    assert list(with_scores["scores"]) == LABELS
    assert sum(with_scores["scores"].values()) == pytest.approx(1.0, abs=1e-5)


def test_invalid_options_raise(clf):
    with pytest.raises(ValueError):
        Predictor(clf, device="cpu", batch_size=0)
    with pytest.raises(ValueError):
        Predictor(clf, device="cpu", top_k=0)
    with pytest.raises(ValueError):
        Predictor(clf, device="cpu", crops=2)
    with pytest.raises(ValueError):
        Predictor(clf, device="cpu", aggregate="median")


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


# --------------------------------------------------------------------------- inputs & predict()


def test_expand_paths(tmp_path):
    for name in ["b.mp4", "a.MKV", "notes.txt", ".hidden.mp4", "sub/c.webm", "sub/deeper/d.ts"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    top = str(tmp_path)
    assert list(expand_paths([top])) == [f"{top}/a.MKV", f"{top}/b.mp4"]
    assert list(expand_paths([top], recursive=True)) == [
        f"{top}/a.MKV",
        f"{top}/b.mp4",
        f"{top}/sub/c.webm",
        f"{top}/sub/deeper/d.ts",
    ]
    # explicit files are kept whatever their extension, missing ones too, in the given order
    assert list(expand_paths([f"{top}/notes.txt", "nope.mp4", f"{top}/sub"])) == [
        f"{top}/notes.txt",
        "nope.mp4",
        f"{top}/sub/c.webm",
    ]


def test_library_predict_mirrors_the_command(clf, videos, tmp_path):
    model_file = vidclass.save_model(clf, tmp_path / "m.safetensors")
    results = list(predict([videos["port"], videos["land"]], model=str(model_file), device="cpu", top_k=2))
    assert [r.path for r in results] == [str(videos["port"]), str(videos["land"])]
    assert all(r.ok and len(r.labels) == 2 for r in results)
    direct = Predictor(clf, device="cpu", top_k=2).predict(videos["land"])
    assert list(results[1].scores) == pytest.approx(list(direct.scores), abs=1e-6)
    # a directory expands to its videos (sorted); a loaded classifier works too; one path alone
    in_dir = list(predict(videos["root"], model=clf, device="cpu", clips=1, crops=1))
    assert [Path(r.path).name for r in in_dir] == ["corrupt.mp4", "land.mp4", "port.mp4"]
    assert [r.ok for r in in_dir] == [False, True, True]
    assert all(r.views == 1 for r in in_dir if r.ok)
    assert vidclass.predict is predict


def test_library_predict_default_model(clf, videos, tmp_path, monkeypatch):
    import vidclass.checkpoints

    monkeypatch.setattr(vidclass.checkpoints.sources, "weights_dir", lambda: tmp_path / "weights")
    monkeypatch.delenv("VIDCLASS_MODEL", raising=False)
    with pytest.raises(NoModelError, match="--model"):
        predict([videos["land"]])  # raises at call time, before any video
    model_file = vidclass.save_model(clf, tmp_path / "env.safetensors")
    monkeypatch.setenv("VIDCLASS_MODEL", str(model_file))
    (p,) = predict([videos["land"]], device="cpu")
    assert p.ok and p.labels[0][0] in LABELS
    monkeypatch.delenv("VIDCLASS_MODEL")
    vidclass.save_model(clf, tmp_path / "weights" / "default.safetensors")
    (q,) = predict([videos["land"]], device="cpu")
    assert q.scores == pytest.approx(p.scores, abs=1e-6)


def test_prediction_defaults_are_an_error_free_empty_record():
    p = Prediction(path="x.mp4")
    assert p.ok and p.label is None and p.score is None
    assert set(p.to_record()) == RECORD_KEYS
