"""onnxruntime against torch on the CPU (issue 19): the same model, exported by ``vidclass export``.

For each model in ``--models`` (default ``vivit-b-16x2``, random weights with 400 classes, and
``default``, the bundled ``weights/default.safetensors``): the model is exported with
``vidclass.export_onnx`` (timed once), loaded into an onnxruntime ``InferenceSession`` (CPU
provider, as many intra-op threads as torch uses, every graph optimisation), and then, in
interleaved rounds after a warm-up, ``--views`` random views (default 1; values do not change
the work) run through

- torch fp32: ``Predictor.logits`` at ``precision="fp32"`` (what predict runs);
- torch auto: the same at ``precision="auto"``, where that resolves to something other than fp32
  (bf16 on CPUs with native bf16: predict's default);
- onnxruntime: ``session.run`` on the same views, fp32 (the exported graph).

Figures are medians over the rounds, a ratio the median of its per-round ratios (above 1:
onnxruntime is faster). The largest absolute difference between onnxruntime's and torch fp32's
logits is reported too. ``--json FILE`` writes the results; ``--write FILE`` puts the Markdown
section into FILE between this script's markers (inserted before ``## Not measured`` when they
are absent).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import onnxruntime as ort
import torch
from common import load, machine, publish, timed

import vidclass

BEGIN = "<!-- benchmarks/export_speed.py results: begin (generated, edits here are overwritten) -->"
END = "<!-- benchmarks/export_speed.py results: end -->"
INSERT_BEFORE = "## Not measured"
MODELS = ["vivit-b-16x2", "default"]
LABELS = [f"class{i:03d}" for i in range(400)]


def classifier(name: str) -> vidclass.VideoClassifier:
    if name == "default":
        return vidclass.load_model("default")
    return vidclass.create_model(name, labels=LABELS, seed=0)


class Model:
    """One model: its torch predictors and its onnxruntime session, on the same views."""

    def __init__(self, name: str, folder: Path, views: int) -> None:
        self.name = name
        self.classifier = classifier(name)
        prep = self.classifier.preprocessing
        self.views = torch.randn(
            views, 3, prep.num_frames, prep.crop_size, prep.crop_size, generator=torch.Generator().manual_seed(0)
        )
        self.export_seconds, path = timed(lambda: vidclass.export_onnx(self.classifier, folder / f"{name}.onnx"))
        self.onnx_bytes = path.stat().st_size
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.runners: dict[str, Any] = {"torch fp32": self._torch("fp32")}
        auto = vidclass.Predictor(self.classifier, precision="auto", device="cpu", batch_size=views)
        if auto.precision != "fp32":
            self.runners[f"torch auto ({auto.precision})"] = lambda: auto.logits(self.views)
        self.runners["onnxruntime fp32"] = self._onnxruntime

    def _torch(self, precision: str) -> Any:
        predictor = vidclass.Predictor(self.classifier, precision=precision, device="cpu", batch_size=len(self.views))
        return lambda: predictor.logits(self.views)

    def _onnxruntime(self) -> torch.Tensor:
        (logits,) = self.session.run(None, {"video": self.views.numpy()})
        return torch.from_numpy(logits)

    def difference(self) -> float:
        reference = self.runners["torch fp32"]()
        return float((self._onnxruntime() - reference).abs().max())


def ratios(rounds: list[dict[str, float]], slow: str, fast: str) -> dict[str, float]:
    each = [r[slow] / r[fast] for r in rounds]
    return {"median": statistics.median(each), "min": min(each), "max": max(each), "rounds": len(each)}


def run(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    out = []
    for name in args.models:
        model = Model(name, folder, args.views)
        warm = max(timed(runner)[0] for runner in model.runners.values())  # warm-up
        calls = max(1, math.ceil(args.min_seconds / warm))  # a small model: several calls a timing
        rounds = []
        for index in range(args.repeats):
            rounds.append(
                {
                    key: timed(lambda r=runner, n=calls: [r() for _ in range(n)])[0] / calls
                    for key, runner in model.runners.items()
                }
            )
            print(f"{name} round {index + 1}:", json.dumps(rounds[-1]), flush=True)
        prep = model.classifier.preprocessing
        out.append(
            {
                "model": name,
                "name": model.classifier.name,
                "input": [args.views, 3, prep.num_frames, prep.crop_size, prep.crop_size],
                "calls_per_timing": calls,
                "export_seconds": model.export_seconds,
                "onnx_bytes": model.onnx_bytes,
                "max_abs_difference": model.difference(),
                "seconds": {key: statistics.median(r[key] for r in rounds) for key in model.runners},
                "speedup": {key: ratios(rounds, key, "onnxruntime fp32") for key in model.runners if "torch" in key},
                "rounds": rounds,
            }
        )
    return out


def markdown(results: dict[str, Any], command: str) -> str:
    m = results["machine"]
    lines = [
        "## onnxruntime against torch (issue 19): benchmarks/export_speed.py",
        "",
        "Each model exported with `vidclass export` (opset 18), run in onnxruntime "
        f"{results['onnxruntime']} (CPU provider, {m['torch_threads']} intra-op threads, every graph",
        "optimisation) and in torch through `Predictor.logits` (what predict runs) at fp32 and at `auto`,",
        "on the same random views. A timing repeats the call until it lasts about a second (the",
        "bundled model's call takes milliseconds) and is divided by the calls. Speed-up: torch's time",
        "over onnxruntime's (above 1: onnxruntime is faster), the median of per-round ratios with the",
        "smallest and largest in brackets. Export: `vidclass.export_onnx`'s time, once.",
        "",
        f"Command: `{command}` ({results['total_seconds']:.0f} s in all, {results['date']}).",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, torch {m['torch']} on {m['torch_threads']} threads,",
        f"Python {m['python']}. Load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in results['load_before'])} "
        f"before, {', '.join(f'{x:.2f}' for x in results['load_after'])} after (a shared machine: medians of "
        "interleaved rounds after a warm-up).",
        "",
        "| model | input | runtime | rounds | s / call | speed-up of onnxruntime | export s | ONNX MiB | max abs diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        shape = "x".join(str(v) for v in row["input"])
        for key, seconds in row["seconds"].items():
            s = row["speedup"].get(key)
            speedup = f"{s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f})" if s else "-"
            extra = [
                f"{row['export_seconds']:.1f}",
                f"{row['onnx_bytes'] / 2**20:.1f}",
                f"{row['max_abs_difference']:.1e}",
            ]
            if key != "onnxruntime fp32":
                extra = ["", "", ""]
            model = f"{row['model']}" + (f" ({row['name']})" if row["name"] != row["model"] else "")
            lines.append(
                f"| {model} | {shape} | {key} | {len(row['rounds'])} | {seconds:.3f} | {speedup} | "
                + " | ".join(extra)
                + " |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated (default {','.join(MODELS)})")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--views", type=int, default=1, help="views a batch (default 1)")
    parser.add_argument(
        "--min-seconds", type=float, default=1.0, help="a timing repeats a call until about this long (default 1)"
    )
    parser.add_argument("--json", metavar="FILE", help="write the raw results as JSON")
    parser.add_argument("--write", metavar="FILE", help="write the Markdown section into FILE, between its markers")
    args = parser.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    if args.repeats < 1 or args.views < 1 or not args.models:
        parser.error("--repeats and --views must be at least 1, --models not empty")
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "onnxruntime": ort.__version__,
        "load_before": load(),
    }
    with tempfile.TemporaryDirectory(prefix="export-bench-") as folder:
        results["rows"] = run(args, Path(folder))
    results["load_after"] = load()
    results["total_seconds"] = time.perf_counter() - started
    command = "python benchmarks/export_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = markdown(results, command.strip())
    publish(results, section, args.json, args.write, BEGIN, END, INSERT_BEFORE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
