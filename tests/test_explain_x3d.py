"""vidclass explain on X3D-TL: ``tokens`` shows the TokenLearner block's per-frame weights.

Pinned: the maps equal the learner's weights computed by hand from the stage map that the
network's own blocks produce (v1.0: sigmoid of its convs, each map divided by its sum; v1.1:
softmax of its MLP over space), one map per learned token and input frame over the stage's
h x w grid; every token and frame counts the same; the command writes the picture and the
JSON; and the refusals: ``rollout`` on X3D-TL, anything on a plain X3D, a ``--layer`` other
than the stage the block follows, each one ``error:`` line and exit 2 with nothing written.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner, Result
from PIL import Image

import vidclass
from tests.videos import write_video
from vidclass.checkpoints import create_model
from vidclass.cli.main import main
from vidclass.errors import EXIT_USAGE, VidclassError
from vidclass.explanation import explain_clip, methods_for, token_layers
from vidclass.explanation.picture import COLUMN_LABEL_HEIGHT, MARGIN, ROW_LABEL_WIDTH, TITLE_HEIGHT, cell_size
from vidclass.models import X3D

LABELS = ["walk", "run", "jump"]
# x3d-s-tl8 made small: widths 8/16/24/48, depths 1/1/3/2, a 64-wide head; its registered
# input (13 frames, 182 px test crop: a 6 x 6 map after stage 4) and block (8 tokens, v1.0).
TINY = {"width_factor": 0.5, "depth_factor": 0.5, "head_dim": 64}
FRAMES, CROP = 13, 182


def _tiny(name: str = "x3d-s-tl8", seed: int = 3, **changes: object) -> vidclass.VideoClassifier:
    return create_model(name, labels=LABELS, seed=seed, **{**TINY, **changes})


def _clip(size: int = CROP, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 3, FRAMES, size, size, generator=torch.Generator().manual_seed(seed))


def _by_hand(model: X3D, clip: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
    """The learner's weights (T, S, h, w), each map summing to 1, computed from the stage map
    that the network's blocks give, and the logits."""
    cfg, block = model.config, model.tokenlearner
    assert block is not None
    with torch.no_grad():
        x = clip
        for stage in model.blocks[: cfg.tokenlearner_after + 1]:  # the stem, then stages 1..after
            x = stage(x)
        _, c, t, h, w = x.shape
        frames = x[0].permute(1, 2, 3, 0).reshape(t, h * w, c).double()  # (T, h*w, C), row-major
        p = {k: v.double() for k, v in block.learner.state_dict().items()}
        normed = F.layer_norm(frames, (c,), p["norm.weight"], p["norm.bias"], eps=1e-6)
        if cfg.tokenlearner.learner.value == "v1.0":
            maps = normed.transpose(1, 2).reshape(t, c, h, w)
            convs = sorted(k for k in p if k.startswith("convs."))
            for i, key in enumerate(convs):
                maps = F.conv2d(maps, p[key], padding=1)
                if i < len(convs) - 1:
                    maps = F.gelu(maps, approximate="tanh")
            weights = torch.sigmoid(maps.flatten(2))  # (T, S, h*w)
            weights = weights / weights.sum(dim=-1, keepdim=True)
        else:
            hidden = F.gelu(F.linear(normed, p["mlp.fc1.weight"], p["mlp.fc1.bias"]), approximate="tanh")
            weights = F.linear(hidden, p["mlp.fc2.weight"], p["mlp.fc2.bias"]).transpose(1, 2).softmax(dim=-1)
        logits = model(clip)[0]
    return weights.reshape(t, -1, h, w).numpy(), logits


CASES = {
    "v1.0-after4-182px": ({}, CROP, (6, 6)),
    "v1.0-after4-160px": ({}, 160, (5, 5)),
    "v1.1-mhsa-after3": ({"learner": "v1.1", "attention": "mhsa", "heads": 4}, CROP, (12, 12)),
    "v1.0-two-convs-after2": ({"learner_convs": 2, "num_tokens": 5}, 96, (12, 12)),
}


@pytest.mark.parametrize("name", CASES)
def test_token_maps_are_the_learner_weights_on_the_stage_map(name):
    block, size, grid = CASES[name]
    after = {"v1.1-mhsa-after3": 3, "v1.0-two-convs-after2": 2}.get(name, 4)
    base = create_model("x3d-s-tl8", labels=LABELS).config
    model = _tiny(tokenlearner=replace(base.tokenlearner, **block), tokenlearner_after=after).model
    assert isinstance(model, X3D)
    clip = _clip(size)
    expected, logits = _by_hand(model, clip)
    found = explain_clip(model, clip, "tokens")
    tokens = model.config.tokenlearner.num_tokens
    assert found.method == "tokens" and found.maps.dtype == np.float64
    assert found.maps.shape == (FRAMES, tokens, *grid) == expected.shape  # one map per frame and token
    np.testing.assert_allclose(found.maps, expected, rtol=1e-5, atol=0)
    assert expected.std() > 0.02 * expected.mean()  # the maps are not trivially uniform
    np.testing.assert_allclose(found.maps.sum(axis=(2, 3)), 1.0, atol=1e-12)
    np.testing.assert_array_equal(found.row_weights, np.full((FRAMES, tokens), 1.0 / tokens))
    np.testing.assert_array_equal(found.step_weights, np.full(FRAMES, 1.0 / FRAMES))
    torch.testing.assert_close(found.logits, logits, rtol=0, atol=1e-5)
    with torch.no_grad():  # recording is over: the normal forward again
        assert torch.equal(model(clip)[0], logits)


def test_what_x3d_models_can_explain():
    tl, plain = _tiny().config, _tiny("x3d-s").config
    assert methods_for(tl) == ("tokens",) and token_layers(tl) == (4,)
    assert methods_for(plain) == () and token_layers(plain) == ()
    assert token_layers(replace(tl, tokenlearner_after=2)) == (2,)


def _refused(model, method, layer=None) -> str:
    with pytest.raises(VidclassError) as caught:
        explain_clip(model, _clip(), method, layer)
    assert caught.value.exit_code == EXIT_USAGE
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_explain_clip_refuses_rollout_on_x3d_tl_and_everything_on_plain_x3d():
    tl, plain = _tiny().model, _tiny("x3d-s").model
    assert "tokens" in _refused(tl, "rollout")
    assert "4" in _refused(tl, "tokens", 3)
    assert explain_clip(tl, _clip(), "tokens", 4).maps.shape == (FRAMES, 8, 6, 6)
    for method in ("tokens", "rollout"):
        assert "TokenLearner" in _refused(plain, method)
    with pytest.raises(ValueError):  # not one view of the model's frames
        explain_clip(tl, torch.zeros(1, 3, FRAMES - 1, CROP, CROP), "tokens")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("explain-x3d")
    vidclass.save_model(_tiny(), root / "tl.safetensors")
    vidclass.save_model(_tiny("x3d-s"), root / "plain.safetensors")
    write_video(root / "small.mp4", num_frames=30, fps=30, width=64, height=48)
    return root


@pytest.fixture
def invoke(work, monkeypatch):
    """``vidclass explain small.mp4 -m MODEL ARGS --clips 1 --crops 1`` in ``work``."""
    monkeypatch.chdir(work)
    runner = CliRunner()

    def call(model: str, *args: str) -> Result:
        argv = ["explain", "small.mp4", "-m", model, "--clips", "1", "--crops", "1", *args]
        return runner.invoke(main, argv, env={"VIDCLASS_MODEL": None, "NO_COLOR": "1"})

    return call


def test_the_command_writes_one_column_per_frame_and_one_row_per_token(work, invoke):
    run = invoke("tl.safetensors", "-o", "tl.png")
    assert run.exit_code == 0, run.stderr
    assert run.stdout == "" and run.stderr == ""
    with Image.open(work / "tl.png") as picture:
        assert picture.format == "PNG"
        size = cell_size(CROP)
        assert picture.size == (
            ROW_LABEL_WIDTH + FRAMES * (size + MARGIN) + MARGIN,  # 13 frames, one map each
            TITLE_HEIGHT + COLUMN_LABEL_HEIGHT + 8 * (size + MARGIN) + MARGIN,  # 8 learned tokens
        )


def test_the_json_holds_a_map_per_frame_and_token_over_the_stage_grid(work, invoke):
    run = invoke("tl.safetensors", "-f", "json", "--video", "tl.gif")
    assert run.exit_code == 0, run.stderr
    doc = json.loads(run.stdout)
    assert (doc["method"], doc["layer"], doc["tubelet"], doc["grid"]) == ("tokens", 4, 1, [6, 6])
    assert doc["clip"] == 0 and len(doc["frame_indices"]) == FRAMES and doc["label"] in LABELS
    maps = np.array(doc["maps"])
    assert maps.shape == (FRAMES, 8, 6, 6)
    np.testing.assert_allclose(maps.sum(axis=(2, 3)), 1.0, atol=1e-4)
    assert not np.allclose(maps[0], maps[0, 0])  # the tokens look at different places
    np.testing.assert_allclose(np.array(doc["row_weights"]), 0.125)
    np.testing.assert_allclose(np.array(doc["frame_weights"]), 1.0 / FRAMES, atol=1e-6)
    with Image.open(work / "tl.gif") as image:
        assert image.n_frames == FRAMES
    assert invoke("tl.safetensors", "-f", "json", "--layer", "4", "--method", "tokens").exit_code == 0


def _one_error(run) -> str:
    assert run.exit_code == 2 and run.stdout == ""
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1
    return run.stderr


@pytest.mark.parametrize(
    ("model", "args", "says"),
    [
        ("tl.safetensors", ("--method", "rollout"), "--method tokens"),
        ("tl.safetensors", ("--layer", "3"), "stage 4"),
        ("plain.safetensors", ("--method", "tokens"), "TokenLearner"),
        ("plain.safetensors", ("--method", "rollout"), "TokenLearner"),
        ("plain.safetensors", (), "not supported yet"),
    ],
    ids=["rollout-on-x3d-tl", "layer-other-than-the-stage", "tokens-on-x3d", "rollout-on-x3d", "auto-on-x3d"],
)
def test_what_an_x3d_cannot_explain_is_one_error_line_and_exit_2(work, invoke, model, args, says):
    out = work / "refused.png"
    assert says in _one_error(invoke(model, "-o", str(out), *args))
    assert not out.exists()
