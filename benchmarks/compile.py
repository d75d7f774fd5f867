"""Does ``--compile`` pay off? Eager against ``torch.compile``d forward passes, side by side.

For each model (default: ``vivit-tiny`` and the bundled model's ``vivit-s64-tl8at1``, random
weights), each precision (fp32 and bf16 autocast) and each batch size (1, 4, 12, 24 views):

- compile time: the first call of ``torch.compile(model, dynamic=False)`` at that batch size
  (tracing, code generation and the C++ build), first with an empty inductor cache ("cold":
  what the first ``--compile`` on a machine costs), then again after ``torch._dynamo.reset()``
  with the on-disk cache filled ("warm": what later runs cost);
- forward time: eager and compiled forward passes run interleaved, round after round (every
  contender once per round, each time for as many calls as take the eager forward at that
  batch size about 0.2 s), reported per view; the speedup is the median of the per-round
  eager/compiled ratios, with their quartiles to show the noise; and the largest logit
  difference between the two;
- break-even: how many 12-view videos the warm compile time takes to pay back.

Everything runs in ``torch.inference_mode()``, as ``Predictor`` does, on the CPU with torch's
default thread count. Results (a Markdown table) go to stdout, progress to stderr;
``--json FILE`` also writes every measurement. ``--quick``: vivit-micro, 2 rounds (a smoke
run). ``--cache`` keeps the user's inductor cache instead of a fresh one.

    .venv/bin/python benchmarks/compile.py --json compile.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

VIEWS_PER_VIDEO = 12  # the 4 x 3 protocol
CALL_SECONDS = 0.2  # each timed sample repeats the forward for about this long


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="vivit-tiny,vivit-s64-tl8at1")
    parser.add_argument("--batch-sizes", default="1,4,12,24")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds after the warm-up")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--cache", action="store_true", help="use the existing inductor cache (no cold compile)")
    parser.add_argument("--quick", action="store_true", help="vivit-micro, batch 1 and 4, fp32, 2 rounds")
    parser.add_argument("--json", metavar="FILE", help="also write every measurement as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.batch_sizes, args.precisions, args.rounds, args.warmup = "vivit-micro", "1,4", "fp32", 2, 1
    cache = None if args.cache else tempfile.TemporaryDirectory(prefix="vidclass-inductor-")
    if cache is not None:  # before torch's inductor reads it
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache.name
    try:
        return run(args)
    finally:
        if cache is not None:
            cache.cleanup()


def run(args: argparse.Namespace) -> int:
    import torch

    torch._dynamo.config.cache_size_limit = 64  # one graph per batch size and precision, no fallback
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    rows: list[dict[str, Any]] = []
    for name in args.models.split(","):
        for precision in args.precisions.split(","):
            rows.extend(measure(name, precision, batch_sizes, args.rounds, args.warmup))
    print(_table(rows, args, torch))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"machine": _machine(torch), "rounds": args.rounds, "rows": rows}, handle, indent=1)
    return 0


def measure(name: str, precision: str, batch_sizes: list[int], rounds: int, warmup: int) -> list[dict[str, Any]]:
    """Compile times, eager and compiled forward times of model ``name`` at ``precision``."""
    import torch

    import vidclass
    from vidclass.precision import autocast

    classifier = vidclass.create_model(name, labels=[f"c{i}" for i in range(11)], seed=0)
    model = classifier.model.eval()
    prep = classifier.preprocessing
    torch.manual_seed(1)
    inputs = {b: torch.randn(b, 3, prep.num_frames, prep.crop_size, prep.crop_size) for b in batch_sizes}
    cpu = torch.device("cpu")

    def call(module: Any, b: int) -> torch.Tensor:
        with torch.inference_mode(), autocast(precision, cpu):
            return module(inputs[b]).float()

    torch._dynamo.reset()
    compiled = torch.compile(model, dynamic=False)
    cold = {b: _seconds(lambda b=b: call(compiled, b)) for b in batch_sizes}
    torch._dynamo.reset()  # compile again: the on-disk cache is filled now
    compiled = torch.compile(model, dynamic=False)
    warm = {b: _seconds(lambda b=b: call(compiled, b)) for b in batch_sizes}
    _log(f"{name} {precision}: compiled in " + ", ".join(f"b{b} {cold[b]:.1f}/{warm[b]:.1f} s" for b in cold))
    contenders: dict[str, Callable[[], Any]] = {}
    for b in batch_sizes:
        calls = max(1, round(CALL_SECONDS / max(_seconds(lambda b=b: call(model, b)), 1e-4)))
        contenders[f"eager {b}"] = _repeated(lambda b=b: call(model, b), calls)
        contenders[f"compiled {b}"] = _repeated(lambda b=b: call(compiled, b), calls)
    times = _interleave(contenders, rounds, warmup)
    rows = []
    for b in batch_sizes:
        eager_t, comp_t = times[f"eager {b}"], times[f"compiled {b}"]  # seconds per call
        ratios = [e / c for e, c in zip(eager_t, comp_t, strict=True)]
        speedup = statistics.median(ratios)
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [speedup, speedup, speedup]
        saved = (statistics.median(eager_t) - statistics.median(comp_t)) / b  # seconds per view
        rows.append(
            {
                "model": name,
                "precision": precision,
                "batch": b,
                "compile_cold_s": cold[b],
                "compile_warm_s": warm[b],
                "eager_ms_per_view": 1e3 * statistics.median(eager_t) / b,
                "compiled_ms_per_view": 1e3 * statistics.median(comp_t) / b,
                "speedup": speedup,
                "speedup_q1": quartiles[0],
                "speedup_q3": quartiles[2],
                "max_logit_diff": float((call(model, b) - call(compiled, b)).abs().max()),
                "break_even_videos": warm[b] / (saved * VIEWS_PER_VIDEO) if saved > 0 else None,
                "eager_all_s": eager_t,
                "compiled_all_s": comp_t,
            }
        )
        row = rows[-1]
        _log(f"  b{b}: {row['eager_ms_per_view']:.2f} / {row['compiled_ms_per_view']:.2f} ms per view, x{speedup:.2f}")
    return rows


def _repeated(fn: Callable[[], Any], calls: int) -> Callable[[], float]:
    """``fn`` ``calls`` times; returns the seconds per call."""

    def go() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - start) / calls

    return go


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _interleave(contenders: dict[str, Callable[[], float]], rounds: int, warmup: int) -> dict[str, list[float]]:
    """Every contender once per round, ``rounds`` rounds after ``warmup``: what each returned."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for index in range(warmup + rounds):
        for name, fn in contenders.items():
            seconds = fn()
            if index >= warmup:
                times[name].append(seconds)
    return times


def _machine(torch: Any) -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def _table(rows: list[dict[str, Any]], args: argparse.Namespace, torch: Any) -> str:
    machine = _machine(torch)
    load = machine["load_average"]
    lines = [
        f"torch {machine['torch']}, {machine['threads']} threads on {machine['cpus']} CPUs"
        + (f", load average {load[0]:.1f} at the end" if load else "")
        + f"; median of {args.rounds} interleaved rounds; compile: "
        + ("first / again (the existing inductor cache)" if args.cache else "cold (empty cache) / warm (cache filled)"),
        "",
        "| model | precision | batch | compile cold / warm (s) | eager ms/view | compiled ms/view "
        "| speedup (q1-q3) | max logit diff | break-even (videos) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        even = "never" if r["break_even_videos"] is None else f"{r['break_even_videos']:.0f}"
        lines.append(
            f"| {r['model']} | {r['precision']} | {r['batch']} | {r['compile_cold_s']:.1f} / {r['compile_warm_s']:.1f} "
            f"| {r['eager_ms_per_view']:.2f} | {r['compiled_ms_per_view']:.2f} "
            f"| {r['speedup']:.2f}x ({r['speedup_q1']:.2f}-{r['speedup_q3']:.2f}) | {r['max_logit_diff']:.1e} | {even} |"
        )
    return "\n".join(lines)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
