"""The steps of ``benchmarks/gpu.sh``: one step a call, each writing ``BUILD/gpu/STEP.json``.

    python benchmarks/gpu_checks.py STEP [--build DIR] [--smoke]

Steps (gpu.sh runs them in this order, each under its own time limit):

- ``tests``: the test suite's ``cuda``-marked tests (``pytest -m cuda`` on the files that mark
  one), run in a child process.
- ``peak``: the device's matmul peak: a large square bf16 and fp16 matmul (TFLOP/s).
- ``forward``: ViViT-B Model 1 (``vivit-b-16x2``, random weights) forward at bf16 and fp16
  autocast, batches of 12 and 24 views, input already on the device: TFLOP/s from the analytic
  FLOPs and MFU against ``peak``; and whether the forward runs with SDPA restricted to the flash
  and memory-efficient kernels (``torch.nn.attention.sdpa_kernel``), to each alone, and how its
  time compares with SDPA's own choice.
- ``clips``: the end-to-end clips (32 generated 10 s 720p H.264 clips, ``clips.py``), and the
  model file of random-weight ViViT-B.
- ``e2e``: ``vidclass predict`` on the clips folder, as a child process, with ``--workers`` 8 and
  16: wall time, videos/s, the steady rate between the first and the last record; ``--model
  vivit`` (ViViT-B, 4x3 views, bf16) or ``--model bundled`` (weights/default.safetensors, its own
  protocol, precision ``auto``).
- ``agreement``: bf16 and fp16 against fp32 on the device with the bundled model on ``vidclass
  synth`` videos, the CPU's measure (``bench.measure_agreement``) and bounds.
- ``report``: everything in one JSON and a BENCHMARKS.md section (``gpu_report.py``).

``--smoke`` runs the same code on the CPU with tiny sizes (the micro model, 144p clips of 1 s,
one batch, bf16 only): for tests, not for figures. A step that cannot run writes
``{"skipped": reason}`` and exits 0. The forward, e2e and agreement steps save what they have
measured after each row, so a step stopped by its time limit keeps its finished rows.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_LABELS = [f"class{i:03d}" for i in range(400)]  # a Kinetics-400-sized head
CUDA_MARK = re.compile(r"pytest\.mark\.cuda\b")


@dataclass(frozen=True)
class Plan:
    device: str
    matmul_n: int
    matmul_repeats: int
    forward_model: str
    batches: tuple[int, ...]
    precisions: tuple[str, ...]
    forward_warmup: int
    forward_repeats: int
    clip_size: str
    clip_seconds: float
    clip_count: int
    workers: tuple[int, ...]
    e2e_batch: int
    agreement_per_class: int
    agreement_precisions: tuple[str, ...]
    agreement_quick: bool  # a random-weight micro model instead of the bundled one


FULL = Plan(
    device="cuda",
    matmul_n=8192,
    matmul_repeats=10,
    forward_model="vivit-b-16x2",
    batches=(12, 24),
    precisions=("bf16", "fp16"),
    forward_warmup=3,
    forward_repeats=10,
    clip_size="720p",
    clip_seconds=10,
    clip_count=32,
    workers=(8, 16),
    e2e_batch=24,
    agreement_per_class=4,
    agreement_precisions=("bf16", "fp16"),
    agreement_quick=False,
)
SMOKE = Plan(
    device="cpu",
    matmul_n=128,
    matmul_repeats=2,
    forward_model="vivit-micro",
    batches=(2,),
    precisions=("bf16",),
    forward_warmup=1,
    forward_repeats=1,
    clip_size="144p",
    clip_seconds=1,
    clip_count=2,
    workers=(1,),
    e2e_batch=4,
    agreement_per_class=1,
    agreement_precisions=("bf16",),
    agreement_quick=True,
)


# --- timing -----------------------------------------------------------------------------------


def run_times(fn: Callable[[], Any], device: str, warmup: int, repeats: int) -> list[float]:
    """Seconds per call of ``fn`` after ``warmup`` calls: CUDA events on the GPU, else wall time."""
    import torch

    cuda = device.startswith("cuda")
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return times


# --- steps ------------------------------------------------------------------------------------


def step_tests(plan: Plan, build: Path) -> dict[str, Any]:
    # only the files that mark tests: collecting the whole suite would import every test's
    # references (transformers, pytorchvideo...), which a GPU machine may lack
    marked = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py") if CUDA_MARK.search(p.read_text())
    )
    if not marked:
        return {"skipped": "no test file marks a test cuda"}
    command = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", *marked]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    (build / "tests.log").write_text(done.stdout + done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else ""
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", summary)}
    # exit 0: all selected tests passed or skipped; 5: none collected
    return {
        "command": "python " + " ".join(command[1:]),
        "returncode": done.returncode,
        "summary": summary,
        "counts": counts,
    }


def step_peak(plan: Plan, build: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"n": plan.matmul_n, "repeats": plan.matmul_repeats}
    for precision in plan.precisions:
        seconds = matmul_seconds(plan, precision)
        out[precision] = {"tflops": 2 * plan.matmul_n**3 / seconds / 1e12, "seconds": seconds}
    return out


def matmul_seconds(plan: Plan, precision: str) -> float:
    """The median time of an n x n matmul of random ``precision`` operands on the device."""
    import torch

    from vidclass.precision import DTYPES

    a = torch.randn(plan.matmul_n, plan.matmul_n, device=plan.device, dtype=DTYPES[precision])
    b = torch.randn(plan.matmul_n, plan.matmul_n, device=plan.device, dtype=DTYPES[precision])
    return statistics.median(run_times(lambda: torch.mm(a, b), plan.device, 3, plan.matmul_repeats))


def sdpa_runs(fn: Callable[[], Any], backends: list[Any]) -> bool:
    """Whether ``fn`` runs with SDPA restricted to ``backends`` (torch raises when none applies)."""
    from torch.nn.attention import sdpa_kernel

    try:
        with sdpa_kernel(backends):
            fn()
    except RuntimeError:
        return False
    return True


def step_forward(plan: Plan, build: Path) -> dict[str, Any]:
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from vidclass.models import ViViT, get_entry, view_gflops
    from vidclass.precision import autocast

    device = torch.device(plan.device)
    cfg = get_entry(plan.forward_model).config
    torch.manual_seed(0)
    model = ViViT(cfg).eval().to(device)
    gflops = view_gflops(cfg)
    peak = read_part(build, "peak")
    flash_efficient = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]
    rows: list[dict[str, Any]] = []
    result = {
        "model": plan.forward_model,
        "gflops_per_view": gflops,
        "input": [3, cfg.num_frames, cfg.image_size, cfg.image_size],
        "warmup": plan.forward_warmup,
        "repeats": plan.forward_repeats,
        "rows": rows,
    }
    for precision in plan.precisions:
        for batch in plan.batches:
            x = torch.randn(batch, 3, cfg.num_frames, cfg.image_size, cfg.image_size, device=device)

            def forward(x: torch.Tensor = x, precision: str = precision) -> None:
                with torch.inference_mode(), autocast(precision, device):
                    model(x)

            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            times = run_times(forward, plan.device, plan.forward_warmup, plan.forward_repeats)
            seconds = statistics.median(times)
            tflops = gflops * batch / seconds / 1e3
            peak_tflops = (peak.get(precision) or {}).get("tflops")
            row: dict[str, Any] = {
                "precision": precision,
                "batch": batch,
                "seconds": seconds,
                "views_per_second": batch / seconds,
                "tflops": tflops,
                "mfu": tflops / peak_tflops if peak_tflops else None,
                "flash_or_efficient_runs": sdpa_runs(forward, flash_efficient),
            }
            if row["flash_or_efficient_runs"]:  # the same forward, restricted: is SDPA's own choice as fast?

                def restricted(forward: Callable[[], None] = forward) -> None:
                    with sdpa_kernel(flash_efficient):
                        forward()

                row["restricted_seconds"] = statistics.median(
                    run_times(restricted, plan.device, 1, plan.forward_repeats)
                )
                row["default_over_restricted"] = seconds / row["restricted_seconds"]
            if batch == plan.batches[0]:
                row["flash_runs"] = sdpa_runs(forward, [SDPBackend.FLASH_ATTENTION])
                row["efficient_runs"] = sdpa_runs(forward, [SDPBackend.EFFICIENT_ATTENTION])
            if device.type == "cuda":
                row["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
            rows.append(row)
            print(json.dumps(row), flush=True)
            save_part(build, "forward", result)  # what is done survives the step's time limit
            del x
    return result


def step_clips(plan: Plan, build: Path) -> dict[str, Any]:
    from clips import bitrate_mbps, clip_folder

    import vidclass

    t0 = time.perf_counter()
    paths = clip_folder(build, plan.clip_size, plan.clip_seconds, plan.clip_count, processes=os.cpu_count() or 1)
    clip_seconds = time.perf_counter() - t0
    model = build / f"{plan.forward_model}.safetensors"
    if not model.is_file():
        partial = model.with_name(model.name + ".part.safetensors")
        vidclass.save_model(vidclass.create_model(plan.forward_model, labels=BENCH_LABELS, seed=0), partial)
        partial.replace(model)
    return {
        "folder": str(paths[0].parent),
        "clips": len(paths),
        "size": plan.clip_size,
        "seconds": plan.clip_seconds,
        "mbit_s": statistics.median(bitrate_mbps(p, plan.clip_seconds) for p in paths),
        "generate_seconds": clip_seconds,
        "model_file": str(model),
    }


def e2e_run(command: list[str]) -> dict[str, Any]:
    """Run ``command`` (a ``vidclass predict ... -f jsonl``), stamping each record as it arrives."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    stamps, records = [], []
    for line in proc.stdout:
        stamps.append(time.perf_counter() - start)
        records.append(json.loads(line))
    stderr = proc.stderr.read()
    returncode = proc.wait()
    wall = time.perf_counter() - start
    ok = [r for r in records if r.get("ok")]
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else None
    return {
        "returncode": returncode,
        "stderr": stderr.strip().splitlines()[-3:],
        "videos": len(records),
        "ok": len(ok),
        "views_per_video": sorted({r.get("views") for r in ok}),
        "decoders": sorted({str(r.get("decoder")) for r in ok}),
        "wall_seconds": wall,
        "videos_per_second": len(ok) / wall,
        "first_record_seconds": stamps[0] if stamps else None,
        "steady_videos_per_second": steady,
    }


def step_e2e(plan: Plan, build: Path, which: str) -> dict[str, Any]:
    clips = read_part(build, "clips")
    if "folder" not in clips:
        return {"skipped": "no clips (the clips step did not finish)"}
    if which == "vivit":
        model, precision = clips["model_file"], "bf16"
    else:
        from vidclass.checkpoints.sources import default_model

        bundled = default_model()
        if bundled is None:
            return {"skipped": "no bundled model (weights/default.safetensors)"}
        model, precision = str(bundled), "auto"
    runs: list[dict[str, Any]] = []
    result = {
        "model": Path(model).name,
        "precision": precision,
        "batch_size": plan.e2e_batch,
        "clips": clips["clips"],
        "clip": f"{clips['size']}, {clips['seconds']:g} s, {clips['mbit_s']:.1f} Mbit/s",
        "runs": runs,
    }
    for workers in plan.workers:
        command = [sys.executable, "-m", "vidclass", "predict", clips["folder"], "-m", model, "--device", plan.device]
        command += ["--precision", precision, "-b", str(plan.e2e_batch), "-j", str(workers), "-f", "jsonl", "-q"]
        run = {"workers": workers, **e2e_run(command)}
        print(json.dumps(run), flush=True)
        runs.append(run)
        save_part(build, f"e2e-{which}", result)
    return result


def step_agreement(plan: Plan, build: Path) -> dict[str, Any]:
    import shutil

    from bench import agreement_model, agreement_videos, measure_agreement

    folder = build / "agreement-videos"
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    paths = agreement_videos(folder, plan.agreement_per_class, seed=0, workers=os.cpu_count() or 1)
    generate_seconds = time.perf_counter() - t0
    classifier, name = agreement_model(plan.agreement_quick, seed=0)
    results: dict[str, Any] = {
        "generate_seconds": generate_seconds,
        "bounds": {"top1_views": 0.995, "softmax_video": 0.01},
    }
    for precision in plan.agreement_precisions:
        result = measure_agreement(classifier, name, paths, plan.device, precision)
        result["meets_bounds"] = result["top1_agreement_views"] >= 0.995 and result["max_softmax_diff_video"] <= 0.01
        print(json.dumps(result), flush=True)
        results[precision] = result
        save_part(build, "agreement", results)
    return results


# --- plumbing ---------------------------------------------------------------------------------


def save_part(build: Path, step: str, result: dict[str, Any]) -> None:
    partial = build / f"{step}.json.part"
    partial.write_text(json.dumps(result, indent=1) + "\n")
    partial.replace(build / f"{step}.json")


def read_part(build: Path, step: str) -> dict[str, Any]:
    path = build / f"{step}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


STEPS = ("tests", "peak", "forward", "clips", "e2e", "agreement", "report")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=STEPS)
    parser.add_argument("--build", default="build/gpu", help="where the parts, clips and results go (build/gpu)")
    parser.add_argument("--smoke", action="store_true", help="the same code on the CPU, tiny sizes")
    parser.add_argument("--model", choices=("vivit", "bundled"), default="vivit", help="e2e: which model")
    parser.add_argument("--json", help="report: the one JSON (default BUILD/gpu.json)")
    parser.add_argument("--write", help="report: the Markdown file to put the section in")
    parser.add_argument("--command", default="benchmarks/gpu.sh", help="report: the command that ran")
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    build = Path(args.build)
    build.mkdir(parents=True, exist_ok=True)
    if args.step == "report":
        from gpu_report import report

        return report(build, plan, smoke=args.smoke, json_path=args.json, write=args.write, command=args.command)
    import torch

    if plan.device == "cuda" and not torch.cuda.is_available():
        print(f"gpu_checks.py {args.step}: no CUDA device", file=sys.stderr)
        return 3
    name = f"e2e-{args.model}" if args.step == "e2e" else args.step
    t0 = time.perf_counter()
    if args.step == "e2e":
        result = step_e2e(plan, build, args.model)
    else:
        result = {"tests": step_tests, "peak": step_peak, "forward": step_forward, "clips": step_clips}.get(
            args.step, step_agreement
        )(plan, build)
    result["step_seconds"] = time.perf_counter() - t0
    save_part(build, name, result)
    if "skipped" in result:
        print(f"{name}: skipped: {result['skipped']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
