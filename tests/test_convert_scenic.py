"""Scenic checkpoints: written with flax's own serializer, converted, and checked against an
independent numpy implementation of the same network working on the Flax parameter tree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidclass.checkpoints.convert.common import ConversionError
from vidclass.checkpoints.convert.flax_msgpack import model_params, read_tree
from vidclass.checkpoints.convert.scenic import convert_params, infer_config
from vidclass.models import Variant, ViViT

serialization = pytest.importorskip("flax.serialization")  # a dev dependency: always present in CI

D, HEADS, MLP, T_IN, IMG, TUB = 16, 4, 32, 4, 16, (2, 8, 8)
TP, S = T_IN // TUB[0], (IMG // TUB[1]) ** 2  # 2 token frames of 4 positions
CLASSES = 5


def rnd(rng, *shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def norm_params(rng):
    return {"scale": 1 + rnd(rng, D, scale=0.1), "bias": rnd(rng, D, scale=0.1)}


def dense(rng, i, o):
    return {"kernel": rnd(rng, i, o), "bias": rnd(rng, o, scale=0.1)}


def attention(rng):
    hd = D // HEADS
    p = {
        n: {"kernel": rnd(rng, D, HEADS, hd), "bias": rnd(rng, HEADS, hd, scale=0.1)} for n in ("query", "key", "value")
    }
    p["out"] = {"kernel": rnd(rng, HEADS, hd, D), "bias": rnd(rng, D, scale=0.1)}
    return p


def block(rng):
    return {
        "LayerNorm_0": norm_params(rng),
        "MultiHeadDotProductAttention_0": attention(rng),
        "LayerNorm_1": norm_params(rng),
        "MlpBlock_0": {"Dense_0": dense(rng, D, MLP), "Dense_1": dense(rng, MLP, D)},
    }


def encoder(rng, depth, positions, learner_at=None, tokens=3):
    tree = {f"encoderblock_{i}": block(rng) for i in range(depth)}
    tree["posembed_input"] = {"pos_embedding": rnd(rng, 1, positions, D)}
    tree["encoder_norm"] = norm_params(rng)
    if learner_at is not None:
        tree["TokenLearnerModuleV11_0"] = {
            "LayerNorm_0": norm_params(rng),
            "token_masking": {"Dense_0": dense(rng, D, 64), "Dense_1": dense(rng, 64, tokens)},
        }
    return tree


def scenic_tree(kind, rng):
    tree = {
        "embedding": {"kernel": rnd(rng, *TUB, 3, D), "bias": rnd(rng, D, scale=0.1)},
        "output_projection": dense(rng, D, CLASSES),
    }
    if kind == "model1":
        tree["cls"] = rnd(rng, 1, 1, D)
        tree["Transformer"] = encoder(rng, 2, 1 + TP * S)
    elif kind == "model2":
        tree["cls_SpatialTransformer"] = rnd(rng, 1, 1, D)
        tree["cls_TemporalTransformer"] = rnd(rng, 1, 1, D)
        tree["SpatialTransformer"] = encoder(rng, 2, 1 + S)
        tree["TemporalTransformer"] = encoder(rng, 1, 1 + TP)
    else:  # TokenLearner v1.1, 3 tokens before layer 1, average pooling
        tree["Transformer"] = encoder(rng, 2, TP * S, learner_at=1)
    return tree


# --- the independent reference, straight on the Flax tree (float64 numpy) ---------------------


def ln(x, p):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-6) * p["scale"] + p["bias"]


def gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def mha(x, p):
    q, k, v = (np.einsum("bnd,dhk->bnhk", x, p[n]["kernel"]) + p[n]["bias"] for n in ("query", "key", "value"))
    a = softmax(np.einsum("bqhk,bphk->bhqp", q, k) / np.sqrt(q.shape[-1]), -1)
    heads = np.einsum("bhqp,bphk->bqhk", a, v)
    return np.einsum("bqhk,hkd->bqd", heads, p["out"]["kernel"]) + p["out"]["bias"]


def mlp(x, p):
    return gelu(x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"]) @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]


def run_encoder(x, p, frames=1):
    x = x + p["posembed_input"]["pos_embedding"]
    for i in range(len([k for k in p if k.startswith("encoderblock_")])):
        if i == 1 and "TokenLearnerModuleV11_0" in p:
            tl = p["TokenLearnerModuleV11_0"]
            b, n, d = x.shape
            per_frame = x.reshape(b * frames, n // frames, d)
            w = softmax(mlp(ln(per_frame, tl["LayerNorm_0"]), tl["token_masking"]).transpose(0, 2, 1), -1)
            x = np.einsum("fsn,fnd->fsd", w, per_frame).reshape(b, -1, d)
        blk = p[f"encoderblock_{i}"]
        x = x + mha(ln(x, blk["LayerNorm_0"]), blk["MultiHeadDotProductAttention_0"])
        x = x + mlp(ln(x, blk["LayerNorm_1"]), blk["MlpBlock_0"])
    return ln(x, p["encoder_norm"])


def reference(tree, video):
    """video: (B, T, H, W, C) channels-last, as scenic takes it."""
    b = video.shape[0]
    t, h, w = TUB
    patches = video.reshape(b, TP, t, IMG // h, h, IMG // w, w, 3)
    tokens = np.einsum("bTtHhWwc,thwcd->bTHWd", patches, tree["embedding"]["kernel"]) + tree["embedding"]["bias"]
    tokens = tokens.reshape(b, TP, S, D)
    if "SpatialTransformer" in tree:
        x = tokens.reshape(b * TP, S, D)
        x = np.concatenate([np.broadcast_to(tree["cls_SpatialTransformer"], (b * TP, 1, D)), x], 1)
        x = run_encoder(x, tree["SpatialTransformer"])[:, 0].reshape(b, TP, D)
        x = np.concatenate([np.broadcast_to(tree["cls_TemporalTransformer"], (b, 1, D)), x], 1)
        pooled = run_encoder(x, tree["TemporalTransformer"])[:, 0]
    elif "cls" in tree:
        x = np.concatenate([np.broadcast_to(tree["cls"], (b, 1, D)), tokens.reshape(b, TP * S, D)], 1)
        pooled = run_encoder(x, tree["Transformer"])[:, 0]
    else:
        pooled = run_encoder(tokens.reshape(b, TP * S, D), tree["Transformer"], frames=TP).mean(1)
    return pooled @ tree["output_projection"]["kernel"] + tree["output_projection"]["bias"]


def f64(tree):
    return {k: f64(v) if isinstance(v, dict) else v.astype(np.float64) for k, v in tree.items()}


@pytest.mark.parametrize("kind", ["model1", "model2", "tokenlearner"])
def test_scenic_checkpoint_converts_to_the_same_network(tmp_path, kind):
    tree = scenic_tree(kind, np.random.default_rng(0))
    path = tmp_path / "checkpoint"
    path.write_bytes(serialization.to_bytes({"optimizer": {"target": tree, "state": {"step": 7}}, "global_step": 7}))
    params = model_params(read_tree(path), str(path))
    cfg = infer_config(params, image_size=IMG, tokenlearner_location=1 if kind == "tokenlearner" else None)
    assert (cfg.num_frames, cfg.image_size, cfg.tubelet, cfg.hidden_size, cfg.num_heads, cfg.mlp_dim) == (
        T_IN,
        IMG,
        TUB,
        D,
        HEADS,
        MLP,
    )
    expected_variant = Variant.FACTORIZED_ENCODER if kind == "model2" else Variant.SPACETIME
    assert cfg.variant is expected_variant
    assert (cfg.tokenlearner is not None) == (kind == "tokenlearner")
    model = ViViT(cfg).eval()
    model.load_state_dict(convert_params(params, cfg))
    video = np.random.default_rng(1).standard_normal((2, T_IN, IMG, IMG, 3))
    with torch.no_grad():
        ours = model(torch.from_numpy(video).float().permute(0, 4, 1, 2, 3)).double().numpy()
    theirs = reference(f64(tree), video)
    assert np.abs(ours - theirs).max() < 1e-4
    assert np.abs(theirs).max() > 0.1  # the comparison is not between two near-zero outputs


def test_chunked_arrays_convert_too(tmp_path, monkeypatch):
    tree = scenic_tree("model1", np.random.default_rng(0))
    plain = tmp_path / "plain"
    plain.write_bytes(serialization.to_bytes({"optimizer": {"target": tree}}))
    monkeypatch.setattr(serialization, "MAX_CHUNK_SIZE", 64)  # every array over 64 bytes is chunked
    chunked = tmp_path / "chunked"
    chunked.write_bytes(serialization.to_bytes({"optimizer": {"target": tree}}))
    assert b"__msgpack_chunked_array__" in chunked.read_bytes()
    a = model_params(read_tree(plain), "plain")
    b = model_params(read_tree(chunked), "chunked")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_leftover_and_missing_parameters_are_named(tmp_path):
    tree = scenic_tree("model1", np.random.default_rng(0))
    path = tmp_path / "checkpoint"
    tree["Transformer"]["encoderblock_0"]["extra"] = {"kernel": np.zeros((2, 2), np.float32)}
    path.write_bytes(serialization.to_bytes({"optimizer": {"target": tree}}))
    params = model_params(read_tree(path), "ckpt")
    cfg = infer_config(params, image_size=IMG)
    with pytest.raises(ConversionError, match="unused tensor.*Transformer/encoderblock_0/extra/kernel"):
        convert_params(params, cfg, "ckpt")
    del params["Transformer/encoderblock_0/extra/kernel"]
    del params["Transformer/encoderblock_1/MlpBlock_0/Dense_1/bias"]
    with pytest.raises(ConversionError, match="missing tensor 'Transformer/encoderblock_1/MlpBlock_0/Dense_1/bias'"):
        convert_params(params, cfg, "ckpt")


def test_truncated_and_foreign_files_are_refused(tmp_path):
    tree = scenic_tree("model1", np.random.default_rng(0))
    path = tmp_path / "checkpoint"
    raw = serialization.to_bytes({"optimizer": {"target": tree}})
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ConversionError, match="not a readable Flax msgpack checkpoint"):
        read_tree(path)
    path.write_bytes(b"\x93\x01\x02\x03")  # a msgpack list, not a map
    with pytest.raises(ConversionError, match="top level is not a map"):
        read_tree(path)


def test_tokenlearner_location_must_be_given_without_fuser():
    params = model_params({"optimizer": {"target": scenic_tree("tokenlearner", np.random.default_rng(0))}}, "x")
    with pytest.raises(ConversionError, match="tokenlearner-location"):
        infer_config(params, image_size=IMG)


def test_model4_has_model1_parameters_and_is_chosen_explicitly():
    params = model_params({"optimizer": {"target": scenic_tree("tokenlearner", np.random.default_rng(0))}}, "x")
    cfg = infer_config(params, image_size=IMG, tokenlearner_location=1, variant="factorized_dot_product")
    assert cfg.variant is Variant.FACTORIZED_DOT_PRODUCT
    with pytest.raises(ConversionError, match="parameters are those of spacetime"):
        infer_config(params, image_size=IMG, tokenlearner_location=1, variant="factorized_encoder")


def test_explain_works_on_a_converted_scenic_tokenlearner(tmp_path):
    # scenic's TokenLearner v1.1 at layer 1 (3 tokens): tokens are the converted learner's maps
    import json

    from click.testing import CliRunner

    from tests.videos import write_video
    from vidclass.cli.main import main

    tree = scenic_tree("tokenlearner", np.random.default_rng(0))
    checkpoint = tmp_path / "checkpoint"
    checkpoint.write_bytes(serialization.to_bytes({"optimizer": {"target": tree}}))
    model = tmp_path / "scenic.safetensors"
    runner = CliRunner()
    convert = [
        "convert",
        str(checkpoint),
        "-o",
        str(model),
        "--tokenlearner-location",
        "1",
        "--source-image-size",
        "16",
    ]
    converted = runner.invoke(main, convert)
    assert converted.exit_code == 0, converted.output
    video = write_video(tmp_path / "clip.mp4", num_frames=12, width=40, height=32)
    result = runner.invoke(main, ["explain", str(video), "-m", str(model), "-f", "json", "-j", "0", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["method"] == "tokens" and doc["layer"] == 1
    maps = np.array(doc["maps"])
    assert maps.shape == (T_IN, 3, 2, 2)  # frames, learned tokens, 16 px in 8 px patches
    np.testing.assert_allclose(maps.sum(axis=(2, 3)), 1.0, atol=1e-4)
