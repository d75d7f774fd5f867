"""vidclass.models.attention: the tiled bf16 attention and the rule that picks it.

The tiles are checked against PyTorch's SDPA in float64 (the same function, so any tiling
mistake, a lost remainder row or a wrong sequence group, shows), on every path through the
tiling; the rule by which kernel actually runs; and whole models in bf16 against SDPA."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import vidclass.models.attention as attention
from vidclass.models import ViViT, get_entry
from vidclass.models.attention import attend, kernel, tiled_attention


def qkv(batch: int, heads: int, length: int, dim: int, dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(length * 31 + heads)
    return [
        torch.randn(batch, heads, length, dim, generator=generator, dtype=torch.float64).to(dtype) for _ in range(3)
    ]


@pytest.mark.parametrize(
    ("tile", "shape"),
    [
        (1 << 21, (2, 3, 17, 8)),  # every sequence in one tile
        (600, (2, 3, 17, 8)),  # 2 whole sequences per tile (289 scores each), 6 sequences: 3 tiles
        (1000, (1, 5, 17, 8)),  # 3 per tile, the last tile holds 2
        (100, (1, 2, 37, 8)),  # one sequence does not fit: blocks of 2 query rows, 18 full and a remainder of 1
        (37 * 5, (2, 1, 37, 4)),  # blocks of 5 rows: 7 full, a remainder of 2
        (1, (1, 1, 9, 4)),  # one query row per tile
    ],
)
def test_tiles_compute_sdpa_exactly_on_every_tiling(monkeypatch: pytest.MonkeyPatch, tile: int, shape: tuple) -> None:
    monkeypatch.setattr(attention, "TILE_SCORES", tile)
    q, k, v = qkv(*shape)
    expected = F.scaled_dot_product_attention(q, k, v)
    got = tiled_attention(q, k, v)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=0, atol=1e-12)


def test_tiles_take_non_contiguous_heads_as_the_model_passes_them() -> None:
    q, k, v = (t.transpose(1, 2) for t in qkv(2, 6, 3, 8))  # (B, L, heads, hd) viewed as (B, heads, L, hd)
    assert not q.is_contiguous()
    assert torch.allclose(tiled_attention(q, k, v), F.scaled_dot_product_attention(q, k, v), rtol=0, atol=1e-12)


def test_bf16_tiles_stay_near_the_exact_attention() -> None:
    q, k, v = qkv(1, 4, 300, 32)
    exact = F.scaled_dot_product_attention(q, k, v)
    low = tiled_attention(*(t.bfloat16() for t in (q, k, v)))
    assert low.dtype == torch.bfloat16
    assert (low.double() - exact).abs().max() < 0.02  # a few bf16 roundings of values about 1


def count_tiles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = attention.tiled_attention

    def spy(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return real(q, k, v)

    monkeypatch.setattr(attention, "tiled_attention", spy)
    return calls


@pytest.mark.parametrize(
    ("dtype", "grad", "dropout", "tiled"),
    [
        (torch.bfloat16, False, 0.0, True),  # bf16 inference on the CPU: the tiles
        (torch.float32, False, 0.0, False),  # fp32: SDPA, so fp32 results do not change
        (torch.bfloat16, True, 0.0, False),  # training: SDPA (the tiles would keep every score for backward)
        (torch.bfloat16, False, 0.1, False),  # dropout: SDPA
    ],
)
def test_auto_picks_the_tiles_only_for_bf16_inference(
    monkeypatch: pytest.MonkeyPatch, dtype: torch.dtype, grad: bool, dropout: float, tiled: bool
) -> None:
    calls = count_tiles(monkeypatch)
    q, k, v = (t.to(dtype).requires_grad_(grad) for t in qkv(1, 2, 5, 4))
    out = attend(q, k, v, dropout_p=dropout)
    assert len(calls) == int(tiled)
    if grad:
        out.sum().backward()
        assert q.grad is not None


def test_fp32_attention_is_sdpa_bit_for_bit() -> None:
    q, k, v = qkv(2, 3, 40, 8, torch.float32)
    assert torch.equal(attend(q, k, v), F.scaled_dot_product_attention(q, k, v))


def test_kernel_forces_a_path_and_refuses_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_tiles(monkeypatch)
    q, k, v = (t.bfloat16() for t in qkv(1, 2, 5, 4))
    with kernel("sdpa"):
        attend(q, k, v)
    assert calls == []
    with kernel("tiled"):
        attend(*(t.float() for t in (q, k, v)))
    assert calls == [1]
    attend(q, k, v)  # back to auto after the block
    assert calls == [1, 1]
    with pytest.raises(ValueError, match="flash"):
        with kernel("flash"):
            pass


@pytest.mark.parametrize(
    "name", ["vivit-micro", "vivit-micro-fe", "vivit-micro-fsa", "vivit-micro-fdp", "vivit-micro-tl4at1"]
)
def test_every_variant_in_bf16_runs_the_tiles_and_agrees_with_sdpa(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    torch.manual_seed(0)
    cfg = get_entry(name).config
    model = ViViT(cfg).eval()
    x = torch.randn(2, 3, cfg.num_frames, cfg.image_size, cfg.image_size)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        with kernel("sdpa"):
            reference = model(x).float()
        calls = count_tiles(monkeypatch)
        tiled = model(x).float()
    with torch.inference_mode():
        fp32 = model(x)
    assert calls  # every attention of the variant went through the tiles
    assert torch.equal(tiled.argmax(-1), reference.argmax(-1))
    assert (tiled - reference).abs().max() < 0.05
    assert (tiled - fp32).abs().max() < 0.05


def test_under_torch_compile_auto_leaves_attention_to_sdpa(monkeypatch: pytest.MonkeyPatch) -> None:
    # Inductor lowers SDPA itself and cannot trace the tiles' in-place products (--compile
    # with the default bf16 failed with them), so a compiled bf16 model keeps SDPA.
    calls = count_tiles(monkeypatch)
    q, k, v = (t.bfloat16() for t in qkv(1, 2, 5, 4))
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert torch.equal(attend(q, k, v), F.scaled_dot_product_attention(q, k, v))
    assert calls == []
