"""Scaled dot-product attention: PyTorch's SDPA, or score tiles for bf16 inference on the CPU.

``attend(q, k, v)`` is what every ViViT token mixer calls. It runs
``F.scaled_dot_product_attention`` except in one case: bfloat16 tensors on the CPU with no
gradient to keep and no dropout (bf16 inference). There PyTorch's CPU kernel (a flash-attention
kernel) runs no faster than in fp32, while the same attention computed as plain matrix
products uses the CPU's bf16 instructions: ``tiled_attention`` computes softmax(q k^T / sqrt(d)) v
a tile of scores at a time (about two million scores, 4 MiB of bf16, so a tile stays in the
shared cache), with ``torch.bmm``. Measured on ViViT-B's joint attention (one (1, 12, 3137, 64)
attention, AVX-512 BF16, 2 cores; ``python benchmarks/attention.py``): about 2.5x faster than
SDPA on an idle machine, and faster at every sequence length the variants use; with another
process keeping one core busy, about SDPA's speed (each tile's three operations wait for their
slowest thread). Figures: BENCHMARKS.md, "Attention" and section i.

The tiles round the scores to bf16 before the softmax, which SDPA's kernel does not (it keeps
them in fp32); the model-level agreement with fp32 is measured in BENCHMARKS.md (section d).
fp32, training and ``torch.compile`` (``--compile``) keep SDPA: nothing changes there.

``kernel("sdpa")`` / ``kernel("tiled")`` force one path inside a ``with`` block (benchmarks and
tests compare the two); ``kernel("auto")`` is the rule above.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch
import torch.nn.functional as F

KERNELS = ("auto", "sdpa", "tiled")
TILE_SCORES = 1 << 21  # scores per tile: 4 MiB of bf16

_forced: contextvars.ContextVar[str] = contextvars.ContextVar("vidclass_attention_kernel", default="auto")


@contextlib.contextmanager
def kernel(name: str) -> Iterator[None]:
    """Run the attention of the ``with`` block with ``name``: ``auto``, ``sdpa`` or ``tiled``."""
    if name not in KERNELS:
        raise ValueError(f"unknown attention kernel {name!r}; choose from {', '.join(KERNELS)}")
    token = _forced.set(name)
    try:
        yield
    finally:
        _forced.reset(token)


def tiled_applies(q: torch.Tensor, dropout_p: float) -> bool:
    """The ``auto`` rule: bf16 inference on the CPU (no dropout, no gradient to record), run
    eagerly: under ``torch.compile`` SDPA is left to the compiler, which lowers it itself."""
    return (
        not torch.compiler.is_compiling()
        and q.device.type == "cpu"
        and q.dtype == torch.bfloat16
        and dropout_p == 0.0
        and not (torch.is_grad_enabled() and q.requires_grad)
    )


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float = 0.0) -> torch.Tensor:
    """softmax(q k^T / sqrt(head_dim)) v for q, k, v of shape (batch, heads, L, head_dim)."""
    forced = _forced.get()
    if forced == "tiled" or (forced == "auto" and tiled_applies(q, dropout_p)):
        return tiled_attention(q, k, v)
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)


def tiled_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(head_dim)) v, one tile of about ``TILE_SCORES`` scores at a time.

    A tile is a block of query rows of one sequence when a sequence's scores (L x L) exceed
    ``TILE_SCORES``, else as many whole sequences as fit. Inference only (no dropout).
    """
    b, heads, length, hd = q.shape
    n = b * heads
    # One contiguous copy each (the model passes strided views), so that no bmm copies again
    q3 = torch.mul(q, hd**-0.5, out=q.new_empty(b, heads, length, hd)).view(n, length, hd)  # scaled as SDPA does
    kt = k.transpose(-1, -2).contiguous().view(n, hd, length)  # (n, hd, L)
    v3 = v.contiguous().view(n, length, hd)  # (n, L, hd)
    out = torch.empty_like(q3)
    rows = max(1, TILE_SCORES // length)  # query rows (of any sequence) per tile
    group = max(1, rows // length)  # whole sequences per tile (1 when one does not fit)
    block = length if group > 1 else min(length, rows)  # query rows of one sequence per tile
    for s in range(0, n, group):
        for r in range(0, length, block):
            scores = torch.bmm(q3[s : s + group, r : r + block], kt[s : s + group])  # (g, block, L)
            # out's slice is contiguous (whole sequences, or rows of one): written in place
            torch.bmm(scores.softmax(dim=-1), v3[s : s + group], out=out[s : s + group, r : r + block])
    return out.view(b, heads, length, hd)  # (B, heads, L, hd)


__all__ = ["KERNELS", "TILE_SCORES", "attend", "kernel", "tiled_applies", "tiled_attention"]
