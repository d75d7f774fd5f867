"""X3D-TL: X3D with the TokenLearner bottleneck block after a stage (TokenLearner paper, section 6).

A plain X3D's weights load into it and, the new block starting as the identity, give the same
logits; its analytic cost equals a count of the real forward; its config round-trips and is
bounded; a tiny one trains on clips that differ only in motion."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.test_tokenlearner_bottleneck import MacCounter, perturbed
from vidclass.models.tokenlearner_block import (
    TokenLearnerBottleneck,
    TokenLearnerBottleneckConfig,
    bottleneck_macs,
    bottleneck_parameters,
)
from vidclass.models.x3d import X3D, X3D_CONFIGS, X3DConfig
from vidclass.models.x3d_flops import num_params, view_macs

# Widths 8/16/24/48 (inner 18/36/54/108), depths 1/1/3/2, a 64-wide head: a network that runs
# in milliseconds, with every part of the full one.
TINY = X3DConfig(num_frames=4, crop_size=64, num_classes=2, width_factor=0.5, depth_factor=0.5, head_dim=64)
BLOCK = TokenLearnerBottleneckConfig(num_tokens=4, mlp_ratio=2.0)
MHSA = TokenLearnerBottleneckConfig(num_tokens=3, layers=2, heads=4, attention="mhsa")


def _tl(cfg: X3DConfig, block: TokenLearnerBottleneckConfig = BLOCK, after: int = 4) -> X3DConfig:
    return replace(cfg, tokenlearner=block, tokenlearner_after=after)


def _trained_looking(model: X3D, seed: int) -> X3D:
    """Random weights and BatchNorm statistics that matter, as a converted checkpoint has."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.running_mean.normal_(0.0, 0.5, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
    return model.eval()


@pytest.mark.parametrize(
    ("cfg", "frames", "size"),
    [
        (_tl(TINY), None, None),
        (_tl(TINY, MHSA, 2), None, None),
        (_tl(TINY, after=1), 3, 96),
        (X3D_CONFIGS["x3d-m-tl8"][0], 4, 96),
    ],
    ids=["tiny-vector-after4", "tiny-mhsa-after2", "tiny-after1-other-size", "x3d-m-tl8"],
)
def test_plain_x3d_weights_load_and_the_new_block_starts_as_the_identity(cfg, frames, size):
    """Fine-tuning from a converted X3D starts where the checkpoint was."""
    plain = _trained_looking(X3D(replace(cfg, tokenlearner=None, tokenlearner_after=4)), seed=0)
    torch.manual_seed(1)
    model = X3D(cfg).eval()
    model.load_backbone(plain.state_dict())
    assert {k for k in model.state_dict() if k not in plain.state_dict()} == {
        k for k in model.state_dict() if k.startswith("tokenlearner.")
    }
    assert isinstance(model.tokenlearner, TokenLearnerBottleneck)
    assert model.tokenlearner.channels == cfg.stage_widths[cfg.tokenlearner_after - 1]
    video = torch.randn(2, 3, frames or cfg.num_frames, size or cfg.crop_size, size or cfg.crop_size)
    seen = []
    model.tokenlearner.register_forward_hook(lambda m, i, out: seen.append(out))
    with torch.no_grad():
        expected, got = plain(video), model(video)
    assert len(seen) == 1  # the block ran, once
    assert got.shape == expected.shape == (2, cfg.num_classes)
    diff = (got - expected).abs().max().item()
    print(f"max abs logit diff {diff:.1e}")
    assert diff <= 1e-6


def test_a_trained_block_changes_the_output_and_its_state_is_refused_as_a_backbone():
    cfg = _tl(TINY)
    plain = _trained_looking(X3D(TINY), seed=0)
    model = X3D(cfg).eval()
    model.load_backbone(plain.state_dict())
    perturbed(model.tokenlearner, seed=2)  # the fuser's mixing map no longer zero
    video = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        assert (model(video) - plain(video)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="backbone"):
        model.load_backbone(model.state_dict())  # holds the block's keys too
    missing = {k: v for k, v in plain.state_dict().items() if k != "blocks.5.proj.weight"}
    with pytest.raises(ValueError, match="backbone"):
        model.load_backbone(missing)
    assert X3D(TINY).tokenlearner is None


class X3DMacCounter(MacCounter):
    """The TokenLearner test's count (linear, conv2d, matmul, einsum, attention), plus Conv3d."""

    def __init__(self, model: nn.Module):
        super().__init__(model)
        for m in model.modules():
            if isinstance(m, nn.Conv3d):
                m.register_forward_hook(self._conv3d)

    def _conv3d(self, m, inputs, out):
        self.macs += out.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)


@pytest.mark.parametrize(
    ("cfg", "frames", "size"),
    [
        (_tl(TINY), None, None),
        (_tl(TINY, MHSA, 2), 3, 96),
        (_tl(TINY, TokenLearnerBottleneckConfig(learner="v1.1", learner_convs=1), 3), None, None),
        (X3D_CONFIGS["x3d-s-tl8"][0], None, None),
        (X3D_CONFIGS["x3d-m-tl8"][0], 2, 256),  # the test crop: an 8x8 map, several head windows
    ],
    ids=["tiny", "tiny-mhsa-after2", "tiny-v11-after3", "x3d-s-tl8", "x3d-m-tl8-test-crop"],
)
def test_analytic_cost_equals_a_count_from_tensor_shapes(cfg, frames, size):
    model = X3D(cfg).eval()
    counter = X3DMacCounter(model)
    video = torch.zeros(1, 3, frames or cfg.num_frames, size or cfg.crop_size, size or cfg.crop_size)
    with torch.no_grad(), counter:
        model(video)
    assert counter.macs == view_macs(cfg, frames, size)
    assert num_params(cfg) == sum(p.numel() for p in model.parameters())


def test_the_block_costs_what_it_adds_and_the_ratios_to_x3d_m():
    """x3d-m-tl8 against x3d-m: the block on res5's 192-channel map, 7x7 at the 224 training
    crop and 8x8 at the 256 test crop, 16 frames. The FLOP side of the issue's time ratio."""
    plain, prep, protocol = X3D_CONFIGS["x3d-m"]
    tl, tl_prep, tl_protocol = X3D_CONFIGS["x3d-m-tl8"]
    assert (tl_prep, tl_protocol) == (prep, protocol)
    for size, side in ((None, 7), (prep.crop_size, 8)):
        added = view_macs(tl, None, size) - view_macs(plain, None, size)
        assert added == bottleneck_macs(tl.tokenlearner, 192, 16, side, side)
        print(
            f"x3d-m-tl8 / x3d-m MACs at {size or tl.crop_size} px: {view_macs(tl, None, size) / view_macs(plain, None, size):.4f}"
        )
    assert num_params(tl) - num_params(plain) == bottleneck_parameters(tl.tokenlearner, 192)
    print(
        f"x3d-m-tl8 / x3d-m parameters: {num_params(tl)} / {num_params(plain)} = {num_params(tl) / num_params(plain):.4f}"
    )


def test_registered_x3d_tl_configs():
    for name, parent in (("x3d-s-tl8", "x3d-s"), ("x3d-m-tl8", "x3d-m")):
        cfg, prep, protocol = X3D_CONFIGS[name]
        base, base_prep, base_protocol = X3D_CONFIGS[parent]
        assert (prep, protocol) == (base_prep, base_protocol)
        assert replace(cfg, tokenlearner=None) == base
        block = cfg.tokenlearner
        assert (block.num_tokens, block.layers, block.attention.value) == (8, 1, "vector")
        assert cfg.tokenlearner_after == 4 and cfg.tokenlearner_channels == 192


def test_config_round_trips_and_reads_older_dicts_as_plain_x3d():
    plain = X3D_CONFIGS["x3d-m"][0]
    data = plain.to_dict()
    assert "tokenlearner" not in data and "tokenlearner_after" not in data  # as before X3D-TL
    older = {k: v for k, v in data.items()}
    assert X3DConfig.from_dict(older) == plain and X3DConfig.from_dict(older).tokenlearner is None
    assert X3DConfig.from_dict({**older, "tokenlearner": None}) == plain
    for cfg in (*(c for c, _, _ in X3D_CONFIGS.values()), _tl(TINY, MHSA, 2)):
        again = X3DConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert again == cfg and again.to_dict() == cfg.to_dict()
    tl = X3D_CONFIGS["x3d-m-tl8"][0].to_dict()
    assert tl["tokenlearner"]["attention"] == "vector" and tl["tokenlearner_after"] == 4


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"tokenlearner_after": 0}, "tokenlearner_after"),
        ({"tokenlearner_after": 5}, "tokenlearner_after"),
        ({"tokenlearner_after": True}, "tokenlearner_after"),
        ({"tokenlearner_after": 2.0}, "tokenlearner_after"),
        ({"tokenlearner": None, "tokenlearner_after": 3}, "tokenlearner_after"),  # would not round-trip
        ({"tokenlearner": {"num_tokens": 8}}, "tokenlearner"),  # a dict is for from_dict
        ({"tokenlearner": TokenLearnerBottleneckConfig(attention="mhsa", heads=5)}, "divisible"),
    ],
)
def test_config_bounds(change, match):
    with pytest.raises(ValueError, match=match):
        replace(_tl(TINY), **change)


def test_from_dict_refuses_a_bad_block():
    data = _tl(TINY).to_dict()
    with pytest.raises(ValueError, match="unknown"):
        X3DConfig.from_dict({**data, "tokenlearner": {**data["tokenlearner"], "location": 3}})
    with pytest.raises(ValueError, match="num_tokens"):
        X3DConfig.from_dict({**data, "tokenlearner": {**data["tokenlearner"], "num_tokens": 0}})
    with pytest.raises(ValueError):
        X3DConfig.from_dict({**data, "tokenlearner": "vector"})


def _moving_squares(per_class: int, frames: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A bright square on a dim noisy background moving right (class 0) or left (class 1),
    from a random start: the classes differ in motion only."""
    rng = np.random.default_rng(seed)
    side, step = size // 5, size // 8
    clips = rng.normal(0.0, 0.05, (2 * per_class, 3, frames, size, size)).astype(np.float32)
    labels = np.repeat([0, 1], per_class)
    for clip, label in zip(clips, labels, strict=True):
        y = rng.integers(0, size - side)
        travel = step * (frames - 1)
        x0 = rng.integers(0, size - side - travel)
        for t in range(frames):
            x = x0 + step * t if label == 0 else x0 + travel - step * t
            clip[:, t, y : y + side, x : x + side] += 1.0
    return torch.from_numpy(clips), torch.from_numpy(labels)


def test_a_tiny_x3d_tl_trains_and_its_loss_decreases():
    cfg = replace(_tl(TINY), dropout=0.0)
    torch.manual_seed(0)
    model = X3D(cfg).train()
    clips, labels = _moving_squares(4, cfg.num_frames, cfg.crop_size, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(clips), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        final = F.cross_entropy(model(clips), labels).item()
    print(f"loss {losses[0]:.4f} -> {final:.4f}")
    assert final < losses[0]
    for name, p in model.tokenlearner.named_parameters():  # the new block learns, every part of it
        assert p.grad is not None and p.grad.abs().sum() > 0, name
