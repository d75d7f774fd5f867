"""What every benchmark script shares: the machine it ran on, timing, the matmul peak, and
writing its generated section into BENCHMARKS.md between its own markers."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def machine() -> dict[str, Any]:
    """The CPU, its bf16 instructions, the threads and the library versions."""
    cpu = platform.processor() or "unknown"
    flags: set[str] = set()
    ids: list[str] = []  # /proc/cpuinfo's cpu family and model (AMD family 25: Zen 3/4; 26: Zen 5)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("unknown", "x86_64", ""):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith(("cpu family", "model\t")) and line.split(":", 1)[1].strip().isdigit():
                ids.append(line.split(":", 1)[1].strip())
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    from vidclass.precision import native_bf16_cpu

    try:
        import transformers

        hf_version = transformers.__version__
    except ImportError:
        hf_version = None
    if len(ids) >= 2:
        cpu = f"{cpu} (family {ids[0]}, model {ids[1]})"
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "native_bf16": native_bf16_cpu(),
        "torch": torch.__version__,
        "transformers": hf_version,
        "python": platform.python_version(),
    }


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where the OS has none)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def interleave(contenders: dict[str, Callable[[], Any]], repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Run every contender once per round, ``repeats`` rounds after ``warmup``; seconds per run."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for round_index in range(warmup + repeats):
        for name, fn in contenders.items():
            seconds, _ = timed(fn)
            if round_index >= warmup:
                times[name].append(seconds)
    return times


def ratio_median(numerator: list[float], denominator: list[float]) -> float:
    """Median of the per-round ratios (each round's two runs were side by side)."""
    return statistics.median(n / d for n, d in zip(numerator, denominator, strict=True))


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """The median rate of an n x n matmul in ``dtype``: the peak an MFU is measured against."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    times = [timed(lambda: torch.mm(a, b))[0] for _ in range(repeats)]
    return 2 * n**3 / statistics.median(times) / 1e9


def write_section(path: Path, section: str, begin: str, end: str, insert_before: str | None = None) -> None:
    """Put ``section`` between the markers ``begin`` and ``end`` of ``path``; where they are
    absent, before the heading ``insert_before`` when given and present, else at the end."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    block = f"{begin}\n{section.rstrip()}\n{end}"
    if begin in text and end in text.split(begin, 1)[1]:
        before, rest = text.split(begin, 1)
        text = before + block + rest.split(end, 1)[1]
    elif insert_before is not None and f"\n{insert_before}" in text:
        before, rest = text.split(f"\n{insert_before}", 1)
        text = before.rstrip("\n") + "\n\n" + block + "\n\n" + insert_before + rest
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def publish(
    results: dict[str, Any],
    section: str,
    json_path: str | None,
    write_path: str | None,
    begin: str,
    end: str,
    insert_before: str | None = None,
) -> None:
    """Print ``section``; write ``results`` to ``json_path`` and ``section`` into ``write_path``
    (between ``begin`` and ``end``, see ``write_section``) when they are given."""
    print(section)
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=1) + "\n")
    if write_path:
        write_section(Path(write_path), section, begin, end, insert_before)


__all__ = ["interleave", "load", "machine", "matmul_gflops", "publish", "ratio_median", "timed", "write_section"]
