"""TokenLearner -> Transformer -> TokenFuser on a (B, C, T, H, W) map, against hand-written references."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from vidclass.models import tokenlearner_block as tlb
from vidclass.models.layers import Attention
from vidclass.models.tokenlearner_block import (
    TokenLearnerBottleneck,
    TokenLearnerBottleneckConfig,
    VectorAttention,
    bottleneck_macs,
    bottleneck_parameters,
)

EPS = tlb.LAYER_NORM_EPS


def perturbed(module: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter random (the fuser's mixing map starts at zero, norms at 1 and 0)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)
    return module


def layer_norm(v: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    mean = v.mean(-1, keepdim=True)
    var = ((v - mean) ** 2).mean(-1, keepdim=True)
    return (v - mean) / torch.sqrt(var + EPS) * norm.weight + norm.bias


def gelu_tanh(v: torch.Tensor) -> torch.Tensor:
    return 0.5 * v * (1 + torch.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))


def mlp(v: torch.Tensor, m: nn.Module) -> torch.Tensor:
    return gelu_tanh(v @ m.fc1.weight.T + m.fc1.bias) @ m.fc2.weight.T + m.fc2.bias


def conv3x3(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(C, H, W) * (O, C, 3, 3), zero padding 1, no bias: explicit loops over the kernel."""
    c, h, w = x.shape
    out = torch.zeros(weight.shape[0], h, w, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            for di in range(-1, 2):
                for dj in range(-1, 2):
                    if 0 <= i + di < h and 0 <= j + dj < w:
                        out[:, i, j] += weight[:, :, di + 1, dj + 1] @ x[:, i + di, j + dj]
    return out


def learner_reference(block: TokenLearnerBottleneck, frame: torch.Tensor) -> torch.Tensor:
    """One frame (C, H, W) -> its (S, C) tokens."""
    c, h, w = frame.shape
    learner = block.learner
    positions = frame.permute(1, 2, 0)  # (H, W, C)
    normed = layer_norm(positions, learner.norm)
    if block.cfg.learner.value == "v1.0":
        maps = normed.permute(2, 0, 1)  # (C, H, W)
        for k, conv in enumerate(learner.convs):
            maps = conv3x3(maps, conv.weight)
            if k < len(learner.convs) - 1:
                maps = gelu_tanh(maps)
        weights = torch.sigmoid(maps)  # (S, H, W)
    else:
        logits = mlp(normed, learner.mlp)  # (H, W, S)
        weights = logits.reshape(h * w, -1).softmax(dim=0).T.reshape(-1, h, w)  # softmax over space
    return torch.einsum("shw,chw->sc", weights, frame)  # spatial sum of the un-normalised input


@pytest.mark.parametrize(("learner", "convs"), [("v1.0", 1), ("v1.0", 3), ("v1.1", 1)])
def test_the_learner_runs_per_frame_and_equals_a_hand_written_reference(learner, convs):
    torch.manual_seed(1)
    cfg = TokenLearnerBottleneckConfig(num_tokens=3, learner=learner, learner_convs=convs, bottleneck_dim=5)
    block = perturbed(TokenLearnerBottleneck(4, cfg)).eval()
    x = torch.randn(2, 4, 3, 3, 5)  # (B, C, T, H, W), H != W
    seen = []
    block.learner.register_forward_hook(lambda m, i, out: seen.append(out))
    with torch.no_grad():
        block(x)
    (tokens,) = seen  # (B*T, S, C)
    for b in range(2):
        for t in range(3):
            expected = learner_reference(block, x[b, :, t])
            torch.testing.assert_close(tokens[b * 3 + t], expected, rtol=1e-5, atol=1e-5)


def test_the_fuser_restores_the_map_and_equals_a_hand_written_reference():
    torch.manual_seed(2)
    cfg = TokenLearnerBottleneckConfig(num_tokens=3, bottleneck_dim=5, attention="mhsa", heads=2)
    block = perturbed(TokenLearnerBottleneck(4, cfg)).eval()
    x = torch.randn(2, 4, 3, 2, 3)  # (B, C, T, H, W)
    seen = []
    block.blocks[-1].register_forward_hook(lambda m, i, out: seen.append(out))
    with torch.no_grad():
        out = block(x)
    assert out.shape == x.shape
    (seq,) = seen  # (B, T*S, C)
    fuser = block.fuser
    expected = torch.empty_like(x)
    for b in range(2):
        for t in range(3):
            tokens = layer_norm(seq[b, t * 3 : (t + 1) * 3], fuser.norm_tokens)  # (S, C)
            mixed = layer_norm(fuser.mix.weight @ tokens + fuser.mix.bias[:, None], fuser.norm_mixed)
            for i in range(2):
                for j in range(3):
                    position = x[b, :, t, i, j]  # (C,)
                    weights = torch.sigmoid(mlp(layer_norm(position, fuser.norm_original), fuser.mlp))  # (S,)
                    expected[b, :, t, i, j] = position + (weights[:, None] * mixed).sum(0)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attention", ["mhsa", "vector"])
def test_a_new_block_is_the_identity(attention):
    block = TokenLearnerBottleneck(8, TokenLearnerBottleneckConfig(attention=attention)).eval()
    x = torch.randn(1, 8, 2, 3, 3)
    torch.testing.assert_close(block(x), x)


def vector_attention_reference(attn: VectorAttention, x: torch.Tensor) -> torch.Tensor:
    """Naive double loop over (i, j), one softmax per (i, channel)."""
    _, n, d = x.shape
    w, bias = attn.qkv.weight, attn.qkv.bias
    q = x[0] @ w[:d].T + bias[:d]
    k = x[0] @ w[d : 2 * d].T + bias[d : 2 * d]
    v = x[0] @ w[2 * d :].T + bias[2 * d :]
    out = torch.zeros(n, d)
    for i in range(n):
        logits = torch.stack([mlp(q[i] - k[j], attn.gamma) for j in range(n)])  # (N, D)
        for c in range(d):
            weights = torch.exp(logits[:, c] - logits[:, c].max())
            weights = weights / weights.sum()
            for j in range(n):
                out[i, c] += weights[j] * v[j, c]
    return (out @ attn.proj.weight.T + attn.proj.bias)[None]


@pytest.mark.parametrize("chunk_elements", [1 << 24, 8])  # one chunk; one query per chunk
def test_vector_attention_equals_a_naive_double_loop(monkeypatch, chunk_elements):
    monkeypatch.setattr(tlb, "PAIRWISE_CHUNK_ELEMENTS", chunk_elements)
    torch.manual_seed(3)
    attn = perturbed(VectorAttention(4, 3)).eval()
    x = torch.randn(1, 5, 4)
    with torch.no_grad():
        torch.testing.assert_close(attn(x), vector_attention_reference(attn, x), rtol=1e-5, atol=1e-5)


def test_the_mhsa_layer_equals_a_scaled_dot_product_attention_reference():
    torch.manual_seed(4)
    cfg = TokenLearnerBottleneckConfig(attention="mhsa", heads=2, mlp_ratio=1.5)
    block = perturbed(TokenLearnerBottleneck(4, cfg)).eval()
    layer = block.blocks[0]
    assert isinstance(layer.attn, Attention)
    x = torch.randn(2, 6, 4)  # (B, N, C)
    attn = layer.attn
    h = layer_norm(x, layer.norm1)
    q, k, v = (h @ attn.qkv.weight[r * 4 : (r + 1) * 4].T + attn.qkv.bias[r * 4 : (r + 1) * 4] for r in range(3))
    q, k, v = (t.reshape(2, 6, 2, 2).transpose(1, 2) for t in (q, k, v))  # (B, heads, N, 2)
    heads = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 6, 4)
    y = x + heads @ attn.proj.weight.T + attn.proj.bias
    expected = y + mlp(layer_norm(y, layer.norm2), layer.mlp)
    with torch.no_grad():
        torch.testing.assert_close(layer(x, 2), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("attention", "learner"), [("mhsa", "v1.0"), ("vector", "v1.0"), ("vector", "v1.1")])
def test_gradients_reach_every_parameter(attention, learner):
    torch.manual_seed(5)
    cfg = TokenLearnerBottleneckConfig(num_tokens=3, layers=2, heads=2, attention=attention, learner=learner)
    block = perturbed(TokenLearnerBottleneck(4, cfg)).train()
    block(torch.randn(2, 4, 2, 3, 3)).square().sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("layers", 10**9),
        ("layers", 0),
        ("layers", True),
        ("layers", 2.0),
        ("num_tokens", 10**6),
        ("heads", 0),
        ("heads", 10**9),
        ("attention", "dot"),
        ("learner", "v2"),
        ("learner_convs", 5),
        ("mlp_ratio", 1e9),
        ("mlp_ratio", 0.0),
        ("mlp_ratio", float("nan")),
        ("dropout", 1.0),
        ("bottleneck_dim", 10**9),
        ("vector_reduction", 0),
    ],
)
def test_absurd_config_values_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        TokenLearnerBottleneckConfig(**{field: value})


def test_absurd_channel_counts_are_refused_before_building():
    with pytest.raises(ValueError, match="channels"):
        TokenLearnerBottleneck(10**9)
    with pytest.raises(ValueError, match="divisible"):
        TokenLearnerBottleneck(6, TokenLearnerBottleneckConfig(attention="mhsa", heads=4))
    with pytest.raises(ValueError, match="channels"):
        bottleneck_macs(TokenLearnerBottleneckConfig(), 10**9, 1, 1, 1)


def test_the_config_round_trips_through_json_exactly():
    cfg = TokenLearnerBottleneckConfig(3, 2, 2, "mhsa", 2.5, 0.1, "v1.1", 2, 32, 8)
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["attention"] == "mhsa" and data["learner"] == "v1.1"
    assert TokenLearnerBottleneckConfig.from_dict(data) == cfg
    assert TokenLearnerBottleneckConfig.from_dict(data).to_dict() == cfg.to_dict()
    with pytest.raises(ValueError, match="unknown"):
        TokenLearnerBottleneckConfig.from_dict({**data, "location": 3})


class MacCounter(TorchFunctionMode):
    """Multiply-accumulates of every conv, linear and matmul a forward runs, from tensor shapes."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.macs = 0
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.register_forward_hook(self._linear)
            elif isinstance(m, nn.Conv2d):
                m.register_forward_hook(self._conv)

    def _linear(self, m, inputs, out):
        self.macs += out.numel() * m.in_features

    def _conv(self, m, inputs, out):
        self.macs += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in ("matmul", "__matmul__", "bmm"):  # also TensorBase's @
            a, b = args[0], args[1]
            self.macs += a.shape[:-1].numel() * b.shape[-1] * a.shape[-1]
        elif func is torch.einsum:
            equation, operands = args[0], args[1:]
            sizes = {}
            for letters, operand in zip(equation.split("->")[0].split(","), operands, strict=True):
                sizes.update(zip(letters, operand.shape, strict=True))
            self.macs += math.prod(sizes.values())
        elif func is F.scaled_dot_product_attention:
            q, k, v = args[:3]
            self.macs += q.shape[:-1].numel() * k.shape[-2] * (q.shape[-1] + v.shape[-1])
        return func(*args, **kwargs)


@pytest.mark.parametrize(
    "cfg",
    [
        TokenLearnerBottleneckConfig(num_tokens=4, layers=2, heads=2, attention="mhsa"),
        TokenLearnerBottleneckConfig(num_tokens=4, layers=2, attention="vector", learner_convs=4),
        TokenLearnerBottleneckConfig(num_tokens=3, attention="vector", learner="v1.1", bottleneck_dim=7, mlp_ratio=1.5),
    ],
)
def test_the_analytic_cost_matches_a_count_from_tensor_shapes(monkeypatch, cfg):
    monkeypatch.setattr(tlb, "PAIRWISE_CHUNK_ELEMENTS", 1000)  # several chunks: the count must not change
    block = TokenLearnerBottleneck(8, cfg).eval()
    counter = MacCounter(block)
    with torch.no_grad(), counter:
        block(torch.randn(1, 8, 3, 4, 5))  # (B, C, T, H, W)
    assert counter.macs == bottleneck_macs(cfg, 8, 3, 4, 5)
    assert sum(p.numel() for p in block.parameters()) == bottleneck_parameters(cfg, 8)
