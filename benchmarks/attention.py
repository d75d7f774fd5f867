"""Attention kernels on the CPU: ViViT-B's joint space-time attention in bf16 and fp32.

One (1, 12, 3137, 64) attention (ViViT-B/16x2 Model 1: 16 x 14 x 14 tokens + CLS, 12 heads)
through SDPA's default (flash) kernel, SDPA's math backend, and an explicit softmax(q k^T) v;
median milliseconds and GFLOP/s (4 L^2 d H FLOPs). A one-off diagnosis quoted in BENCHMARKS.md:
``python benchmarks/attention.py``.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

HEADS, LENGTH, DIM = 12, 3137, 64


def flash(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v)


def math(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v)


def explicit(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.softmax((q * DIM**-0.5) @ k.transpose(-1, -2), -1) @ v


CONTENDERS = {"sdpa default (flash)": flash, "sdpa math": math, "explicit softmax(qk^T)v": explicit}


def main(repeats: int = 5) -> None:
    torch.manual_seed(0)
    flops = 4 * HEADS * LENGTH * LENGTH * DIM
    for dtype in (torch.bfloat16, torch.float32):
        qkv = [torch.randn(1, HEADS, LENGTH, DIM).to(dtype) for _ in range(3)]
        times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        with torch.inference_mode():
            for round_index in range(repeats + 1):  # interleaved; the first round warms up
                for name, fn in CONTENDERS.items():
                    start = time.perf_counter()
                    fn(*qkv)
                    if round_index:
                        times[name].append(time.perf_counter() - start)
        for name, values in times.items():
            seconds = statistics.median(values)
            kind = str(dtype).removeprefix("torch.")
            print(f"{kind:9} {name:24} {seconds * 1000:6.0f} ms {flops / seconds / 1e9:5.0f} GFLOP/s")


if __name__ == "__main__":
    main()
