"""Does an explanation point at the moving object? Peak-in-box rates on held-out synth videos.

For each video of a ``vidclass synth`` folder (which records the object's box in every frame,
``boxes.jsonl``), ``vidclass.explain`` picks its clip and computes the maps; the rows are
combined by their weights (``Explanation.combined``) and, in every input frame of the clip,
the peak's grid cell is mapped back to the video's pixels (``Explanation.peaks``). A hit is a
peak inside the object's box in that frame. The chance rate is what a peak thrown uniformly at
random over the frame would score: the box's area over the frame's, averaged over the same
frames.

    python benchmarks/localisation.py --per-class 10 --seed 1001 \\
        --model weights/default.safetensors:tokens --model weights/default.safetensors:rollout \\
        --model build/loc-run/model.safetensors:rollout --json build/localisation.json

Prints one table row per model and method (and writes the figures as JSON with ``--json``).
``make localisation`` makes the comparison model without TokenLearner (``--strip OUT``: the
bundled model's weights without its TokenLearner, as a ``vivit-s64``), fine-tunes it, and runs
the measurement of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import vidclass
from vidclass.explanation import explain_with, resolve_method
from vidclass.inference import Predictor
from vidclass.synth import generate, read_boxes, read_manifest


def measure(folder: Path, model: str, method: str) -> dict:
    """Peak-in-box and chance rates of ``model`` explained with ``method`` over ``folder``."""
    classifier = vidclass.load_model(model)
    method = resolve_method(method, classifier.model.config, classifier.name)
    tracks = read_boxes(folder)
    manifest = read_manifest(folder)
    hits, chances, correct, seconds = [], [], [], []
    with Predictor(classifier, device="cpu", workers=0) as predictor:
        for record in manifest["videos"]:
            track = tracks[record["path"]]
            e = explain_with(predictor, folder / record["path"], method=method, clip=None, layer=None)
            peaks = e.peaks()
            area = track.width * track.height
            for (x, y), frame in zip(peaks, e.frame_indices, strict=True):
                x0, y0, x1, y1 = track.boxes[frame]
                hits.append(bool(track.contains(frame, x, y)))
                chances.append(0.0 if np.isnan(x0) else (x1 - x0) * (y1 - y0) / area)
            correct.append(e.label == record["label"])
            seconds.append(e.seconds)
    return {
        "model": classifier.name,
        "source": model,
        "method": method,
        "videos": len(correct),
        "frames": len(hits),
        "hit_rate": round(float(np.mean(hits)), 4),
        "chance": round(float(np.mean(chances)), 4),
        "top1": round(float(np.mean(correct)), 4),
        "median_seconds": round(statistics.median(seconds), 3),
    }


def strip_tokenlearner(source: str, out: Path) -> None:
    """Write ``source`` (a vivit-s64-tl8at1 model) as a ``vivit-s64``: every weight but the
    TokenLearner's, loaded strictly, so nothing else is dropped or left new."""
    from vidclass.checkpoints import load_classifier

    tl = load_classifier(source)
    plain = vidclass.create_model("vivit-s64", labels=list(tl.labels), seed=0)
    kept = {k: v for k, v in tl.model.state_dict().items() if ".learners." not in k}
    plain.model.load_state_dict(kept, strict=True)
    vidclass.save_model(plain, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="a vidclass synth folder (default: generate one)")
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1001, help="never used in training")
    parser.add_argument("--max-seconds", type=float, default=4.0)
    parser.add_argument("--model", action="append", default=[], help="MODEL:METHOD (method auto, tokens, rollout)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--strip", type=Path, metavar="OUT", help="only write the bundled model without TokenLearner")
    args = parser.parse_args(argv)
    if args.strip:
        strip_tokenlearner("default", args.strip)
        return 0
    if not args.model:
        parser.error("give --model MODEL:METHOD at least once")
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder
        if folder is None:
            folder = Path(scratch) / "heldout"
            started = time.perf_counter()
            generate(folder, per_class=args.per_class, seed=args.seed, max_seconds=args.max_seconds)
            print(f"generated {folder} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        rows = []
        for spec in args.model:
            model, _, method = spec.rpartition(":") if ":" in spec else (spec, "", "auto")
            rows.append(measure(folder, model, method or "auto"))
    print("| model | method | videos | frames | top-1 | peak in box | chance | ratio | median s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["hit_rate"] / r["chance"] if r["chance"] else float("nan")
        print(
            f"| {r['model']} | {r['method']} | {r['videos']} | {r['frames']} | {r['top1']:.1%} | "
            f"{r['hit_rate']:.1%} | {r['chance']:.1%} | {ratio:.1f}x | {r['median_seconds']} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"seed": args.seed, "per_class": args.per_class, "rows": rows}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
