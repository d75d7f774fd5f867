"""X3D against ViViT-B per video (issue 18): seconds per video end to end, each model's own protocol.

On ONE generated clip (default 10 s, 640x360, 25 fps, H.264 written with PyAV: a moving
gradient with a square crossing it and some noise), side by side in one process:

1. End to end: the wall time of what ``vidclass.predict`` does with that one file (a
   ``Predictor`` built, then decode, views, model, scores; the default ``workers=0``, so decode
   runs in this process), for each model in
   ``--models`` (default x3d-xs, x3d-s, x3d-m, x3d-m-tl8, vivit-b-16x2), random-init, with its
   own preprocessing and full view protocol (X3D 10x3, ViViT-B 4x3) unless ``--clips`` /
   ``--crops`` override it, at ``--precision`` (default ``auto``; the results say what the
   ``Predictor`` resolved it to).
2. Model only: ``Predictor.logits`` on pre-built random views of the same count and shape
   (values do not change the work), for the X3D models, so that decode is separated from the
   model: X3D's effective GMAC/s is the analytic MACs per video
   (``vidclass.models.x3d_flops.view_macs`` at the test crop) over that time, and its MFU is
   2 x MAC/s against a 2048x2048 matmul of the same dtype.
3. Two speed levers for ``--lever-model`` (default X3D-M), each an extra contender: (a) the
   adopted one: the model as the ``Predictor`` runs it on the CPU (BatchNorms folded into the
   convs, channels-last, SiLU, ReLU in place: ``vidclass.models.x3d_fast``) against the model
   as it is (``PlainPredictor``, what ran before), at the resolved precision; (b) fp32 against
   bf16 (the one of the two that ``auto`` did not resolve to), both as the ``Predictor`` runs
   them. The defaults in vidclass are not changed here.

Rounds are interleaved (every contender once a round) after a warm-up round; figures are
medians, a ratio the median of its per-round ratios. ViViT-B (about 50 s a video on 2 cores)
runs in the first ``--vivit-repeats`` rounds only (default 1), so its ratios come from those.

``--json FILE`` writes the results; ``--write FILE`` puts the Markdown section into FILE
between this script's markers (inserted before ``## Not measured`` when they are absent).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from common import load, machine, matmul_gflops, publish, timed

import vidclass
from vidclass.models.x3d_flops import view_macs

BEGIN = "<!-- benchmarks/x3d_speed.py results: begin (generated, edits here are overwritten) -->"
END = "<!-- benchmarks/x3d_speed.py results: end -->"
INSERT_BEFORE = "## Not measured"
MODELS = ["x3d-xs", "x3d-s", "x3d-m", "x3d-m-tl8", "vivit-b-16x2"]
LABELS = [f"class{i:03d}" for i in range(400)]  # a Kinetics-400-sized head
LEVER_MODEL = "x3d-m"


def write_clip(path: Path, seconds: float, width: int, height: int, fps: int) -> None:
    """A deterministic H.264 clip: a moving gradient, a square crossing it, some noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * fps)):
            t = i / fps
            frame = np.stack(
                [
                    127 + 100 * np.sin(xx / 40 + t * 2),
                    127 + 100 * np.cos(yy / 30 - t * 3),
                    127 + 100 * np.sin((xx + yy) / 50 + t),
                ],
                axis=-1,
            )
            x0 = int((width - 60) * (0.5 + 0.5 * np.sin(t)))
            frame[height // 3 : height // 3 + 60, x0 : x0 + 60] = (250, 20, 20)
            frame += rng.normal(0, 6, frame.shape)
            image = av.VideoFrame.from_ndarray(np.clip(frame, 0, 255).astype(np.uint8), format="rgb24")
            container.mux(stream.encode(image))
        container.mux(stream.encode(None))


class Contender:
    """One model at one precision: its end-to-end and (X3D) model-only runs."""

    def __init__(self, model: str, precision: str, clip: Path, args: argparse.Namespace, plain: bool = False) -> None:
        self.model, self.clip, self.args, self.plain = model, clip, args, plain
        self.classifier = vidclass.create_model(model, labels=LABELS, seed=0)
        self.options = {"precision": precision, "clips": args.clips, "crops": args.crops, "device": "cpu"}
        predictor = self.make_predictor()
        self.precision = predictor.precision  # ``auto`` resolved
        self.name = f"{model} {self.precision}" + (" plain" if plain else "")
        self.views = predictor.protocol.clips * predictor.protocol.crops
        self.protocol = f"{predictor.protocol.clips}x{predictor.protocol.crops}"
        prep = predictor.preprocessing
        self.shape = (self.views, 3, prep.num_frames, prep.crop_size, prep.crop_size)
        self.x3d = model.startswith("x3d")
        cfg = getattr(self.classifier.model, "config", None)
        self.macs = view_macs(cfg, prep.num_frames, prep.crop_size) * self.views if self.x3d else None
        self.predictor = predictor

    def make_predictor(self) -> vidclass.Predictor:
        return (PlainPredictor if self.plain else vidclass.Predictor)(self.classifier, **self.options)

    def run_file(self) -> list[vidclass.Prediction]:
        """What ``vidclass.predict`` does with one file (workers=0): a Predictor built, the file run."""
        with self.make_predictor() as predictor:
            return list(predictor.predict_many([self.clip]))

    def end_to_end(self) -> dict[str, float]:
        seconds, predictions = timed(self.run_file)
        (p,) = predictions
        if not p.ok or p.views != self.views:
            raise SystemExit(f"{self.name}: unexpected prediction: error {p.error!r}, views {p.views}")
        return {"e2e": seconds, "record": p.seconds}

    def model_only(self) -> dict[str, float]:
        if not self.x3d:
            return {}
        views = torch.randn(self.shape)
        seconds, logits = timed(lambda: self.predictor.logits(views))
        assert logits.shape[0] == self.views
        return {"model": seconds}


class PlainPredictor(vidclass.Predictor):
    """The ``Predictor`` as it ran before ``vidclass.models.x3d_fast``: the model as it is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._module = self.model


def ratio(rounds: list[dict[str, dict[str, float]]], a: str, b: str, key: str = "e2e") -> dict[str, float] | None:
    each = [r[a][key] / r[b][key] for r in rounds if a in r and b in r]
    if not each:
        return None
    return {"median": statistics.median(each), "min": min(each), "max": max(each), "rounds": len(each)}


def run(clip: Path, args: argparse.Namespace) -> dict[str, Any]:
    contenders = [Contender(m, args.precision, clip, args) for m in args.models]
    lever = plain = None
    chosen = args.lever_model
    if chosen in args.models and not args.no_lever:
        auto = next(c for c in contenders if c.model == chosen)
        plain = Contender(chosen, args.precision, clip, args, plain=True)
        contenders.append(plain)
        other = "fp32" if auto.precision == "bf16" else "bf16"
        with contextlib.suppress(ValueError):  # bf16 not runnable here: no lever row
            lever = Contender(chosen, other, clip, args)
            contenders.append(lever)
    for c in contenders:  # warm-up: ViViT on one view only, to keep its cost down
        if c.x3d:
            c.end_to_end()
            c.model_only()
        else:
            list(vidclass.predict(clip, model=c.classifier, **{**c.options, "clips": 1, "crops": 1}))
    rounds: list[dict[str, dict[str, float]]] = []
    for index in range(args.repeats):
        measured: dict[str, dict[str, float]] = {}
        for c in contenders:
            if not c.x3d and index >= args.vivit_repeats:
                continue
            measured[c.name] = {**c.end_to_end(), **c.model_only()}
        rounds.append(measured)
        print(f"round {index + 1}:", json.dumps(measured), flush=True)
    peaks = {
        p: matmul_gflops(torch.float32 if p == "fp32" else torch.bfloat16)
        for p in {c.precision for c in contenders if c.x3d}
    }
    rows = []
    for c in contenders:
        mine = [r[c.name] for r in rounds if c.name in r]
        row: dict[str, Any] = {
            "model": c.model + (" (plain)" if c.plain else ""),
            "precision": c.precision,
            "protocol": c.protocol,
            "views": c.views,
            "input": list(c.shape[1:]),
            "repeats": len(mine),
            "seconds_per_video": statistics.median(m["e2e"] for m in mine),
            "record_seconds": statistics.median(m["record"] for m in mine),
        }
        if c.x3d:
            model = statistics.median(m["model"] for m in mine)
            macs = c.macs or 0
            row.update(
                model_seconds=model,
                decode_and_views_seconds=statistics.median(m["e2e"] - m["model"] for m in mine),
                gmacs_per_video=macs / 1e9,
                gmacs_per_second=macs / model / 1e9,
                gmacs_per_second_end_to_end=macs / row["seconds_per_video"] / 1e9,
                matmul_gflops=peaks[c.precision],
                mfu=2 * macs / model / 1e9 / peaks[c.precision],
            )
        rows.append(row)
    names = {(c.model, c.precision): c.name for c in contenders if not c.plain}
    main = {c.model: c.name for c in contenders if c.options["precision"] == args.precision and not c.plain}
    resolved = sorted({c.precision for c in contenders if c is not lever})
    out: dict[str, Any] = {"resolved_precision": resolved, "rows": rows, "all_rounds": rounds, "ratios": {}}
    if "vivit-b-16x2" in main and "x3d-m" in main:
        out["ratios"]["vivit-b-16x2 / x3d-m"] = ratio(rounds, main["vivit-b-16x2"], main["x3d-m"])
    if "x3d-m-tl8" in main and "x3d-m" in main:
        m, tl = (next(c for c in contenders if c.name == main[k]) for k in ("x3d-m", "x3d-m-tl8"))
        out["ratios"]["x3d-m-tl8 / x3d-m"] = ratio(rounds, tl.name, m.name)
        out["ratios"]["x3d-m-tl8 / x3d-m model"] = ratio(rounds, tl.name, m.name, "model")
        out["mac_ratio_tl8_m"] = (tl.macs or 0) / (m.macs or 1)
    if plain is not None:
        out["ratios"]["lever plain / fast"] = ratio(rounds, plain.name, main[chosen])
        out["ratios"]["lever plain / fast model"] = ratio(rounds, plain.name, main[chosen], "model")
    if lever is not None:
        fp32, bf16 = names.get((chosen, "fp32")), names.get((chosen, "bf16"))
        if fp32 and bf16:
            out["ratios"]["lever fp32 / bf16"] = ratio(rounds, fp32, bf16)
            out["ratios"]["lever fp32 / bf16 model"] = ratio(rounds, fp32, bf16, "model")
    return out


def spread(r: dict[str, float] | None) -> str:
    if r is None:
        return "n/a"
    if r["rounds"] == 1:
        return f"{r['median']:.2f}x (1 round)"
    return f"{r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f}, {r['rounds']} rounds)"


def markdown(results: dict[str, Any], command: str) -> str:
    m, b, clip = results["machine"], results["bench"], results["clip"]
    ratios = b["ratios"]
    lever = results["lever_model"].upper()
    lines = [
        "## X3D against ViViT-B (issue 18): `make x3d-bench` (benchmarks/x3d_speed.py)",
        "",
        f"One clip: {clip['seconds']:g} s, {clip['width']}x{clip['height']}, {clip['fps']} fps, H.264 (libx264)",
        "written with PyAV (a moving gradient, a square crossing it, noise). Random-init models with",
        f"{len(LABELS)} classes, each with its own preprocessing and view protocol. Precision "
        f"`{results['precision']}`, which the `Predictor` resolved to "
        f"{', '.join(b['resolved_precision'])} here.",
        "End to end: wall time of what `vidclass.predict` does with the file (a `Predictor` built; workers=0:",
        "decode, views, model, scores in this process). Model: `Predictor.logits` on random views of the same count and",
        "shape; decode + views: the median of the per-round differences (noisy: two timings). GMAC:",
        "analytic (`x3d_flops.view_macs` at the test crop) per video; GMAC/s over the model time; MFU:",
        "2 x MAC/s against a 2048x2048 matmul of the same dtype.",
        "",
        f"Command: `{command}` ({results['total_seconds']:.0f} s in all, {results['date']}).",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, torch {m['torch']} on {m['torch_threads']} threads,",
        f"Python {m['python']}. Load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in results['load_before'])} before,",
        f"{', '.join(f'{x:.2f}' for x in results['load_after'])} after. Medians of interleaved rounds after a warm-up;",
        "ratios are medians of per-round ratios, smallest and largest in brackets.",
        "",
        "| model | precision | views | input (C, T, H, W) | rounds | s / video | model s | decode + views s "
        "| GMAC / video | GMAC/s (model) | MFU |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in b["rows"]:
        x3d = "model_seconds" in row
        cells = [
            row["model"],
            row["precision"],
            row["protocol"],
            "x".join(str(v) for v in row["input"]),
            str(row["repeats"]),
            f"{row['seconds_per_video']:.2f}",
            f"{row['model_seconds']:.2f}" if x3d else "-",
            f"{row['decode_and_views_seconds']:.2f}" if x3d else "-",
            f"{row['gmacs_per_video']:.1f}" if x3d else "-",
            f"{row['gmacs_per_second']:.1f}" if x3d else "-",
            f"{100 * row['mfu']:.1f} %" if x3d else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"- ViViT-B / X3D-M per video, end to end: {spread(ratios.get('vivit-b-16x2 / x3d-m'))} "
        "(issue 18's goal: at least 15x).",
        f"- X3D-M-TL8 / X3D-M: time {spread(ratios.get('x3d-m-tl8 / x3d-m'))} end to end, "
        f"{spread(ratios.get('x3d-m-tl8 / x3d-m model'))} model only; MACs "
        + (f"{b['mac_ratio_tl8_m']:.3f}x." if "mac_ratio_tl8_m" in b else "n/a."),
        f"- Lever, adopted: {lever} as the `Predictor` runs it on the CPU (BatchNorms folded into the convs,",
        "  channels-last, SiLU, ReLU in place; `vidclass.models.x3d_fast`) against the model as it is (the",
        f"  `(plain)` row, as before), plain / now (above 1: now is faster): {spread(ratios.get('lever plain / fast'))} "
        f"end to end, {spread(ratios.get('lever plain / fast model'))} model only.",
        f"- Lever, {lever} fp32 / bf16 (a ratio above 1: bf16 is faster): {spread(ratios.get('lever fp32 / bf16'))} "
        f"end to end, {spread(ratios.get('lever fp32 / bf16 model'))} model only (both as the `Predictor` runs them).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated (default {','.join(MODELS)})")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--vivit-repeats", type=int, default=1, help="rounds ViViT-B runs in (default 1)")
    parser.add_argument("--precision", default="auto", help="the contenders' precision (default auto)")
    parser.add_argument("--lever-model", default=LEVER_MODEL, help=f"the levers' model (default {LEVER_MODEL})")
    parser.add_argument("--no-lever", action="store_true", help="skip the lever contenders")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    parser.add_argument("--size", default="640x360", help="clip WIDTHxHEIGHT (default 640x360)")
    parser.add_argument("--fps", type=int, default=25, help="clip frame rate (default 25)")
    parser.add_argument("--clips", type=int, help="temporal clips a video (default: each model's own)")
    parser.add_argument("--crops", type=int, help="spatial crops a clip (default: each model's own)")
    parser.add_argument("--work", metavar="DIR", help="where the clip goes (default: a temporary folder)")
    parser.add_argument("--json", metavar="FILE", help="write the raw results as JSON")
    parser.add_argument("--write", metavar="FILE", help="write the Markdown section into FILE, between its markers")
    args = parser.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.repeats < 1 or args.vivit_repeats < 1 or not args.models:
        parser.error("--repeats and --vivit-repeats must be at least 1, --models not empty")
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "load_before": load(),
        "precision": args.precision,
        "lever_model": args.lever_model,
        "clip": {"seconds": args.seconds, "width": width, "height": height, "fps": args.fps, "codec": "h264"},
    }
    with contextlib.ExitStack() as stack:
        if args.work:
            root = Path(args.work)
            if root.exists():
                shutil.rmtree(root)
            root.mkdir(parents=True)
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="x3d-bench-")))
        clip = root / "clip.mp4"
        write_clip(clip, args.seconds, width, height, args.fps)
        results["bench"] = run(clip, args)
    results["load_after"] = load()
    results["total_seconds"] = time.perf_counter() - started
    command = "python benchmarks/x3d_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = markdown(results, command.strip())
    publish(results, section, args.json, args.write, BEGIN, END, INSERT_BEFORE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
