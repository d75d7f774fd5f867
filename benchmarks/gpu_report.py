"""``benchmarks/gpu.sh``'s last step: its parts (``BUILD/gpu/STEP.json``) and the shell's step
log (``steps.tsv``: step, limit, seconds taken, status, reason) as one JSON and one BENCHMARKS.md
section, with the device named."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from common import machine, write_section

BEGIN = "<!-- benchmarks/gpu.sh results: begin (generated, edits here are overwritten) -->"
END = "<!-- benchmarks/gpu.sh results: end -->"
INSERT_BEFORE = "## Not measured"
PARTS = ("tests", "peak", "forward", "clips", "e2e-vivit", "e2e-bundled", "agreement")


def device_description() -> dict[str, Any]:
    """The host (``common.machine``) and, where there is one, the GPU, its driver and CUDA."""
    import torch

    out = machine()
    out["cuda"] = torch.version.cuda
    out["tf32"] = {
        "matmul": torch.backends.cuda.matmul.allow_tf32,
        "cudnn": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out["gpu"] = props.name
        out["gpu_capability"] = f"{props.major}.{props.minor}"
        out["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        out["gpu_multiprocessors"] = props.multi_processor_count
        try:
            query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            out["driver"] = subprocess.run(query, capture_output=True, text=True, timeout=20).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            out["driver"] = None
    else:
        out["gpu"] = None
    return out


def read_steps(build: Path) -> list[dict[str, Any]]:
    path = build / "steps.tsv"
    rows = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        name, limit, seconds, status, reason = (line.split("\t") + [""] * 5)[:5]
        rows.append({"step": name, "limit_s": int(limit), "seconds": int(seconds), "status": status, "reason": reason})
    return rows


def report(build: Path, plan: Any, smoke: bool, json_path: str | None, write: str | None, command: str) -> int:
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": command,
        "smoke": smoke,
        "machine": device_description(),
        "plan": asdict(plan),
        "steps": read_steps(build),
    }
    for part in PARTS:
        path = build / f"{part}.json"
        if path.is_file():
            results[part] = json.loads(path.read_text())
    skipped = [s for s in results["steps"] if s["status"] != "ok"]
    skipped += [
        {"step": p, "status": "skipped", "reason": results[p]["skipped"]}
        for p in PARTS
        if "skipped" in results.get(p, {})
    ]
    results["skipped"] = skipped
    text = json.dumps(results, indent=1) + "\n"
    (Path(json_path) if json_path else build / "gpu.json").write_text(text)
    section = markdown(results)
    print(section)
    if write:
        write_section(Path(write), section, BEGIN, END, insert_before=INSERT_BEFORE)
    for s in skipped:
        print(f"skipped: {s['step']}: {s['reason']}")
    return 0


def fmt(value: Any, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    total = sum(s["seconds"] for s in r["steps"])
    gpu = (
        f"{m['gpu']} (compute capability {m['gpu_capability']}, {m['gpu_memory_gib']} GiB, "
        f"{m['gpu_multiprocessors']} SMs), driver {m.get('driver') or 'unknown'}, CUDA {m['cuda']}"
        if m.get("gpu")
        else "no GPU (CPU smoke run)"
    )
    lines = [
        "## GPU (issue 19): `benchmarks/gpu.sh`",
        "",
        f"Command: `{r['command']}` ({total} s in its steps before this report, {r['date']}).",
        f"Device: {gpu}; host {m['cpu']}, {m['logical_cpus']} logical CPUs; torch {m['torch']}, "
        f"Python {m['python']}; TF32 in fp32 matmuls {m['tf32']['matmul']}, in cuDNN convolutions "
        f"{m['tf32']['cudnn']}.",
        "",
    ]
    if r["smoke"]:
        lines += ["**Smoke run on the CPU** (`--dry-run`): tiny sizes, checking the script; not figures.", ""]
    lines += ["| step | limit s | took s | status |", "|---|---|---|---|"]
    lines += [
        f"| {s['step']} | {s['limit_s']} | {s['seconds']} | {s['status']}{': ' + s['reason'] if s['reason'] else ''} |"
        for s in r["steps"]
    ]
    lines.append("")
    if "tests" in r:
        t = r["tests"]
        lines += [f"CUDA-marked tests (`{t['command']}`): {t['summary']} (exit {t['returncode']}).", ""]
    lines += markdown_forward(r)
    lines += markdown_e2e(r)
    lines += markdown_agreement(r)
    own = [s for s in r["skipped"] if s not in r["steps"]]  # the steps' own skips (the table holds the rest)
    if own:
        lines += ["Skipped: " + "; ".join(f"{s['step']}: {s['reason']}" for s in own) + ".", ""]
    return "\n".join(lines)


def markdown_forward(r: dict[str, Any]) -> list[str]:
    lines = []
    peak = r.get("peak", {})
    if peak:
        dtypes = [k for k in peak if isinstance(peak[k], dict)]
        lines += [
            f"Matmul peak ({peak['n']}x{peak['n']}, median of {peak['repeats']}): "
            + ", ".join(f"{d} {peak[d]['tflops']:.4g} TFLOP/s" for d in dtypes)
            + ".",
            "",
        ]
    f = r.get("forward", {})
    if f.get("rows"):
        lines += [
            f"### Model forward ({f['model']}, random weights, {f['gflops_per_view']:.4g} GFLOP per view, "
            f"input on the device, median of {f['repeats']} after {f['warmup']} warm-up)",
            "",
            "| precision | batch | ms / batch | views / s | TFLOP/s | MFU | runs on flash/efficient SDPA only | "
            "SDPA's choice / restricted time |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in f["rows"]:
            mfu = "-" if row["mfu"] is None else f"{100 * row['mfu']:.0f} %"
            lines.append(
                f"| {row['precision']} | {row['batch']} | {1000 * row['seconds']:.1f} | {row['views_per_second']:.1f} | "
                f"{row['tflops']:.4g} | {mfu} | {row['flash_or_efficient_runs']} | "
                f"{fmt(row.get('default_over_restricted'), '.2f')} |"
            )
        first = [row for row in f["rows"] if "flash_runs" in row]
        lines += [""] + [
            f"At {row['precision']}, batch {row['batch']}: flash alone runs {row['flash_runs']}, "
            f"memory-efficient alone runs {row['efficient_runs']}."
            for row in first
        ]
        lines.append("")
    return lines


def markdown_e2e(r: dict[str, Any]) -> list[str]:
    parts = [r[p] for p in ("e2e-vivit", "e2e-bundled") if "runs" in r.get(p, {})]
    if not parts:
        return []
    clip = parts[0]["clip"]
    lines = [
        f"### End to end (`vidclass predict` on {parts[0]['clips']} clips of {clip}, `-b` {parts[0]['batch_size']})",
        "",
        "| model | precision | --workers | ok / videos | views | wall s | videos / s | steady videos / s | first record s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in parts:
        for run in p["runs"]:
            lines.append(
                f"| {p['model']} | {p['precision']} | {run['workers']} | {run['ok']} / {run['videos']} | "
                f"{','.join(map(str, run['views_per_video']))} | {run['wall_seconds']:.1f} | "
                f"{run['videos_per_second']:.2f} | {fmt(run['steady_videos_per_second'], '.2f')} | "
                f"{fmt(run['first_record_seconds'], '.1f')} |"
            )
    lines += [
        "",
        "Videos / s: the whole command (start-up and worker start included); steady: between the first and "
        "the last record.",
        "",
    ]
    return lines


def markdown_agreement(r: dict[str, Any]) -> list[str]:
    a = r.get("agreement", {})
    rows = [a[k] for k in a if isinstance(a[k], dict) and "top1_agreement_views" in a[k]]
    if not rows:
        return []
    first = rows[0]
    lines = [
        f"### Agreement with fp32 on the device ({first['model']}, {first['videos']} `vidclass synth` videos, "
        f"{first['views']} views; bounds: top-1 >= 99.5 % per view, softmax difference <= 0.01 per video)",
        "",
        "| precision | top-1 per view | top-1 per video | max softmax diff per video | per view | within bounds |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['precision']} | {100 * row['top1_agreement_views']:.2f} % | "
            f"{100 * row['top1_agreement_videos']:.1f} % | {row['max_softmax_diff_video']:.2e} | "
            f"{row['max_softmax_diff_view']:.2e} | {row['meets_bounds']} |"
        )
    lines.append("")
    return lines
