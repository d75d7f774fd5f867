"""Image ViT -> ViViT initialisation (timm and Hugging Face names) and position-embedding resampling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from vidclass.checkpoints.convert.common import ConversionError
from vidclass.checkpoints.convert.image_vit import (
    convert_image_vit,
    image_vit_num_heads,
    load_image_vit,
)
from vidclass.checkpoints.convert.posemb import resample_pos_embed, tile_over_time
from vidclass.models import Classifier, TokenLearnerConfig, Variant, ViViT, ViViTConfig

D, HEADS, MLP, LAYERS, PATCH, SIDE = 16, 2, 32, 2, 4, 3  # image ViT: 12 px images, a 3x3 patch grid
IMAGE = PATCH * SIDE

BASE = ViViTConfig(
    num_classes=5,
    num_frames=1,
    image_size=IMAGE,
    tubelet=(1, PATCH, PATCH),
    hidden_size=D,
    num_layers=LAYERS,
    num_heads=HEADS,
    mlp_dim=MLP,
    temporal_layers=1,
)


class NotATensor:
    """Pickled by reference to this module; ``weights_only`` loading must refuse it."""


def target(variant: Variant = Variant.SPACETIME, **changes) -> ViViTConfig:
    gap = variant in (Variant.FACTORIZED_SELF_ATTENTION, Variant.FACTORIZED_DOT_PRODUCT)
    changes.setdefault("classifier", Classifier.GAP if gap else Classifier.TOKEN)
    return BASE.replace(variant=variant, **changes)


def timm_state(seed: int = 0, layers: int = LAYERS, d: int = D, mlp: int = MLP) -> dict[str, torch.Tensor]:
    """A random timm ``VisionTransformer`` state dict (with its classifier head)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    sd = {
        "cls_token": r(1, 1, d),
        "pos_embed": r(1, 1 + SIDE * SIDE, d),
        "patch_embed.proj.weight": r(d, 3, PATCH, PATCH),
        "patch_embed.proj.bias": r(d),
        "norm.weight": r(d),
        "norm.bias": r(d),
        "head.weight": r(7, d),
        "head.bias": r(7),
    }
    for i in range(layers):
        b = f"blocks.{i}."
        for name, shape in (("norm1", (d,)), ("norm2", (d,))):
            sd[f"{b}{name}.weight"], sd[f"{b}{name}.bias"] = r(*shape), r(*shape)
        sd[f"{b}attn.qkv.weight"], sd[f"{b}attn.qkv.bias"] = r(3 * d, d), r(3 * d)
        sd[f"{b}attn.proj.weight"], sd[f"{b}attn.proj.bias"] = r(d, d), r(d)
        sd[f"{b}mlp.fc1.weight"], sd[f"{b}mlp.fc1.bias"] = r(mlp, d), r(mlp)
        sd[f"{b}mlp.fc2.weight"], sd[f"{b}mlp.fc2.bias"] = r(d, mlp), r(d)
    return sd


def hf_config():
    transformers = pytest.importorskip("transformers")
    # tanh GELU and eps 1e-6, as in our blocks, so that numerics agree exactly
    return transformers.ViTConfig(
        hidden_size=D,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=MLP,
        image_size=IMAGE,
        patch_size=PATCH,
        num_channels=3,
        hidden_act="gelu_pytorch_tanh",
        layer_norm_eps=1e-6,
        qkv_bias=True,
        num_labels=7,
        attn_implementation="eager",
    )


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p + 0.3 * torch.randn(p.shape, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def hf_vit():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    return randomise(transformers.ViTModel(hf_config()))


@pytest.fixture(scope="module")
def hf_saved(hf_vit, tmp_path_factory) -> dict[str, torch.Tensor]:
    """The weights as ``save_pretrained`` writes them (the hub's names: ``encoder.layer.{i}...``)."""
    folder = tmp_path_factory.mktemp("hf-vit")
    hf_vit.save_pretrained(folder)
    return load_image_vit(folder)


def hf_to_timm(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same weights under timm's names, renamed independently of the converter."""
    out = {
        "cls_token": sd["embeddings.cls_token"],
        "pos_embed": sd["embeddings.position_embeddings"],
        "patch_embed.proj.weight": sd["embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": sd["embeddings.patch_embeddings.projection.bias"],
        "norm.weight": sd["layernorm.weight"],
        "norm.bias": sd["layernorm.bias"],
    }
    for i in range(LAYERS):
        h, t = f"encoder.layer.{i}.", f"blocks.{i}."
        for s in ("weight", "bias"):
            out[f"{t}norm1.{s}"] = sd[f"{h}layernorm_before.{s}"]
            out[f"{t}attn.qkv.{s}"] = torch.cat(
                [sd[f"{h}attention.attention.{p}.{s}"] for p in ("query", "key", "value")]
            )
            out[f"{t}attn.proj.{s}"] = sd[f"{h}attention.output.dense.{s}"]
            out[f"{t}norm2.{s}"] = sd[f"{h}layernorm_after.{s}"]
            out[f"{t}mlp.fc1.{s}"] = sd[f"{h}intermediate.dense.{s}"]
            out[f"{t}mlp.fc2.{s}"] = sd[f"{h}output.dense.{s}"]
    return out


def build(cfg: ViViTConfig, state: dict[str, torch.Tensor]) -> ViViT:
    model = ViViT(cfg)
    model.load_state_dict(state, strict=True)
    return model.eval()


def fresh(cfg: ViViTConfig, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return ViViT(cfg).state_dict()


# Position-embedding resampling ---------------------------------------------------------------


def test_resample_is_exact_identity_on_equal_grids():
    pos = torch.randn(1, 1 + 2 * 3 * 4, 8)
    out = resample_pos_embed(pos, (2, 3, 4), (2, 3, 4), num_prefix=1)
    assert torch.equal(out, pos)
    assert out.data_ptr() != pos.data_ptr()  # a copy: no shared storage with the source


def ramp_along_width(h: int, w: int, d: int = 3) -> torch.Tensor:
    values = (2.0 * torch.arange(w) + 1.0).repeat(h)  # row-major (h, w): depends on the column only
    return torch.cat([torch.full((1, 1, d), -7.0), values.view(1, h * w, 1).expand(1, h * w, d)], dim=1)


def test_resample_keeps_a_linear_ramp_linear_and_the_cls_row():
    # Downsampling 8 -> 4 columns samples source columns 2j + 0.5 (align_corners=False): exactly linear.
    out = resample_pos_embed(ramp_along_width(3, 8), (3, 8), (3, 4), num_prefix=1)
    assert out.shape == (1, 1 + 12, 3)
    assert torch.equal(out[0, 0], torch.full((3,), -7.0))
    expected = (2.0 * (2 * torch.arange(4) + 0.5) + 1.0).repeat(3)
    torch.testing.assert_close(out[0, 1:, 0], expected, rtol=0, atol=1e-5)
    # Upsampling 4 -> 7 columns: source column (j + 0.5) * 4/7 - 0.5, clamped at the borders.
    out = resample_pos_embed(ramp_along_width(2, 4), (2, 4), (2, 7), num_prefix=1)
    src = ((torch.arange(7) + 0.5) * 4 / 7 - 0.5).clamp(0, 3)
    torch.testing.assert_close(out[0, 1:, 1], (2.0 * src + 1.0).repeat(2), rtol=0, atol=1e-5)


def test_resample_three_axes_interpolates_time_too():
    t, h, w, d = 4, 2, 2, 5
    ramp = (3.0 * torch.arange(t, dtype=torch.float32)).repeat_interleave(h * w)  # depends on time only
    pos = ramp.view(1, t * h * w, 1).expand(1, t * h * w, d).contiguous()
    out = resample_pos_embed(pos, (t, h, w), (2, 3, 5), num_prefix=0)
    assert out.shape == (1, 2 * 3 * 5, d)
    grid = out.view(2, 3, 5, d)
    torch.testing.assert_close(grid[0], torch.full((3, 5, d), 1.5), rtol=0, atol=1e-5)  # 3 * 0.5
    torch.testing.assert_close(grid[1], torch.full((3, 5, d), 7.5), rtol=0, atol=1e-5)  # 3 * 2.5


def test_resample_shapes_dtype_and_one_axis():
    pos = torch.randn(1, 1 + 16, 4, dtype=torch.bfloat16)
    out = resample_pos_embed(pos, (16,), (8,), num_prefix=1)
    assert out.shape == (1, 9, 4) and out.dtype == torch.bfloat16
    assert torch.equal(out[:, :1], pos[:, :1])
    assert resample_pos_embed(torch.randn(1, 2 + 2 * 3 * 3, 4), (2, 3, 3), (4, 7, 7), num_prefix=2).shape == (
        1,
        2 + 4 * 49,
        4,
    )


def test_resample_rejects_a_wrong_row_count():
    with pytest.raises(ValueError, match=r"has 10 rows.*1 prefix row\(s\) \+ a 2x2x2 old grid need 9"):
        resample_pos_embed(torch.randn(1, 10, 4), (2, 2, 2), (2, 3, 3), num_prefix=1)
    with pytest.raises(ValueError, match="different numbers of axes"):
        resample_pos_embed(torch.randn(1, 9, 4), (3, 3), (1, 3, 3), num_prefix=0)
    with pytest.raises(ValueError, match=r"must be \(1, P, D\)"):
        resample_pos_embed(torch.randn(9, 4), (3, 3), (3, 3), num_prefix=0)


def test_tile_over_time_orders_time_then_space():
    pos = torch.randn(1, 1 + 6, 4)
    out = tile_over_time(pos, 3, num_prefix=1)
    assert out.shape == (1, 1 + 18, 4)
    assert torch.equal(out[:, 0], pos[:, 0])
    for k in range(3):
        assert torch.equal(out[:, 1 + 6 * k : 1 + 6 * (k + 1)], pos[:, 1:])
    assert torch.equal(tile_over_time(pos[:, 1:], 2, num_prefix=0), torch.cat([pos[:, 1:]] * 2, dim=1))
    with pytest.raises(ValueError, match="frames must be >= 1"):
        tile_over_time(pos, 0, num_prefix=1)


# Tubelet kernels ------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [2, 3])
def test_tubelet_kernels_central_frame_and_inflation(t):
    image = timm_state()
    frames = 2 * t
    cfg = target(num_frames=frames, tubelet=(t, PATCH, PATCH))
    g = torch.Generator().manual_seed(1)
    varied = torch.randn(2, 3, frames, IMAGE, IMAGE, generator=g)  # every frame different
    static = torch.randn(2, 3, 1, IMAGE, IMAGE, generator=g).expand(-1, -1, frames, -1, -1)

    def image_patches(frames_: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, S, D)
        out = F.conv2d(frames_, image["patch_embed.proj.weight"], image["patch_embed.proj.bias"], stride=PATCH)
        return out.flatten(2).transpose(1, 2)

    with torch.no_grad():
        central = build(cfg, convert_image_vit(image, cfg, seed=0)).patch_embed
        inflated = build(cfg, convert_image_vit(image, cfg, kernel_init="inflate", seed=0)).patch_embed
        for patch_embed in (central, inflated):  # a static video gives the image's patch embeddings per frame
            got = patch_embed(static)  # (B, T', S, D)
            assert got.shape == (2, 2, SIDE * SIDE, D)
            for k in range(2):
                torch.testing.assert_close(got[:, k], image_patches(static[:, :, 0]), rtol=0, atol=1e-5)
        got_c, got_i = central(varied), inflated(varied)
        for k in range(2):
            tube = varied[:, :, k * t : (k + 1) * t]
            torch.testing.assert_close(got_c[:, k], image_patches(tube[:, :, t // 2]), rtol=0, atol=1e-5)
            torch.testing.assert_close(got_i[:, k], image_patches(tube.mean(dim=2)), rtol=0, atol=1e-5)
            assert (got_c[:, k] - image_patches(tube[:, :, 0])).abs().max() > 0.1  # not the first frame


# Parity with the image model -------------------------------------------------------------------


def test_model1_one_frame_equals_the_image_vit(hf_vit, hf_saved):
    """Uniform frame sampling (t = 1) on one frame at the same size *is* the image ViT."""
    cfg = target()
    pixels = torch.randn(2, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(2))
    assert "encoder.layer.1.attention.attention.query.weight" in hf_saved
    state = convert_image_vit(hf_saved, cfg, seed=0, num_heads=HEADS)
    with torch.no_grad():
        reference = hf_vit(pixel_values=pixels).last_hidden_state[:, 0]
        ours = build(cfg, state).forward_features(pixels.unsqueeze(2))
    diff = (ours - reference).abs().max().item()
    print(f"Model 1 vs image ViT CLS feature: max abs diff {diff:.3g}")
    assert diff <= 1e-4
    assert reference.abs().max() > 0.5  # a meaningful comparison, not of near-zeros


def test_model2_spatial_encoder_equals_the_image_vit_per_frame(hf_vit, hf_saved):
    cfg = target(Variant.FACTORIZED_ENCODER, num_frames=4, tubelet=(2, PATCH, PATCH))
    image = torch.randn(1, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(3))
    video = image.unsqueeze(2).expand(-1, -1, 4, -1, -1)
    state = convert_image_vit(hf_saved, cfg, seed=5)
    model = build(cfg, state)
    with torch.no_grad():
        reference = hf_vit(pixel_values=image).last_hidden_state[:, 0]  # (1, D)
        tokens = model.patch_embed(video)  # (1, 2, S, D)
        frames = torch.cat([model.backbone.cls_spatial.expand(2, -1, -1), tokens[0]], dim=1)
        per_frame = model.backbone.spatial(frames)[:, 0]  # (2, D)
    diff = (per_frame - reference).abs().max().item()
    print(f"Model 2 spatial encoder vs image ViT CLS feature: max abs diff {diff:.3g}")
    assert diff <= 1e-4
    # The temporal encoder, its CLS token and the head are a fresh ViViT(target) with the seed.
    reference_init = fresh(cfg, seed=5)
    for key, value in state.items():
        if key.startswith(("backbone.temporal.", "backbone.cls_temporal", "head.")):
            assert torch.equal(value, reference_init[key]), key


def test_timm_and_hugging_face_names_convert_identically(hf_vit, hf_saved, tmp_path):
    transformers = pytest.importorskip("transformers")
    assert any(k.startswith("pooler.") for k in hf_saved)  # ViTModel's pooler: dropped by design
    classifier = transformers.ViTForImageClassification(hf_config())
    classifier.vit.load_state_dict(hf_vit.state_dict(), strict=False)  # no pooler in the classification model
    classifier.save_pretrained(tmp_path)
    cfg = target(num_frames=4, tubelet=(2, PATCH, PATCH))
    timm = hf_to_timm(hf_saved) | {"head.weight": torch.randn(7, D), "head.bias": torch.zeros(7)}
    reference = convert_image_vit(timm, cfg, seed=0)
    others = {
        "saved ViTModel": hf_saved,
        "in-memory ViTModel": hf_vit.state_dict(),  # transformers >= 5 names modules differently
        "saved ViTForImageClassification": load_image_vit(tmp_path),  # ``vit.`` prefix and ``classifier``
        "in-memory ViTForImageClassification": classifier.state_dict(),
    }
    for name, tensors in others.items():
        state = convert_image_vit(tensors, cfg, seed=0)
        assert state.keys() == reference.keys(), name
        for key in state:
            assert torch.equal(state[key], reference[key]), (name, key)


# What goes where, per variant -------------------------------------------------------------------

TOKENLEARNER = TokenLearnerConfig(num_tokens=2, location=1, fuse=True)
VARIANTS = {
    "model1": (target(num_frames=4, tubelet=(2, PATCH, PATCH)), {"head."}),
    "model1-gap-tokenlearner": (
        target(num_frames=4, tubelet=(2, PATCH, PATCH), classifier="gap", tokenlearner=TOKENLEARNER),
        {"head.", "backbone.encoder.learners.", "backbone.encoder.fusers."},
    ),
    "model2": (
        target(Variant.FACTORIZED_ENCODER, num_frames=4, tubelet=(2, PATCH, PATCH), representation_size=8),
        {"head.", "pre_logits.", "backbone.temporal.", "backbone.cls_temporal"},
    ),
    "model3": (target(Variant.FACTORIZED_SELF_ATTENTION, num_frames=4, tubelet=(2, PATCH, PATCH)), {"head."}),
    "model4": (target(Variant.FACTORIZED_DOT_PRODUCT, num_frames=4, tubelet=(2, PATCH, PATCH)), {"head."}),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_converts_runs_and_inits_only_the_listed_parts(name, tmp_path):
    cfg, new_parts = VARIANTS[name]
    state = convert_image_vit(timm_state(), cfg, seed=3)
    init = fresh(cfg, seed=3)
    newly = {key for key in state if torch.equal(state[key], init[key])}
    assert newly == {key for key in init if key.startswith(tuple(new_parts))}
    model = build(cfg, state)
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 4, IMAGE, IMAGE))
    assert logits.shape == (1, 5) and torch.isfinite(logits).all()
    save_file(state, str(tmp_path / "m.safetensors"))  # no two entries share storage


def test_model3_puts_the_image_attention_in_both_attentions():
    image = timm_state()
    cfg = VARIANTS["model3"][0]
    state = convert_image_vit(image, cfg, seed=0)
    for i in range(LAYERS):
        ours, theirs = f"backbone.encoder.blocks.{i}.", f"blocks.{i}."
        for s in ("weight", "bias"):
            for attn in ("attn_time", "attn_space"):
                assert torch.equal(state[f"{ours}{attn}.qkv.{s}"], image[f"{theirs}attn.qkv.{s}"])
                assert torch.equal(state[f"{ours}{attn}.proj.{s}"], image[f"{theirs}attn.proj.{s}"])
            assert torch.equal(state[f"{ours}norm_time.{s}"], image[f"{theirs}norm1.{s}"])
            assert torch.equal(state[f"{ours}norm_space.{s}"], image[f"{theirs}norm1.{s}"])
            assert torch.equal(state[f"{ours}norm_mlp.{s}"], image[f"{theirs}norm2.{s}"])
            assert torch.equal(state[f"{ours}mlp.fc1.{s}"], image[f"{theirs}mlp.fc1.{s}"])
    # GAP: no CLS token; the image CLS position row is dropped and the rest tiled over 2 frames.
    assert "backbone.cls_token" not in state
    assert torch.equal(state["backbone.encoder.pos_embed"], image["pos_embed"][:, 1:].repeat(1, 2, 1))


def test_position_embeddings_are_resampled_then_tiled():
    image = timm_state()
    cfg = target(num_frames=6, tubelet=(2, PATCH, PATCH), image_size=5 * PATCH)  # 3x3 -> 5x5 patches
    pos = convert_image_vit(image, cfg, seed=0)["backbone.encoder.pos_embed"]
    assert pos.shape == (1, 1 + 3 * 25, D)
    expected = tile_over_time(resample_pos_embed(image["pos_embed"], (3, 3), (5, 5), 1), 3, 1)
    assert torch.equal(pos, expected)
    assert torch.equal(pos[:, 0], image["pos_embed"][:, 0])  # CLS row kept
    assert torch.equal(pos[:, 1:26], pos[:, 26:51])  # the same for every frame
    # Model 2's spatial encoder takes the resampled image embeddings without tiling.
    cfg2 = cfg.replace(variant=Variant.FACTORIZED_ENCODER)
    spatial = convert_image_vit(image, cfg2, seed=0)["backbone.spatial.pos_embed"]
    assert torch.equal(spatial, expected[:, :26])


def test_timm_variants_fc_norm_and_no_embed_class():
    image = timm_state()
    image["fc_norm.weight"], image["fc_norm.bias"] = image.pop("norm.weight"), image.pop("norm.bias")
    image["pos_embed"] = image["pos_embed"][:, 1:]  # no_embed_class: positions for patches only
    cfg = target()
    state = convert_image_vit(image, cfg, seed=0)
    assert torch.equal(state["backbone.encoder.norm.weight"], image["fc_norm.weight"])
    assert torch.equal(state["backbone.encoder.pos_embed"][:, 0], torch.zeros(1, D))  # CLS gets no position
    assert torch.equal(state["backbone.encoder.pos_embed"][:, 1:], image["pos_embed"])


# Strictness -------------------------------------------------------------------------------------


def test_an_unknown_tensor_is_an_error_naming_it():
    image = timm_state() | {"blocks.0.attn.q_norm.weight": torch.ones(8)}
    with pytest.raises(ConversionError, match=r"unused tensor\(s\) blocks\.0\.attn\.q_norm\.weight"):
        convert_image_vit(image, target(), origin="vit.safetensors")


def test_a_missing_block_tensor_is_an_error_naming_it():
    image = timm_state()
    del image["blocks.1.mlp.fc2.bias"]
    with pytest.raises(ConversionError, match=r"vit\.safetensors: missing tensor 'blocks\.1\.mlp\.fc2\.bias'"):
        convert_image_vit(image, target(), origin="vit.safetensors")


@pytest.mark.parametrize(
    ("image", "changes", "kwargs", "message"),
    [
        (dict(d=24), {}, {}, r"hidden size 24 \(target hidden_size 16\)"),
        (dict(layers=3), {}, {}, r"3 layers \(target num_layers 2\)"),
        (dict(mlp=48), {}, {}, r"MLP width 48 \(target mlp_dim 32\)"),
        ({}, dict(tubelet=(1, 2, 2)), {}, r"patch 4x4 \(target tubelet h x w 2x2\)"),
        ({}, {}, dict(num_heads=4), r"4 heads \(target num_heads 2\)"),
    ],
)
def test_a_model_that_does_not_fit_the_target_is_refused(image, changes, kwargs, message):
    with pytest.raises(ConversionError, match=message):
        convert_image_vit(timm_state(**image), target(**changes), **kwargs)


def test_other_refusals():
    no_cls = timm_state()
    del no_cls["cls_token"]
    no_cls["pos_embed"] = no_cls["pos_embed"][:, 1:]
    with pytest.raises(ConversionError, match="no CLS token"):
        convert_image_vit(no_cls, target())
    assert "head.weight" in convert_image_vit(no_cls, target(classifier="gap"))  # fine for a GAP target
    with pytest.raises(ConversionError, match="not an image ViT state dict"):
        convert_image_vit({"vivit.embeddings.cls_token": torch.zeros(1, 1, D)}, target())
    bad_pos = timm_state()
    bad_pos["pos_embed"] = bad_pos["pos_embed"][:, :8]
    with pytest.raises(ConversionError, match=r"pos_embed has 8 rows"):
        convert_image_vit(bad_pos, target())
    with pytest.raises(ConversionError, match=r"unused tensor\(s\) blocks\.0\.attn\.qkv\.bias"):
        convert_image_vit(timm_state(), target(qkv_bias=False))
    with pytest.raises(ValueError, match="kernel_init"):
        convert_image_vit(timm_state(), target(), kernel_init="random")


# Loading ----------------------------------------------------------------------------------------


def test_load_image_vit_files_and_directories(tmp_path, hf_vit):
    image = timm_state()
    save_file(image, str(tmp_path / "vit.safetensors"))
    assert load_image_vit(tmp_path / "vit.safetensors").keys() == image.keys()
    torch.save({"model": image, "epoch": 3, "args": {"lr": 0.1}}, tmp_path / "deit.pth")  # a training checkpoint
    assert load_image_vit(tmp_path / "deit.pth").keys() == image.keys()
    torch.save(image, tmp_path / "plain.bin")
    assert load_image_vit(tmp_path / "plain.bin").keys() == image.keys()
    for safe in (True, False):  # model.safetensors, then pytorch_model.bin
        folder = tmp_path / f"hf-{safe}"
        hf_vit.save_pretrained(folder, safe_serialization=safe)
        loaded = load_image_vit(folder)
        assert "encoder.layer.0.attention.attention.query.weight" in loaded and len(loaded) == len(hf_vit.state_dict())
        assert image_vit_num_heads(folder) == HEADS
    assert image_vit_num_heads(tmp_path) is None


def test_load_image_vit_refusals(tmp_path):
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.raises(ConversionError, match="not a readable safetensors file"):
        load_image_vit(tmp_path / "cut.safetensors")
    torch.save({"model": {"weight": torch.ones(2)}, "step": [1, 2]}, tmp_path / "ok.pt")
    assert set(load_image_vit(tmp_path / "ok.pt")) == {"weight"}
    torch.save({"weights": [torch.ones(2)]}, tmp_path / "nested.pt")
    with pytest.raises(ConversionError, match="expected a dict of tensors"):
        load_image_vit(tmp_path / "nested.pt")
    torch.save({"x": NotATensor()}, tmp_path / "code.pt")
    with pytest.raises(ConversionError, match="refused: not a plain tensor checkpoint"):
        load_image_vit(tmp_path / "code.pt")
    (tmp_path / "vit.npz").write_bytes(b"")
    with pytest.raises(ConversionError, match="not an image ViT checkpoint"):
        load_image_vit(tmp_path / "vit.npz")
    with pytest.raises(ConversionError, match="no such file"):
        load_image_vit(tmp_path / "missing.safetensors")


def test_cli_init_from_image_vit(tmp_path):
    """``vidclass convert IMAGE_VIT --init CONFIG`` writes a loadable model built from the image's blocks."""
    import json

    from click.testing import CliRunner

    from vidclass.checkpoints import load_model
    from vidclass.cli.main import main
    from vidclass.models import get_entry

    cfg = get_entry("vivit-micro").config  # 64-d, 2 layers, MLP 128, 8x8 patches, 32 px: a 4x4 grid
    g = torch.Generator().manual_seed(3)
    image = timm_state(seed=3, layers=2, d=64, mlp=128)
    image["patch_embed.proj.weight"] = torch.randn(64, 3, 8, 8, generator=g)
    image["pos_embed"] = torch.randn(1, 1 + 16, 64, generator=g)
    save_file(image, str(tmp_path / "vit.safetensors"))
    (tmp_path / "labels.txt").write_text("a\nb\n")
    out = tmp_path / "init.safetensors"
    args = ["convert", str(tmp_path / "vit.safetensors"), "--init", "vivit-micro", "-o", str(out), "-f", "json"]
    missing_labels = CliRunner().invoke(main, args)
    assert missing_labels.exit_code == 2 and "--labels" in missing_labels.stderr
    result = CliRunner().invoke(main, [*args, "--labels", str(tmp_path / "labels.txt")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["classes"] == 2
    loaded = load_model(out)
    assert loaded.labels == ("a", "b") and loaded.config == cfg.replace(num_classes=2)
    state = loaded.model.state_dict()
    assert torch.equal(state["backbone.encoder.blocks.1.mlp.fc1.weight"], image["blocks.1.mlp.fc1.weight"])
    central = state["patch_embed.proj.weight"][:, :, 1]  # tubelet t=2: the image kernel sits at t//2 = 1
    assert torch.equal(central, image["patch_embed.proj.weight"])
    assert not state["patch_embed.proj.weight"][:, :, 0].any()
