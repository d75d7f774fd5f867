"""vidclass.explain's maps against a hand-written numpy recomputation of the whole network.

The reference below recomputes each tiny model's forward pass in float64 numpy from its
state_dict alone (LayerNorm, attention with an explicit softmax, tanh-GELU MLP, TokenLearner,
TokenFuser), checks its logits against the model's, and builds the rollout with explicit loops
and full N x N matrices, as docs/explain-methods.md writes them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidclass.errors import EXIT_USAGE, VidclassError
from vidclass.explanation import Maps, explain_clip, methods_for, token_layers
from vidclass.models import TokenLearnerConfig, ViViT, ViViTConfig


def tiny(variant: str = "spacetime", classifier: str = "gap", tl: dict | None = None, **extra) -> ViViTConfig:
    tokenlearner = TokenLearnerConfig(num_tokens=3, bottleneck_dim=8, **tl) if tl is not None else None
    return ViViTConfig(
        variant=variant,
        classifier=classifier,
        num_classes=5,
        num_frames=8,
        image_size=16,
        tubelet=(2, 4, 4),
        hidden_size=16,
        num_layers=2,
        num_heads=4,
        mlp_dim=32,
        temporal_layers=2,
        tokenlearner=tokenlearner,
        **extra,
    )


CASES = {
    "m1-cls": tiny("spacetime", "token", representation_size=8),
    "m1-gap": tiny("spacetime"),
    "m2-cls": tiny("factorized_encoder", "token", temporal_heads=2),
    "m2-gap": tiny("factorized_encoder"),
    "m3-time-space": tiny("factorized_self_attention"),
    "m3-space-time": tiny("factorized_self_attention", attention_order="space_time"),
    "m4": tiny("factorized_dot_product"),
}
TL_CASES = {
    "m1-tl11": tiny("spacetime", tl={"location": 1}),
    "m1-tl10-fuse": tiny("spacetime", tl={"location": 0, "version": "v1.0", "fuse": True}),
    "m2-tl11-fuse": tiny("factorized_encoder", tl={"location": 0, "fuse": True}),
    "m3-tl10": tiny("factorized_self_attention", tl={"location": 0, "version": "v1.0"}),
    "m4-tl11-fuse": tiny("factorized_dot_product", tl={"location": 1, "fuse": True}),
}
ALL = {**CASES, **TL_CASES}


def build(cfg: ViViTConfig, dtype: torch.dtype = torch.float64) -> tuple[ViViT, torch.Tensor]:
    """The model with fixed seeded weights (every parameter random, the fuser's zeros too) and a clip."""
    model = ViViT(cfg)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
    clip = torch.randn(1, cfg.in_channels, cfg.num_frames, cfg.image_size, cfg.image_size, generator=gen)
    return model.to(dtype).eval(), clip.to(dtype)


# The numpy reference --------------------------------------------------------------------------


def ln(x, sd, p, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * sd[p + ".weight"] + sd[p + ".bias"]


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def lin(x, sd, p):
    return x @ sd[p + ".weight"].T + sd[p + ".bias"]


def mlp(x, sd, p):
    return lin(gelu(lin(x, sd, p + ".fc1")), sd, p + ".fc2")


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def rows_to_one(m):
    return m / m.sum(axis=-1, keepdims=True)


def sequences(kind, n, frames, cls):
    """Index lists of the token sequences one head attends within; tokens are (frame, position)."""
    s = (n - cls) // frames
    if kind == "all":
        return [list(range(n))]
    if kind == "time":
        return [[cls + t * s + p for t in range(frames)] for p in range(s)]
    return [[cls + t * s + p for p in range(s)] for t in range(frames)]


def attention(x, sd, p, heads, kinds, frames, cls):
    """Multi-head attention, explicitly: (output, the heads' mean as a full N x N matrix)."""
    n, d = x.shape
    hd = d // heads
    qkv = lin(x, sd, p + ".qkv")
    q, k, v = (qkv[:, i * d : (i + 1) * d].reshape(n, heads, hd) for i in range(3))
    out = np.zeros((n, heads, hd))
    mean = np.zeros((n, n))
    for h in range(heads):
        for idx in sequences(kinds[h], n, frames, cls):
            probs = softmax(q[idx, h] @ k[idx, h].T / np.sqrt(hd))
            out[idx, h] = probs @ v[idx, h]
            for a, i in enumerate(idx):
                for b, j in enumerate(idx):
                    mean[i, j] += probs[a, b] / heads
    return lin(out.reshape(n, d), sd, p + ".proj"), mean


def block(x, sd, p, cfg, mixer, heads, frames, cls):
    """One block: (output, its rollout factor)."""
    eps, eye = cfg.layer_norm_eps, np.eye(len(x))
    if mixer == "factorized_self_attention":
        order = ("time", "space") if cfg.attention_order.value == "time_space" else ("space", "time")
        factor = eye
        for name in order:
            out, a = attention(
                ln(x, sd, f"{p}.norm_{name}", eps), sd, f"{p}.attn_{name}", heads, [name] * heads, frames, cls
            )
            x = x + out
            factor = (0.5 * a + 0.5 * eye) @ factor
        return x + mlp(ln(x, sd, f"{p}.norm_mlp", eps), sd, f"{p}.mlp"), factor
    kinds = ["time"] * (heads // 2) + ["space"] * (heads // 2) if mixer == "factorized_dot_product" else ["all"] * heads
    out, a = attention(ln(x, sd, f"{p}.norm1", eps), sd, f"{p}.attn", heads, kinds, frames, cls)
    x = x + out
    return x + mlp(ln(x, sd, f"{p}.norm2", eps), sd, f"{p}.mlp"), 0.5 * a + 0.5 * eye


def conv3x3(x, weight):
    """x (C, h, w), weight (O, C, 3, 3), zero padding 1: a cross-correlation, as Conv2d."""
    _, h, w = x.shape
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((weight.shape[0], h, w))
    for o in range(weight.shape[0]):
        for i in range(h):
            for j in range(w):
                out[o, i, j] = np.sum(weight[o] * pad[:, i : i + 3, j : j + 3])
    return out


def learner_weights(x, sd, p, cfg):
    """A TokenLearner's raw weights (tokens, S) for one frame's tokens x (S, D)."""
    eps = cfg.layer_norm_eps
    if cfg.tokenlearner.version.value == "v1.1":
        return softmax(mlp(ln(x, sd, p + ".norm", eps), sd, p + ".mlp").T, axis=-1)
    _, h, w = cfg.grid
    maps = ln(x, sd, p + ".norm", eps).T.reshape(-1, h, w)
    for i in range(4):
        maps = conv3x3(maps, sd[f"{p}.convs.{i}.weight"])
        if i < 3:
            maps = gelu(maps)
    return sigmoid(maps.reshape(maps.shape[0], -1))


def fuser(tokens, original, sd, p, eps):
    """TokenFuser for one frame: (fused (S, D), its raw position weights (S, tokens))."""
    mixed = (ln(tokens, sd, p + ".norm_tokens", eps).T @ sd[p + ".mix.weight"].T + sd[p + ".mix.bias"]).T
    mixed = ln(mixed, sd, p + ".norm_mixed", eps)
    weights = sigmoid(mlp(ln(original, sd, p + ".norm_original", eps), sd, p + ".mlp"))
    return weights @ mixed, weights


def block_diag(mats):
    rows, cols = sum(m.shape[0] for m in mats), sum(m.shape[1] for m in mats)
    out, r, c = np.zeros((rows, cols)), 0, 0
    for m in mats:
        out[r : r + m.shape[0], c : c + m.shape[1]] = m
        r, c = r + m.shape[0], c + m.shape[1]
    return out


def encoder(x, sd, p, cfg, mixer, depth, heads, frames, cls, learn):
    """(output, rollout factors in forward order, {layer: (learner weights, to-learned matrix)})."""
    x = x + sd[p + ".pos_embed"][0]
    tl = cfg.tokenlearner if learn else None
    factors, learned = [], {}
    for i in range(depth):
        at = tl is not None and (i == tl.location or (tl.fuse and i > tl.location))
        if not at:
            x, factor = block(x, sd, f"{p}.blocks.{i}", cfg, mixer, heads, frames, cls)
            factors.append(factor)
            continue
        s = len(x) // frames
        frame = [x[t * s : (t + 1) * s] for t in range(frames)]
        raw = [learner_weights(f, sd, f"{p}.learners.{i}", cfg) for f in frame]
        y, a_hat = block(
            np.concatenate([w @ f for w, f in zip(raw, frame, strict=True)]),
            sd,
            f"{p}.blocks.{i}",
            cfg,
            mixer,
            heads,
            frames,
            0,
        )
        w_bd = block_diag([rows_to_one(w) for w in raw])
        k = raw[0].shape[0]
        if tl.fuse:
            fused = [
                fuser(y[t * k : (t + 1) * k], frame[t], sd, f"{p}.fusers.{i}", cfg.layer_norm_eps)
                for t in range(frames)
            ]
            x = np.concatenate([f + o for (f, _), o in zip(fused, frame, strict=True)])
            f_bd = block_diag([rows_to_one(fw) for _, fw in fused])
            factors.append(0.5 * np.eye(len(x)) + 0.5 * f_bd @ a_hat @ w_bd)
            learned[i] = (raw, f_bd @ a_hat)
        else:
            x = y
            factors.append(a_hat @ w_bd)
            learned[i] = (raw, a_hat)
    return ln(x, sd, p + ".norm", cfg.layer_norm_eps), factors, learned


def read(out, factors, cls, upto=0):
    """The output row (CLS, or the mean over rows) carried down through factors[upto:]."""
    row = np.eye(len(out))[0] if cls else np.full(len(out), 1.0 / len(out))
    for factor in reversed(factors[upto:]):
        row = row @ factor
    return row


def reference(model, clip, layer=None):
    """The network in numpy: logits, the rollout (steps, h, w) and step weights, and for a
    TokenLearner ``layer`` its maps (steps, tokens, h, w), row and step weights."""
    cfg = model.config
    sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    t, h, w = cfg.grid
    kt, kh, kw = cfg.tubelet
    video = clip[0].double().numpy()
    tokens = np.zeros((t, h * w, cfg.hidden_size))
    for a in range(t):
        for b in range(h):
            for c in range(w):
                patch = video[:, a * kt : (a + 1) * kt, b * kh : (b + 1) * kh, c * kw : (c + 1) * kw]
                tokens[a, b * w + c] = np.einsum("dcthw,cthw->d", sd["patch_embed.proj.weight"], patch)
    tokens += sd["patch_embed.proj.bias"]
    cls = int(cfg.has_cls_token)
    result = {}
    if cfg.variant.value == "factorized_encoder":
        pooled, grid, learned = [], [], []
        for a in range(t):
            x = np.concatenate([sd["backbone.cls_spatial"][0], tokens[a]]) if cls else tokens[a]
            out, factors, found = encoder(
                x, sd, "backbone.spatial", cfg, "spacetime", cfg.num_layers, cfg.num_heads, 1, cls, True
            )
            pooled.append(out[0] if cls else out.mean(0))
            grid.append(read(out, factors, cls)[cls:])
            if layer is not None:
                learned.append((found[layer][0][0], read(out, factors, cls, layer + 1) @ found[layer][1]))
        x = np.stack(pooled)
        x = np.concatenate([sd["backbone.cls_temporal"][0], x]) if cls else x
        out, factors, _ = encoder(
            x, sd, "backbone.temporal", cfg, "spacetime", cfg.temporal_layers, cfg.heads_temporal, 1, cls, False
        )
        feature = out[0] if cls else out.mean(0)
        steps = read(out, factors, cls)[cls:]
        result["rollout_steps"] = result["tokens_steps"] = steps / steps.sum()
        grid = np.stack(grid)
        if layer is not None:
            result["tokens_maps"] = np.stack([rows_to_one(raw) for raw, _ in learned])
            result["tokens_rows"] = np.stack([rows_to_one(v[None])[0] for _, v in learned])
    else:
        x = tokens.reshape(t * h * w, -1)
        x = np.concatenate([sd["backbone.cls_token"][0], x]) if cls else x
        out, factors, found = encoder(
            x, sd, "backbone.encoder", cfg, cfg.variant.value, cfg.num_layers, cfg.num_heads, t, cls, True
        )
        feature = out[0] if cls else out.mean(0)
        grid = read(out, factors, cls)[cls:].reshape(t, h * w)
        result["rollout_steps"] = grid.sum(1) / grid.sum()
        if layer is not None:
            raw, to_learned = found[layer]
            v = (read(out, factors, cls, layer + 1) @ to_learned).reshape(t, -1)
            result["tokens_maps"] = np.stack([rows_to_one(r) for r in raw])
            result["tokens_rows"] = rows_to_one(v)
            result["tokens_steps"] = v.sum(1) / v.sum()
    result["rollout_maps"] = rows_to_one(grid).reshape(t, 1, h, w)
    if "tokens_maps" in result:
        result["tokens_maps"] = result["tokens_maps"].reshape(t, -1, h, w)
    if cfg.representation_size:
        feature = np.tanh(lin(feature, sd, "pre_logits.0"))
    result["logits"] = lin(feature, sd, "head")
    return result


# The tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_the_recorded_forward_gives_the_normal_logits(name):
    model, clip = build(ALL[name], torch.float32)
    with torch.no_grad():
        normal = model(clip)[0]
    for method in methods_for(model.config):
        found = explain_clip(model, clip, method)
        assert found.logits.dtype == torch.float32 and found.logits.shape == (5,)
        torch.testing.assert_close(found.logits, normal, rtol=0, atol=1e-5)
    with torch.no_grad():  # recording is over: the normal forward again
        assert torch.equal(model(clip)[0], normal)


@pytest.mark.parametrize("name", ALL)
def test_rollout_equals_the_numpy_reference(name):
    model, clip = build(ALL[name])
    ref = reference(model, clip)
    with torch.no_grad():
        np.testing.assert_allclose(model(clip)[0].numpy(), ref["logits"], rtol=0, atol=1e-9)
    found = explain_clip(model, clip, "rollout")
    np.testing.assert_allclose(found.maps, ref["rollout_maps"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(found.step_weights, ref["rollout_steps"], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(found.row_weights, np.ones((4, 1)))


@pytest.mark.parametrize("name", TL_CASES)
def test_tokens_equal_the_numpy_reference_at_every_learner(name):
    model, clip = build(TL_CASES[name])
    for layer in token_layers(model.config):
        ref = reference(model, clip, layer)
        found = explain_clip(model, clip, "tokens", layer)
        assert found.method == "tokens" and found.maps.shape == (4, 3, 4, 4)
        np.testing.assert_allclose(found.maps, ref["tokens_maps"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(found.row_weights, ref["tokens_rows"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(found.step_weights, ref["tokens_steps"], rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", TL_CASES)
def test_token_maps_are_the_learner_weights_on_its_exact_input(name):
    """In float32: the numpy learner on the very tokens the model's learner received."""
    model, clip = build(TL_CASES[name], torch.float32)
    cfg = model.config
    layer = token_layers(cfg)[-1]
    learner = (
        model.backbone.spatial if cfg.variant.value == "factorized_encoder" else model.backbone.encoder
    ).learners[str(layer)]
    seen = []
    hook = learner.register_forward_pre_hook(lambda module, args: seen.append(args[0].double().numpy()))
    try:
        found = explain_clip(model, clip, "tokens", layer)
    finally:
        hook.remove()
    (frames,) = seen  # (steps, S, D)
    sd = {k: v.double().numpy() for k, v in learner.state_dict().items()}
    raw = np.stack([learner_weights(f, {f"l.{k}": v for k, v in sd.items()}, "l", cfg) for f in frames])
    np.testing.assert_allclose(found.maps, rows_to_one(raw).reshape(found.maps.shape), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_every_map_and_weight_sums_to_one(name):
    model, clip = build(ALL[name], torch.float32)
    for method in methods_for(model.config):
        found = explain_clip(model, clip, method)
        rows = 3 if method == "tokens" else 1
        assert isinstance(found, Maps) and found.method == method
        assert found.maps.dtype == np.float64 and found.maps.shape == (4, rows, 4, 4)
        assert found.row_weights.shape == (4, rows) and found.step_weights.shape == (4,)
        assert (found.maps >= 0).all() and (found.row_weights >= 0).all() and (found.step_weights >= 0).all()
        np.testing.assert_allclose(found.maps.sum(axis=(2, 3)), 1.0, atol=1e-12)
        np.testing.assert_allclose(found.row_weights.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(found.step_weights.sum(), 1.0, atol=1e-12)


def test_what_each_model_can_explain():
    assert methods_for(CASES["m2-cls"]) == ("rollout",) and token_layers(CASES["m2-cls"]) == ()
    assert methods_for(TL_CASES["m1-tl11"]) == ("tokens", "rollout")
    assert token_layers(TL_CASES["m1-tl11"]) == (1,)
    assert token_layers(TL_CASES["m1-tl10-fuse"]) == (0, 1)


def _refused(model, clip, method, layer=None) -> str:
    with pytest.raises(VidclassError) as caught:
        explain_clip(model, clip, method, layer)
    assert caught.value.exit_code == EXIT_USAGE
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_impossible_methods_and_layers_are_usage_errors_that_name_the_alternatives():
    plain, clip = build(CASES["m1-gap"], torch.float32)
    assert "rollout" in _refused(plain, clip, "tokens")
    assert "rollout" in _refused(plain, clip, "gradcam")
    learned, clip = build(TL_CASES["m1-tl11"], torch.float32)
    message = _refused(learned, clip, "tokens", 0)
    assert "0" in message and "1" in message.split("0", 1)[1]
    assert "tokens" in _refused(learned, clip, "saliency") and "rollout" in _refused(learned, clip, "saliency")
    assert "tokens" in _refused(learned, clip, "rollout", 1)


def test_the_bundled_model_explains_both_ways():
    from vidclass.checkpoints import load_classifier

    model = load_classifier(None).model
    cfg = model.config
    t, h, w = cfg.grid
    clip = torch.randn(
        1, cfg.in_channels, cfg.num_frames, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        normal = model(clip)[0]
    assert methods_for(cfg) == ("tokens", "rollout")
    for method in methods_for(cfg):
        found = explain_clip(model, clip, method)
        rows = cfg.tokenlearner.num_tokens if method == "tokens" else 1
        assert found.maps.shape == (t, rows, h, w)
        np.testing.assert_allclose(found.maps.sum(axis=(2, 3)), 1.0, atol=1e-12)
        torch.testing.assert_close(found.logits, normal, rtol=0, atol=1e-5)
