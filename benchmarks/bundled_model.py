"""Measure the bundled model for its card: held-out accuracy, frame-order and time-reversal
sensitivity, and the wall time of `vidclass predict` on a 10 s 480p clip.

    python benchmarks/bundled_model.py --model weights/default.safetensors --out weights/default.json

Held-out sets come from `vidclass synth` with seeds never used in training (training used
seed 1). Every number is measured in this run; nothing is copied in.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import vidclass
from vidclass.inference import Predictor
from vidclass.scores import aggregate
from vidclass.synth import SELF_TWINS, TWINS, generate, write_mp4
from vidclass.video import load_views


def heldout_accuracy(predictor: Predictor, root: Path, records: list[dict]) -> float:
    hits = [predictor.predict(root / r["path"]).label == r["label"] for r in records]
    return sum(hits) / len(hits)


def shuffled_accuracy(classifier, root: Path, records: list[dict], seed: int) -> float:
    """Each view's frames in a random order (the same order for every view of a video)."""
    rng = np.random.default_rng(seed)
    labels = list(classifier.labels)
    hits = 0
    with torch.inference_mode():
        for r in records:
            views, _, _ = load_views(root / r["path"], classifier.preprocessing, classifier.protocol)
            order = torch.from_numpy(rng.permutation(views.shape[2]))
            probs = aggregate(classifier.model(views[:, :, order]), classifier.protocol.aggregate)
            hits += labels[int(probs.argmax())] == r["label"]
    return hits / len(records)


def predict_wall_time(model: str, work: Path, runs: int) -> list[float]:
    """`vidclass predict` on a 10 s 640x480 30 fps clip, start-up included, in a fresh process."""
    clip = work / "clip-480p-10s.mp4"
    y, x = np.mgrid[0:480, 0:640]
    base = np.stack([(x * 255 // 640), (y * 255 // 480), np.full_like(x, 90)], -1).astype(np.uint8)

    def frames():
        for i in range(300):
            frame = base.copy()
            cx = 80 + i * 1.6
            frame[(np.abs(x - cx) < 40) & (np.abs(y - 240) < 40)] = (250, 220, 30)
            yield frame

    write_mp4(clip, frames(), 30, 640, 480)
    command = [str(Path(sys.executable).with_name("vidclass")), "predict", str(clip), "--model", model, "-q"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def training_summary(classifier, runs: list[str]) -> dict:
    """What the model file says of its (last) training run, plus the wall time of every run's epochs."""
    prov = classifier.provenance
    summary = {
        "dataset_videos": prov.get("videos"),
        "epochs": prov.get("epochs_trained"),
        "kernel_init": prov.get("kernel_init"),
        "recipe": prov.get("recipe"),
        "final_epoch": prov.get("metrics"),
    }
    stages = []
    for run in runs:
        epochs = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines() if line]
        stages.append(
            {
                "run": Path(run).name,
                "epochs": len(epochs),
                "steps": epochs[-1]["step"] if epochs else 0,
                "seconds": round(sum(e["seconds"] for e in epochs), 1),
                "val_top1_by_epoch": [round(e["val_top1"], 4) for e in epochs if e.get("val_top1") is not None],
            }
        )
    if stages:
        summary["stages"] = stages
        summary["train_seconds"] = round(sum(stage["seconds"] for stage in stages), 1)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="weights/default.safetensors")
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1001, help="held-out seed (training used 1)")
    parser.add_argument("--runs", type=int, default=5, help="timed predict runs")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=8.0,
        help="longest held-out video, as the training set was generated (synth's default: 8)",
    )
    parser.add_argument("--out", help="write the card JSON here")
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        help="a training run's folder, in order (their metrics.jsonl give the training time); repeatable",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    classifier = vidclass.load_model(args.model)
    predictor = Predictor(classifier, device="cpu", batch_size=12)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        held = generate(
            work / "heldout", per_class=args.per_class, seed=args.seed, workers=2, max_seconds=args.max_seconds
        )
        twin_classes = [c for c in TWINS if c not in SELF_TWINS]
        reversed_set = generate(
            work / "reversed",
            per_class=args.per_class,
            seed=args.seed + 1,
            workers=2,
            classes=twin_classes,
            reverse=True,
            max_seconds=args.max_seconds,
        )
        default_set = generate(work / "default", per_class=max(1, args.per_class // 2), seed=args.seed + 2, workers=2)
        generated = time.perf_counter() - started
        started = time.perf_counter()
        top1 = heldout_accuracy(predictor, work / "heldout", held)
        eval_seconds = time.perf_counter() - started
        shuffled = shuffled_accuracy(classifier, work / "heldout", held, args.seed)
        twin = heldout_accuracy(predictor, work / "reversed", reversed_set)  # labels are the twins
        default_top1 = heldout_accuracy(predictor, work / "default", default_set)
        times = predict_wall_time(args.model, work, args.runs)
    card = {
        "model": str(args.model),
        "classes": list(classifier.labels),
        "heldout": {"seed": args.seed, "videos": len(held), "max_seconds": args.max_seconds, "top1": round(top1, 4)},
        "heldout_synth_defaults": {
            "seed": args.seed + 2,
            "videos": len(default_set),
            "max_seconds": 8.0,
            "top1": round(default_top1, 4),
        },
        "shuffled_frames": {
            "videos": len(held),
            "top1": round(shuffled, 4),
            "chance": round(1 / len(classifier.labels), 4),
        },
        "time_reversal": {
            "seed": args.seed + 1,
            "videos": len(reversed_set),
            "twin_accuracy": round(twin, 4),
            "classes": twin_classes,
        },
        "predict_10s_480p": {
            "runs": [round(t, 3) for t in times],
            "median_seconds": round(statistics.median(times), 3),
            "views": classifier.protocol.num_views,
        },
        "training": training_summary(classifier, args.run),
        "eval_seconds_per_video": round(eval_seconds / len(held), 3),
        "generation_seconds": round(generated, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
    }
    text = json.dumps(card, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
