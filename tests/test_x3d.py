"""X3D against pytorchvideo's create_x3d (a dev dependency, the reference): logits at fp32
parity through the key mapping, every key used, and the published sizes and costs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidclass.checkpoints.convert import ConversionError
from vidclass.checkpoints.convert.pytorchvideo_keys import x3d_state_from_pytorchvideo
from vidclass.models.x3d import X3D, X3D_CONFIGS, X3DConfig
from vidclass.models.x3d_flops import num_params, view_gmacs, view_macs

x3d_ref = pytest.importorskip("pytorchvideo.models.x3d")  # a dev dependency: always present in CI

# PySlowFast's MODEL_ZOO.md (the X3D author's code; its "FLOPs (G)" are multiply-adds, as in the
# paper) and pytorchvideo's docs/source/model_zoo.md ("Params (M)", two decimals).
PUBLISHED = {  # name: (GFLOPs per view at the configured clip, params in millions)
    "x3d-xs": (0.60, 3.79),
    "x3d-s": (1.96, 3.79),
    "x3d-m": (4.73, 3.79),
    "x3d-l": (18.37, 6.15),
}


def _reference(cfg: X3DConfig) -> nn.Module:
    torch.manual_seed(0)
    model = x3d_ref.create_x3d(
        input_clip_length=cfg.num_frames,
        input_crop_size=cfg.crop_size,
        depth_factor=cfg.depth_factor,
        model_num_class=cfg.num_classes,
        head_activation=None,  # logits, as ours returns
    )
    for module in model.modules():  # running statistics that matter
        if isinstance(module, nn.BatchNorm3d):
            module.running_mean.normal_(0.0, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _ours(cfg: X3DConfig, reference: nn.Module) -> X3D:
    return X3D.from_state_dict(cfg, x3d_state_from_pytorchvideo(reference.state_dict(), cfg))


@pytest.mark.parametrize("name", ["x3d-xs", "x3d-s", "x3d-m", "x3d-l"])
def test_logits_match_pytorchvideo(name):
    """Each published network at its own clip size (X3D-L at 16x312x312, batch 1: the head's
    window is that size, so a smaller input would test a different path), and for the small
    ones also at the 3-crop test size, where the head pools several windows."""
    cfg, prep, _ = X3D_CONFIGS[name]
    reference = _reference(cfg)
    ours = _ours(cfg, reference)
    sizes = [cfg.crop_size] + ([prep.crop_size] if name in ("x3d-xs", "x3d-s") else [])
    torch.manual_seed(1)
    for size in sizes:
        video = torch.randn(1 if name == "x3d-l" else 2, 3, cfg.num_frames, size, size)
        with torch.no_grad():
            expected, got = reference(video), ours(video)
        assert got.shape == expected.shape == (video.shape[0], cfg.num_classes)
        diff = (got - expected).abs().max().item()
        print(f"{name} {size}px: max abs diff {diff:.2e}")
        assert diff <= 1e-5


def test_mapping_uses_every_key_and_checks_shapes():
    cfg = X3D_CONFIGS["x3d-xs"][0]
    state = _reference(cfg).state_dict()
    converted = x3d_state_from_pytorchvideo(state, cfg)
    assert set(converted) == set(state)  # the identity mapping
    extra = dict(state, **{"blocks.5.extra.weight": torch.zeros(1)})
    with pytest.raises(ConversionError, match="unused tensor"):
        x3d_state_from_pytorchvideo(extra, cfg)
    missing = {k: v for k, v in state.items() if k != "blocks.1.res_blocks.0.branch2.norm_b.1.block.0.bias"}
    with pytest.raises(ConversionError, match="missing tensor"):
        x3d_state_from_pytorchvideo(missing, cfg)
    with pytest.raises(ConversionError, match="shape"):
        x3d_state_from_pytorchvideo(state, X3DConfig(num_frames=4, crop_size=160, num_classes=10))
    deeper = X3D_CONFIGS["x3d-l"][0]  # more blocks than the XS state holds
    with pytest.raises(ConversionError, match="missing tensor"):
        x3d_state_from_pytorchvideo(state, deeper)


def test_squeeze_excitation_on_alternate_blocks():
    model = X3D(X3D_CONFIGS["x3d-xs"][0])
    stage = model.blocks[3]  # 11 blocks
    gated = [not isinstance(block.branch2.norm_b[1], nn.Identity) for block in stage.res_blocks]
    assert gated == [i % 2 == 0 for i in range(11)]


def test_smaller_input_than_the_window_pools_globally():
    cfg = X3DConfig(num_frames=4, crop_size=160, num_classes=5)
    model = X3D(cfg).eval()
    video = torch.randn(1, 3, 2, 64, 64)
    with torch.no_grad():
        features = model.forward_features(video)
        logits = model(video)
    assert features.shape == (1, cfg.head_dim) and logits.shape == (1, 5)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_params_and_gflops_match_the_published(name):
    cfg = X3D_CONFIGS[name][0]
    gflops, params = PUBLISHED[name]
    assert num_params(cfg) == sum(p.numel() for p in X3D(cfg).parameters())
    assert abs(num_params(cfg) / 1e6 - params) <= 0.02 * params
    assert abs(view_gmacs(cfg) - gflops) <= 0.02 * gflops


def _counted_macs(model: nn.Module, video: torch.Tensor) -> int:
    """Conv and linear MACs from the tensors that actually flow: output elements times the
    inputs each one reads (in_channels / groups x kernel volume, or in_features)."""
    total = 0

    def hook(module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv3d):
            kt, kh, kw = module.kernel_size
            total += out.numel() * (module.in_channels // module.groups) * kt * kh * kw
        else:
            total += out.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv3d, nn.Linear))]
    with torch.no_grad():
        model(video)
    for handle in handles:
        handle.remove()
    return total // video.shape[0]


@pytest.mark.parametrize(
    ("name", "frames", "size"),
    [("x3d-xs", None, None), ("x3d-s", None, None), ("x3d-xs", 4, 182), ("x3d-m", 3, 100), ("x3d-xs", 2, 64)],
)
def test_analytic_macs_equal_a_forward_count(name, frames, size):
    """Checked against a count of the real forward (ours; pytorchvideo's too at the configured
    clip), at the configured clip, at a test crop (several head windows) and below the window."""
    cfg = X3D_CONFIGS[name][0]
    model = X3D(cfg).eval()
    video = torch.zeros(1, 3, frames or cfg.num_frames, size or cfg.crop_size, size or cfg.crop_size)
    assert view_macs(cfg, frames, size) == _counted_macs(model, video)
    if size is None:  # one head window: pytorchvideo does the same work
        assert view_macs(cfg, frames, size) == _counted_macs(_reference(cfg), video)


def test_config_round_trips_and_is_bounded():
    for cfg, _, protocol in X3D_CONFIGS.values():
        assert X3DConfig.from_dict(cfg.to_dict()) == cfg
        assert protocol.clips == 10 and protocol.crops == 3
    for bad in (
        {"crop_size": 16},
        {"depth_factor": 0},
        {"width_factor": 100.0},
        {"dropout": 1.0},
        {"num_frames": 10_000},
    ):
        with pytest.raises(ValueError):
            X3DConfig(**bad)
    with pytest.raises(ValueError, match="unknown"):
        X3DConfig.from_dict({"num_frames": 4, "frames": 4})
