"""--precision: fp32 is the plain forward, bf16 stays close to it, auto follows the hardware."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import vidclass
import vidclass.checkpoints
import vidclass.precision as precision_module
from tests.cli import cli_in
from tests.records import LABELS
from tests.videos import write_video
from vidclass.inference import Predictor
from vidclass.precision import PRECISIONS, autocast_dtype, resolve_precision
from vidclass.scores import aggregate
from vidclass.video import load_views

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def clf():
    return vidclass.create_model("vivit-micro", labels=LABELS, seed=3)


@pytest.fixture(scope="module")
def work(tmp_path_factory, clf) -> Path:
    root = tmp_path_factory.mktemp("precision")
    vidclass.save_model(clf, root / "model.safetensors")
    write_video(root / "ds" / "walk" / "a.mp4", num_frames=20, width=80, height=48)
    write_video(root / "ds" / "run" / "b.mp4", num_frames=12, width=48, height=64)
    return root


@pytest.fixture(scope="module")
def views(work, clf) -> torch.Tensor:
    return load_views(work / "ds" / "walk" / "a.mp4", clf.preprocessing, clf.protocol)[0]


@pytest.fixture
def run(work, monkeypatch):
    return cli_in(work, monkeypatch)


# --------------------------------------------------------------------------- modes


def test_resolve_precision_modes():
    assert PRECISIONS == ("auto", "fp32", "bf16", "fp16")
    assert resolve_precision("fp32", CPU) == "fp32"
    assert resolve_precision("bf16", CPU) == "bf16"
    assert resolve_precision("auto", torch.device("cuda")) == "fp32"  # no GPU measurement yet
    with pytest.raises(ValueError, match="unknown precision 'fp64'"):
        resolve_precision("fp64", CPU)
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", CPU)


@pytest.mark.parametrize("native", [True, False])
def test_auto_on_cpu_is_bf16_only_where_native(monkeypatch, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert resolve_precision("auto", CPU) == ("bf16" if native else "fp32")
    assert Predictor(vidclass.create_model("vivit-micro", seed=0), device="cpu").precision == (
        "bf16" if native else "fp32"
    )


def test_training_shares_the_hardware_rule():
    import vidclass.training.trainer as train

    assert train.autocast_dtype is autocast_dtype is precision_module.autocast_dtype


def test_bad_precision_is_a_value_error(clf):
    with pytest.raises(ValueError, match="unknown precision"):
        Predictor(clf, device="cpu", precision="int8")
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        Predictor(clf, device="cpu", precision="fp16")


# --------------------------------------------------------------------------- numerics


def test_fp32_is_bit_identical_to_the_plain_forward(clf, views):
    predictor = Predictor(clf, device="cpu", batch_size=4, precision="fp32")
    expected = []
    with torch.inference_mode():
        for start in range(0, views.shape[0], 4):
            expected.append(clf.model(views[start : start + 4]))
    got = predictor.logits(views)
    assert got.dtype == torch.float32
    assert torch.equal(got, torch.cat(expected))


def _top1_agrees_where_decided(got: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Which rows of ``ref`` (N, K) have a top-1 that an error the size of ``got - ref`` cannot
    move: their top-2 margin exceeds twice the row's largest difference. On those rows top-1 must
    agree; a near-tie may flip with any change of kernel, so it says nothing about bf16."""
    error = (got - ref).abs().amax(-1)  # (N,)
    top2 = ref.topk(2, dim=-1).values  # (N, 2)
    decided = (top2[:, 0] - top2[:, 1]) > 2 * error
    assert torch.equal(got.argmax(-1)[decided], ref.argmax(-1)[decided])
    return decided


def test_bf16_is_close_to_fp32_and_agrees_on_top1(clf, views):
    fp32 = Predictor(clf, device="cpu", precision="fp32").logits(views)
    bf16 = Predictor(clf, device="cpu", precision="bf16").logits(views)
    assert bf16.dtype == torch.float32  # cast back before aggregation
    assert not torch.equal(bf16, fp32)  # autocast really ran
    diff = (torch.softmax(bf16, -1) - torch.softmax(fp32, -1)).abs().max().item()
    assert diff <= 0.05
    assert _top1_agrees_where_decided(bf16, fp32).any()
    for mode in ("softmax", "logits"):
        a, b = aggregate(fp32, mode), aggregate(bf16, mode)
        assert (a - b).abs().max().item() <= 0.05
        _top1_agrees_where_decided(b[None], a[None])


def test_library_predict_takes_precision(work, clf):
    video = work / "ds" / "walk" / "a.mp4"
    (fp32,) = vidclass.predict(video, clf, device="cpu", precision="fp32")
    (bf16,) = vidclass.predict(video, clf, device="cpu", precision="bf16")
    assert fp32.ok and bf16.ok
    assert fp32.label == bf16.label
    assert max(abs(a - b) for a, b in zip(fp32.scores, bf16.scores, strict=True)) <= 0.05


# --------------------------------------------------------------------------- command line


def test_cli_flag_and_json_header(run):
    for mode in ("fp32", "bf16"):
        result = run("predict", "ds/walk/a.mp4", "-m", "model.safetensors", "--device", "cpu", "--precision", mode,
                     "-f", "json")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["model"]["precision"] == mode
    result = run("predict", "ds/walk/a.mp4", "-m", "model.safetensors", "--device", "cpu", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"]["precision"] == resolve_precision("auto", CPU)


def test_cli_bad_precision_exits_2(run):
    result = run("predict", "ds/walk/a.mp4", "-m", "model.safetensors", "--precision", "fp64")
    assert result.exit_code == 2
    assert "fp64" in result.output
    result = run("predict", "ds/walk/a.mp4", "-m", "model.safetensors", "--device", "cpu", "--precision", "fp16")
    assert result.exit_code == 2
    assert "fp16 needs a CUDA device" in result.output
    result = run("eval", "ds", "-m", "model.safetensors", "--precision", "half")
    assert result.exit_code == 2


def test_eval_records_its_precision(run, work):
    result = run("eval", "ds", "-m", "model.safetensors", "--device", "cpu", "--precision", "bf16",
                 "--clips", "1", "--crops", "1", "--workers", "1", "-o", "out", "-f", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    header = json.loads((work / "out" / "predictions.jsonl").read_text().splitlines()[0])
    assert header["type"] == "header" and header["precision"] == "bf16"


def test_bf16_forward_keeps_no_autocast_cache_so_threads_cannot_deadlock(clf, views):
    # torch's autocast cache is one process-wide lock that a thread leaving autocast holds while
    # freeing the cached weights (which can need the GIL): eval's two model threads deadlocked
    # on it. The forward runs with the cache off, and threads sharing one predictor finish.
    import threading

    seen = []

    class Spy(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            seen.append(torch.is_autocast_cache_enabled())
            return self.model(x)

    predictor = Predictor(clf, device="cpu", precision="bf16")
    predictor._module = Spy(predictor.model)
    threads = [threading.Thread(target=lambda: [predictor.logits(views) for _ in range(5)]) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert seen and not any(seen)
