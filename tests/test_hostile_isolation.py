"""Hostile inputs against the isolation of decoding: a model whose scores are not finite.

Every input is made here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import vidclass
from tests.cli import cli_in
from tests.videos import write_video

LABELS = ["walk", "run", "jump"]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    vidclass.save_model(vidclass.create_model("vivit-micro", labels=LABELS, seed=0), root / "model.safetensors")
    write_video(root / "good.mp4", num_frames=30)
    return root


# --------------------------------------------------------------------------- non-finite scores


def test_a_model_whose_logits_overflow_fails_each_video(work, monkeypatch):
    """Finite weights (a model file with NaN in it is refused when loaded) whose products overflow
    float32: every feature is 1e20 and so is every weight of class 1, so its logit is +inf."""
    broken = vidclass.create_model("vivit-micro", labels=LABELS, seed=0)
    with torch.no_grad():
        broken.model.backbone.encoder.norm.bias.fill_(1e20)
        broken.model.head.weight[1].fill_(1e20)
    vidclass.save_model(broken, work / "overflow.safetensors")
    run = cli_in(work, monkeypatch)
    result = run("predict", "--model", "overflow.safetensors", "--device", "cpu", "-f", "jsonl", "good.mp4", "--scores")
    assert result.exit_code == 1, result.output
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["ok"] is False and record["labels"] == [] and record["scores"] is None
    assert record["error"] == "non-finite scores: the model returned NaN or infinite logits"
    assert result.stderr == f"error: good.mp4: {record['error']}\n"
