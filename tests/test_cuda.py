"""CUDA only (marked ``cuda``, skipped without a GPU; ``pytest -m cuda`` runs them, and so does
benchmarks/gpu.sh): the device rule, every precision on the GPU against fp32 and the CPU, the
fused SDPA kernels, and ``predict --device cuda`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import vidclass
from tests.cli import cli_in
from tests.records import LABELS
from tests.videos import write_video
from vidclass.devices import local_device, resolve_device
from vidclass.inference import Predictor
from vidclass.precision import resolve_precision
from vidclass.video import load_views

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

CUDA = torch.device("cuda")


@pytest.fixture(scope="module")
def clf():
    return vidclass.create_model("vivit-micro", labels=LABELS, seed=5)


@pytest.fixture(scope="module")
def work(tmp_path_factory, clf) -> Path:
    root = tmp_path_factory.mktemp("cuda")
    vidclass.save_model(clf, root / "model.safetensors")
    write_video(root / "a.mp4", num_frames=20, width=80, height=48)
    return root


@pytest.fixture(scope="module")
def views(work, clf) -> torch.Tensor:
    return load_views(work / "a.mp4", clf.preprocessing, clf.protocol)[0]


def test_auto_picks_cuda_and_each_process_its_gpu():
    assert resolve_device("auto").type == "cuda"
    count = torch.cuda.device_count()
    assert local_device("auto", count + 1) == torch.device("cuda", (count + 1) % count)
    assert resolve_precision("auto", CUDA) == "fp32"  # until benchmarks/gpu.sh has measured agreement
    assert resolve_precision("fp16", CUDA) == "fp16"


def test_fp32_on_cuda_matches_the_cpu(clf, views):
    cpu = Predictor(clf, device="cpu", precision="fp32").logits(views)
    gpu = Predictor(clf, device="cuda", precision="fp32").logits(views)
    assert gpu.dtype == torch.float32
    # TF32 may run the convolution: close, not bit-identical
    assert (torch.softmax(gpu.cpu(), -1) - torch.softmax(cpu, -1)).abs().max().item() <= 1e-2


@pytest.mark.parametrize("mode", ["bf16", "fp16"])
def test_half_precisions_on_cuda_stay_close_to_fp32(clf, views, mode):
    fp32 = Predictor(clf, device="cuda", precision="fp32").logits(views).cpu()
    predictor = Predictor(clf, device="cuda", precision=mode)
    assert predictor.precision == mode
    low = predictor.logits(views).cpu()
    assert low.dtype == torch.float32  # cast back before aggregation
    assert not torch.equal(low, fp32)  # autocast really ran
    assert (torch.softmax(low, -1) - torch.softmax(fp32, -1)).abs().max().item() <= 0.05


@pytest.mark.parametrize("mode", ["bf16", "fp16"])
def test_attention_runs_on_the_fused_kernels(clf, views, mode):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    predictor = Predictor(clf, device="cuda", precision=mode)
    expected = predictor.logits(views)
    # torch raises when no allowed kernel takes the inputs (no silent fall back to the math one)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]):
        fused = predictor.logits(views)
    assert torch.allclose(fused, expected, atol=0.05)


def test_predict_on_cuda_from_the_command_line(work, monkeypatch):
    run = cli_in(work, monkeypatch)
    for mode in ("fp32", "bf16", "fp16"):
        result = run(
            "predict", "a.mp4", "-m", "model.safetensors", "--device", "cuda", "--precision", mode, "-f", "json"
        )
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        assert document["model"]["precision"] == mode
        assert document["model"]["device"].startswith("cuda")
        (record,) = document["results"]
        assert record["ok"] and record["views"] == 12
