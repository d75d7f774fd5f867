"""Hugging Face ViViT: logits parity after conversion, strict refusals, and --model sources."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from tests.videos import write_video
from vidclass.checkpoints import ConvertOptions, convert_source, load_model, read_model_card
from vidclass.checkpoints.convert.common import ConversionError
from vidclass.checkpoints.sources import kinetics_labels
from vidclass.cli.main import main

transformers = pytest.importorskip("transformers")  # a dev dependency: always present in CI

LABELS = {"0": "waving", "1": "clapping", "2": "jumping"}


def hf_model(seed=0):
    torch.manual_seed(seed)
    cfg = transformers.VivitConfig(
        num_frames=8,
        image_size=32,
        tubelet_size=[2, 8, 8],
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        id2label=LABELS,
        label2id={v: int(k) for k, v in LABELS.items()},
    )
    model = transformers.VivitForVideoClassification(cfg).eval()
    with torch.no_grad():  # make the head non-trivial so the logits differ across classes
        model.classifier.weight.normal_(std=0.5)
    return model


@pytest.fixture
def hf_dir(tmp_path):
    folder = tmp_path / "hf-vivit"
    hf_model().save_pretrained(folder)
    return folder


def parity(model, classifier, seed=1):
    x = torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        theirs = model(pixel_values=x.permute(0, 2, 1, 3, 4)).logits  # HF takes (B, T, C, H, W)
        ours = classifier.model(x)
    return (theirs - ours).abs().max().item(), theirs.abs().max().item()


def test_safetensors_logits_match_transformers(hf_dir):
    classifier = convert_source(hf_dir)
    diff, scale = parity(hf_model(), classifier)
    assert diff <= 1e-4 and scale > 0.1
    assert classifier.labels == ("waving", "clapping", "jumping")
    assert classifier.preprocessing.num_frames == 8 and classifier.preprocessing.crop_size == 32
    assert classifier.preprocessing.mean == (0.5, 0.5, 0.5) and classifier.preprocessing.std == (0.5, 0.5, 0.5)
    assert classifier.provenance["format"] == "huggingface"


def test_pickled_bin_logits_match_transformers(hf_dir):
    tensors = load_file(str(hf_dir / "model.safetensors"))
    (hf_dir / "model.safetensors").unlink()
    torch.save(tensors, hf_dir / "pytorch_model.bin")
    diff, _ = parity(hf_model(), convert_source(hf_dir))
    assert diff <= 1e-4


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_carrying_code_is_refused_and_never_runs(hf_dir, tmp_path):
    marker = tmp_path / "pwned"
    (hf_dir / "model.safetensors").unlink()
    with open(hf_dir / "pytorch_model.bin", "wb") as f:
        pickle.dump({"vivit.embeddings.cls_token": Exploit(marker)}, f)
    with pytest.raises(ConversionError, match="refused"):
        convert_source(hf_dir)
    assert not marker.exists()


def test_a_pickle_of_non_tensors_is_refused(hf_dir):
    (hf_dir / "model.safetensors").unlink()
    torch.save({"vivit.embeddings.cls_token": [1, 2, 3]}, hf_dir / "pytorch_model.bin")
    with pytest.raises(ConversionError, match="expected a dict of tensors"):
        convert_source(hf_dir)


def test_truncated_weights_are_refused(hf_dir):
    weights = hf_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    with pytest.raises(ConversionError, match="not a readable safetensors file"):
        convert_source(hf_dir)


def test_leftover_missing_and_misshapen_tensors_are_named(hf_dir):
    from safetensors.torch import save_file

    path = hf_dir / "model.safetensors"
    tensors = load_file(str(path))
    save_file({**tensors, "vivit.pooler.dense.weight": torch.zeros(2)}, str(path))
    with pytest.raises(ConversionError, match="unused tensor.*vivit.pooler.dense.weight"):
        convert_source(hf_dir)
    save_file({k: v for k, v in tensors.items() if k != "vivit.layernorm.bias"}, str(path))
    with pytest.raises(ConversionError, match="missing tensor 'vivit.layernorm.bias'"):
        convert_source(hf_dir)
    save_file({**tensors, "classifier.weight": torch.zeros(4, 32)}, str(path))
    with pytest.raises(ConversionError, match=r"head.weight has shape \(4, 32\), the model needs \(3, 32\)"):
        convert_source(hf_dir)


def test_kinetics_label_lists():
    k400, k600 = kinetics_labels(400), kinetics_labels(600)
    assert len(k400) == 400 == len(set(k400)) and len(k600) == 600 == len(set(k600))
    assert (k400[0], k400[-1], k600[1]) == ("abseiling", "zumba", "acting in play")
    assert kinetics_labels(10) is None


def test_other_frame_counts_need_the_resample_flag(hf_dir):
    with pytest.raises(ConversionError, match="--resample-posemb"):
        convert_source(hf_dir, ConvertOptions(num_frames=4))
    resampled = convert_source(hf_dir, ConvertOptions(num_frames=4, image_size=48, resample=True))
    assert resampled.config.num_frames == 4 and resampled.config.image_size == 48
    assert resampled.preprocessing.num_frames == 4 and resampled.preprocessing.crop_size == 48
    with torch.no_grad():
        assert resampled.model(torch.randn(1, 3, 4, 48, 48)).shape == (1, 3)


def test_cli_convert_then_predict_with_the_directory_directly(hf_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLASS_CACHE", str(tmp_path / "cache"))
    video = write_video(tmp_path / "clip.mp4", num_frames=30, width=64, height=64)
    out = tmp_path / "converted.safetensors"
    runner = CliRunner()
    result = runner.invoke(main, ["convert", str(hf_dir), "-o", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["variant"] == "spacetime" and summary["classes"] == 3
    assert read_model_card(out).labels == ("waving", "clapping", "jumping")

    by_file = runner.invoke(main, ["predict", str(video), "--model", str(out), "--format", "jsonl", "--device", "cpu"])
    by_dir = runner.invoke(
        main, ["predict", str(video), "--model", str(hf_dir), "--format", "jsonl", "--device", "cpu"]
    )
    assert by_file.exit_code == by_dir.exit_code == 0, by_dir.output
    assert json.loads(by_file.stdout)["labels"] == json.loads(by_dir.stdout)["labels"]
    cached = list((tmp_path / "cache").glob("*.safetensors"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = runner.invoke(main, ["predict", str(video), "--model", str(hf_dir), "--format", "jsonl"])
    assert again.exit_code == 0 and cached[0].stat().st_mtime_ns == stamp  # converted once


def test_cli_convert_errors_are_one_line_usage_errors(hf_dir, tmp_path):
    (hf_dir / "config.json").write_text('{"model_type": "bert"}')
    result = CliRunner().invoke(main, ["convert", str(hf_dir), "-o", str(tmp_path / "x.safetensors")])
    assert result.exit_code == 2
    assert "model_type is 'bert'" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_hub_id_offline_says_how_to_pass_a_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    video = write_video(tmp_path / "clip.mp4", num_frames=10, width=64, height=64)
    result = CliRunner().invoke(main, ["predict", str(video), "--model", "google/vivit-b-16x2-kinetics400"])
    assert result.exit_code == 2
    assert "pass the local directory" in result.stderr


def test_load_model_accepts_foreign_sources(hf_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLASS_CACHE", str(tmp_path / "cache"))
    classifier = load_model(hf_dir)
    diff, _ = parity(hf_model(), classifier)
    assert diff <= 1e-4


def test_explain_works_on_a_hugging_face_directory(hf_dir, tmp_path, monkeypatch):
    # a CLS model without TokenLearner: auto is rollout, read from the CLS token
    monkeypatch.setenv("VIDCLASS_CACHE", str(tmp_path / "cache"))
    video = write_video(tmp_path / "clip.mp4", num_frames=30, width=64, height=48)
    args = ["explain", str(video), "--model", str(hf_dir), "-f", "json", "--device", "cpu", "-j", "0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["method"] == "rollout" and doc["label"] in LABELS.values()
    maps = torch.tensor(doc["maps"])
    assert maps.shape == (8, 1, 4, 4)  # 8 frames; 32 px in 8 px patches
    assert torch.allclose(maps.sum(dim=(2, 3)), torch.ones(8, 1, dtype=maps.dtype), atol=1e-4)
    tokens = CliRunner().invoke(main, [*args, "--method", "tokens"])
    assert tokens.exit_code == 2 and "rollout" in tokens.output
