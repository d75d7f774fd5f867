"""Attention kernels and precision modes on the CPU: section i of ``make bench``.

Three measurements, each side by side in one process (interleaved rounds, medians):

1. **Kernels.** One ViViT-B joint attention, q, k, v of shape (1, 12, 3137, 64) (16 x 14 x 14
   tokens + CLS, 12 heads), in bf16 and fp32, through SDPA's default kernel (the CPU
   flash-attention kernel), SDPA's math backend, an explicit softmax(q k^T) v, and vidclass's
   ``tiled_attention``: milliseconds, GFLOP/s (4 L^2 d H FLOPs) and the max difference from a
   float64 SDPA. Then SDPA against ``tiled_attention`` in bf16 at the sequence lengths the
   variants use (197: Model 2's spatial attention; 785, 1569; 3137: Model 1), the same number
   of tokens each; and at 3137 again with one core kept busy by a spinning child process, as
   a decode worker or another job would.
2. **Modes.** ViViT-B/16x2 Model 1, one view, the same weights: fp32, bf16 with SDPA, bf16 with
   the tiles (what ``auto`` runs on a CPU with native bf16), and int8 (``torch.ao``'s dynamic
   quantisation of every Linear layer, the attention in fp32): seconds per view and MFU, each
   against a 2048x2048 product of its own kind (fp32 / bf16 ``torch.mm``; for int8 a
   dynamically quantised 2048x2048 Linear on 2048 rows).
3. **Agreement** (``bench.py`` section i, with its ``measure_agreement``): bf16 with SDPA and
   int8 (``quantized``) against fp32 on the bundled model's views (the tiles' agreement is
   section d).

``python benchmarks/attention.py [--quick]`` prints the results.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from common import interleave, matmul_gflops, ratio_median, timed
from torch.nn.attention import SDPBackend, sdpa_kernel

from vidclass.models import ViViT, get_entry, view_gflops
from vidclass.models.attention import kernel, tiled_attention

HEADS, LENGTH, DIM = 12, 3137, 64
QUICK = (4, 197, 48)  # heads, length, head_dim of vivit-tiny
LENGTHS = ((197, 16), (785, 4), (1569, 2), (3137, 1))  # (L, sequences): about 50k tokens each
SPIN = "while True: pass"


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v)


def sdpa_math(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v)


def explicit(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.softmax((q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2), -1) @ v


KERNELS: dict[str, Callable[..., torch.Tensor]] = {
    "sdpa (flash)": sdpa,
    "sdpa math": sdpa_math,
    "explicit softmax(qk^T)v": explicit,
    "vidclass tiles": tiled_attention,
}


def _op_times(
    fns: dict[str, Callable[..., torch.Tensor]], qkv: list[torch.Tensor], repeats: int
) -> dict[str, list[float]]:
    with torch.inference_mode():
        return interleave({name: (lambda fn=fn: fn(*qkv)) for name, fn in fns.items()}, repeats)


def bench_kernels(quick: bool, repeats: int, seed: int) -> dict[str, Any]:
    heads, length, dim = QUICK if quick else (HEADS, LENGTH, DIM)
    flops = 4 * heads * length * length * dim
    torch.manual_seed(seed)
    base = [torch.randn(1, heads, length, dim) for _ in range(3)]
    exact = F.scaled_dot_product_attention(*(t.double() for t in base))
    rows = []
    for dtype in (torch.bfloat16, torch.float32):
        qkv = [t.to(dtype) for t in base]
        times = _op_times(KERNELS, qkv, repeats)
        for name, fn in KERNELS.items():
            with torch.inference_mode():
                err = float((fn(*qkv).double() - exact).abs().max())
            seconds = statistics.median(times[name])
            rows.append(
                {
                    "dtype": str(dtype).removeprefix("torch."),
                    "kernel": name,
                    "ms": 1000 * seconds,
                    "gflops": flops / seconds / 1e9,
                    "vs_sdpa": ratio_median(times["sdpa (flash)"], times[name]),
                    "max_error": err,
                }
            )
    pair = {"sdpa (flash)": sdpa, "vidclass tiles": tiled_attention}
    lengths = []
    for seq_len, sequences in ((49, 16), (197, 4)) if quick else LENGTHS:
        qkv = [torch.randn(sequences, heads, seq_len, dim).bfloat16() for _ in range(3)]
        times = _op_times(pair, qkv, repeats)
        lengths.append(
            {
                "length": seq_len,
                "sequences": sequences,
                "sdpa_ms": 1000 * statistics.median(times["sdpa (flash)"]),
                "tiles_ms": 1000 * statistics.median(times["vidclass tiles"]),
                "speedup": ratio_median(times["sdpa (flash)"], times["vidclass tiles"]),
            }
        )
    qkv = [t.bfloat16() for t in base]
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        busy = _op_times(pair, qkv, repeats)
    finally:
        spinner.kill()
        spinner.wait()
    return {
        "shape": [1, heads, length, dim],
        "repeats": repeats,
        "rows": rows,
        "lengths": lengths,
        "busy_core": {
            "sdpa_ms": 1000 * statistics.median(busy["sdpa (flash)"]),
            "tiles_ms": 1000 * statistics.median(busy["vidclass tiles"]),
            "speedup": ratio_median(busy["sdpa (flash)"], busy["vidclass tiles"]),
            "per_round": [a / b for a, b in zip(busy["sdpa (flash)"], busy["vidclass tiles"], strict=True)],
        },
    }


def quantized(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with every Linear dynamically quantised to int8 (weights per tensor, activations
    per batch), as ``torch.ao.quantization.quantize_dynamic`` does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


def int8_peak(n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a dynamically quantised n x n Linear on n rows: int8's practical peak here."""
    layer = quantized(torch.nn.Sequential(torch.nn.Linear(n, n, bias=False)))
    x = torch.randn(n, n)
    with torch.inference_mode():
        layer(x)
        times = [timed(lambda: layer(x))[0] for _ in range(repeats)]
    return 2 * n**3 / statistics.median(times) / 1e9


def matmul_peaks(n: int) -> dict[str, Any]:
    """GFLOP/s of an n x n product in fp32, bf16 and int8: what each mode's MFU is against."""
    return {
        "n": n,
        "fp32": matmul_gflops(torch.float32, n),
        "bf16": matmul_gflops(torch.bfloat16, n),
        "int8": int8_peak(n),
    }


def bench_modes(quick: bool, repeats: int, seed: int, peaks: dict[str, Any]) -> dict[str, Any]:
    cfg = get_entry("vivit-tiny" if quick else "vivit-b-16x2").config
    torch.manual_seed(seed)
    model = ViViT(cfg).eval()
    int8 = quantized(model)
    x = torch.randn(1, 3, cfg.num_frames, cfg.image_size, cfg.image_size)
    outputs: dict[str, torch.Tensor] = {}

    def run(name: str, net: torch.nn.Module, bf16: bool, attention: str) -> Callable[[], None]:
        def go() -> None:
            with torch.inference_mode(), kernel(attention), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                outputs[name] = net(x).float()

        return go

    contenders = {
        "fp32": run("fp32", model, False, "auto"),
        "bf16, SDPA attention": run("bf16, SDPA attention", model, True, "sdpa"),
        "bf16, tiled attention (auto)": run("bf16, tiled attention (auto)", model, True, "auto"),
        "int8 Linear, fp32 attention": run("int8 Linear, fp32 attention", int8, False, "auto"),
    }
    times = interleave(contenders, repeats)
    gflops = view_gflops(cfg)
    kinds = {"fp32": "fp32", "bf16, SDPA attention": "bf16", "bf16, tiled attention (auto)": "bf16"}
    rows = []
    for name in contenders:
        seconds = statistics.median(times[name])
        peak = peaks[kinds.get(name, "int8")]
        rows.append(
            {
                "mode": name,
                "seconds": seconds,
                "gflops": gflops / seconds,
                "peak_kind": kinds.get(name, "int8"),
                "mfu": gflops / seconds / peak,
                "vs_fp32": ratio_median(times["fp32"], times[name]),
                "vs_auto": ratio_median(times["bf16, tiled attention (auto)"], times[name]),
                "max_logit_diff": float((outputs[name] - outputs["fp32"]).abs().max()),
            }
        )
    return {
        "config": "vivit-tiny" if quick else "vivit-b-16x2 (Model 1)",
        "repeats": repeats,
        "peaks": peaks,
        "rows": rows,
    }


def markdown(i: dict[str, Any]) -> list[str]:
    k, m = i["kernels"], i["modes"]
    lines = [
        f"### i. bf16 attention and int8 ({m['config']}; median of {m['repeats']} interleaved rounds)",
        "",
        "Precision modes, one view, the same weights. MFU: the analytic FLOPs over the time, against a "
        f"{m['peaks']['n']}x{m['peaks']['n']} product of the same kind (fp32 {m['peaks']['fp32']:.0f}, bf16 {m['peaks']['bf16']:.0f}, "
        f"int8 {m['peaks']['int8']:.0f} GFLOP/s).",
        "",
        "| mode | s / view | GFLOP/s | MFU | x fp32 | x auto (bf16 tiles) | max logit diff vs fp32 |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {r['mode']} | {r['seconds']:.3f} | {r['gflops']:.0f} | {100 * r['mfu']:.0f} % ({r['peak_kind']}) | "
            f"{r['vs_fp32']:.2f}x | {r['vs_auto']:.2f}x | {r['max_logit_diff']:.2e} |"
            for r in m["rows"]
        ],
        "",
        f"One attention, q, k, v {k['shape']} (x sdpa: the median of per-round ratios; error: max "
        "difference from float64 SDPA).",
        "",
        "| dtype | kernel | ms | GFLOP/s | x sdpa | max error |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r['dtype']} | {r['kernel']} | {r['ms']:.0f} | {r['gflops']:.0f} | {r['vs_sdpa']:.2f}x | "
            f"{r['max_error']:.1e} |"
            for r in k["rows"]
        ],
        "",
        "bf16, SDPA against the tiles by sequence length (the same number of tokens each):",
        "",
        "| length x sequences | sdpa ms | tiles ms | tiles speed-up |",
        "|---|---|---|---|",
        *[
            f"| {r['length']} x {r['sequences']} | {r['sdpa_ms']:.0f} | {r['tiles_ms']:.0f} | {r['speedup']:.2f}x |"
            for r in k["lengths"]
        ],
        f"| {k['shape'][2]} x 1, one core busy | {k['busy_core']['sdpa_ms']:.0f} | {k['busy_core']['tiles_ms']:.0f} | "
        f"{k['busy_core']['speedup']:.2f}x (rounds {min(k['busy_core']['per_round']):.2f}-"
        f"{max(k['busy_core']['per_round']):.2f}x) |",
        "",
    ]
    if "agreement" in i:
        lines += [
            "Against fp32 on the bundled model's views (the tiles, `auto`: section d):",
            "",
            "| mode | top-1 agreement per video / per view | max softmax diff per video / per view |",
            "|---|---|---|",
            *[
                f"| {mode} | {100 * a['top1_agreement_videos']:.1f} % / {100 * a['top1_agreement_views']:.2f} % | "
                f"{a['max_softmax_diff_video']:.2e} / {a['max_softmax_diff_view']:.2e} |"
                for mode, a in i["agreement"].items()
            ],
            "",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="vivit-tiny sizes, 2 rounds: a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 5; quick 2)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    peaks = matmul_peaks(512 if args.quick else 2048)
    results = {"kernels": bench_kernels(args.quick, repeats, 0), "modes": bench_modes(args.quick, repeats, 0, peaks)}
    print(json.dumps(results, indent=1))
    print("\n".join(markdown(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
