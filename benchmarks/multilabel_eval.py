"""Multi-label evaluation cost (issue 17): eval and report with every class's score recorded.

A multi-label run's records hold every class's score (Charades: 157), so that ``vidclass
report`` can compute mAP again. This measures what that costs, side by side in one process:

1. ``vidclass.evaluate`` on the same N small ``vidclass synth --multi-label`` videos (default
   24), with a random-init 157-class ``vivit-s64``: the multi-label model on a Charades-format
   copy of the set (``id,...,actions,length`` CSV, actions ``c000``-``c156`` drawn at random,
   1-4 a video with start and end, videos named ``<id>.mp4``, ``Charades_v1_classes.txt``),
   against the same network as a single-label model on a ``path,label`` copy (each video's
   first action as its label), without and with ``save_scores``. Same options for all three
   (``--workers``, the model's 4x3 views unless ``--clips``/``--crops``, fp32, CPU). Videos/s
   over each call's wall time (reports written included), ratios to the single-label run, and
   predictions.jsonl bytes per record.
2. ``vidclass.evaluation.report`` on generated predictions files of ``--records`` (default
   10,000) records in the eval format: multi-label with 157 scores each, against single-label
   without scores. The header and the record fields are copied from step 1's own files, and the
   generated lines go through ``read_predictions``'s checks. Times: the read
   (``read_predictions``), ``report()`` without and with its report files written, and the
   file sizes.

Rounds are interleaved (every contender once a round, after a warm-up round on 2 videos) and
figures are medians; a ratio is the median of the per-round ratios. Everything but the
timings is deterministic (``--seed``). Where ``vidclass.data`` lacks the Charades layout, the
multi-label run reads the same label sets from a ``path,labels`` CSV instead, and the results
say which (``multi_label_layout``).

``--json FILE`` writes the results; ``--write FILE`` puts the Markdown section into FILE
between this script's markers (inserted before ``## Not measured`` when they are absent).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import load, machine, publish, timed

import vidclass
from vidclass.defaults import LAYOUTS
from vidclass.evaluation import PREDICTIONS, evaluate, report
from vidclass.evaluation.records import json_line, read_predictions
from vidclass.synth import generate_multi_label

CLASSES = 157  # Charades
LABELS = [f"c{i:03d}" for i in range(CLASSES)]
CHARADES_HEADER = [
    "id",
    "subject",
    "scene",
    "quality",
    "relevance",
    "verified",
    "script",
    "objects",
    "descriptions",
    "actions",
    "length",
]
BEGIN = "<!-- benchmarks/multilabel_eval.py results: begin (generated, edits here are overwritten) -->"
END = "<!-- benchmarks/multilabel_eval.py results: end -->"
INSERT_BEFORE = "## Not measured"
ML, SL, SL_SCORES = "multi-label", "single-label", "single-label + save_scores"


# --- data -------------------------------------------------------------------------------------


def write_datasets(root: Path, videos: int, seed: int, max_seconds: float) -> dict[str, Any]:
    """The synth videos and the three dataset copies under ``root``: Charades CSV + class file,
    a ``path,labels`` CSV of the same sets, and the single-label ``path,label`` CSV."""
    synth = root / "synth"
    made = generate_multi_label(synth, videos, seed=seed, max_seconds=max_seconds)
    data = root / "charades"
    (data / "videos").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    rows, sets, firsts = [], [], []
    for i, video in enumerate(made):
        vid = f"SYN{i:02d}" if videos <= 100 else f"SYN{i:05d}"
        shutil.copyfile(synth / video["path"], data / "videos" / f"{vid}.mp4")
        length = float(video["duration"])
        classes = rng.choice(CLASSES, size=int(rng.integers(1, 5)), replace=False)
        actions = []
        for c in classes:
            start = float(rng.uniform(0.0, 0.8 * length))
            end = float(rng.uniform(start, length))
            actions.append(f"c{c:03d} {start:.2f} {end:.2f}")
        rows.append(
            [
                vid,
                f"S{i % 7}",
                "Kitchen",
                "6",
                "7",
                "Yes",
                "A person does things.",
                "",
                "",
                ";".join(actions),
                f"{length:.2f}",
            ]
        )
        sets.append([f"c{c:03d}" for c in classes])
        firsts.append(f"c{classes[0]:03d}")
    with open(data / "Charades_v1_test.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CHARADES_HEADER)
        writer.writerows(rows)
    (data / "Charades_v1_classes.txt").write_text("".join(f"{label} Synthetic action {label}\n" for label in LABELS))
    with open(data / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "labels"])
        writer.writerows([f"videos/{row[0]}.mp4", ";".join(s)] for row, s in zip(rows, sets, strict=True))
    with open(data / "single.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows([f"videos/{row[0]}.mp4", first] for row, first in zip(rows, firsts, strict=True))
    charades = "charades" in LAYOUTS
    return {
        "multi": data / ("Charades_v1_test.csv" if charades else "labels.csv"),
        "multi_label_layout": "charades" if charades else "csv (path,labels; no charades layout here)",
        "single": data / "single.csv",
        "actions_per_video": statistics.mean(len(s) for s in sets),
    }


def ml_record(template: dict[str, Any], i: int, rng: np.random.Generator, threshold: float) -> dict[str, Any]:
    """A multi-label record like eval's: 1-4 true classes, scores as a trained model's might
    look (true classes Beta(2, 2), the others Beta(0.5, 8)), float32 like the model's."""
    true = np.sort(rng.choice(CLASSES, size=int(rng.integers(1, 5)), replace=False))
    raw = rng.beta(0.5, 8.0, CLASSES)
    raw[true] = rng.beta(2.0, 2.0, len(true))
    scores = [float(np.float32(s)) for s in raw]
    order = sorted(range(CLASSES), key=lambda k: (-scores[k], k))
    record = copy.deepcopy(template)
    record.update(
        id=f"SYN{i:05d}",
        path=f"videos/SYN{i:05d}.mp4",
        true_labels=[LABELS[k] for k in true],
        dataset_labels=[LABELS[k] for k in true],
        labels=[{"label": LABELS[k], "score": scores[k]} for k in order[:5]],
        positives=[{"label": LABELS[k], "score": scores[k]} for k in order if scores[k] >= threshold],
        scores=dict(zip(LABELS, scores, strict=True)),
    )
    return record


def sl_record(template: dict[str, Any], i: int, rng: np.random.Generator) -> dict[str, Any]:
    """A single-label record like eval's without scores: its top 5 of a random softmax."""
    true = LABELS[int(rng.integers(CLASSES))]
    probs = rng.dirichlet(np.full(CLASSES, 0.3)).astype(np.float32)
    order = sorted(range(CLASSES), key=lambda k: (-float(probs[k]), k))
    record = copy.deepcopy(template)
    record.update(
        id=f"SYN{i:05d}",
        path=f"videos/SYN{i:05d}.mp4",
        true_label=true,
        dataset_label=true,
        correct=LABELS[order[0]] == true,
        labels=[{"label": LABELS[k], "score": float(probs[k])} for k in order[:5]],
    )
    return record


def write_records(source: Path, target: Path, records: int, seed: int, multi: bool) -> None:
    """``records`` generated records after ``source``'s header, made from its first record."""
    pf = read_predictions(source)
    assert pf.header is not None and pf.records, source
    header = copy.deepcopy(pf.header)
    header["dataset"].update(listed=records, evaluated=records, classes=CLASSES)
    threshold = float(header.get("threshold") or 0.5)
    rng = np.random.default_rng(seed)
    with open(target, "wb") as handle:
        handle.write(json_line(header))
        for i in range(records):
            record = ml_record(pf.records[0], i, rng, threshold) if multi else sl_record(pf.records[0], i, rng)
            handle.write(json_line(record))


# --- measuring --------------------------------------------------------------------------------


def cpu_seconds() -> float:
    """User + system CPU of this process and all its descendants, the ones that ended included:
    eval's decode workers are forked by multiprocessing's forkserver, a child of this process
    that reaps them, so their time is in its children's time (Linux: /proc; elsewhere, this
    process and its own reaped children only)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry)], stats[int(entry)] = int(fields[1]), fields
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    family, frontier = set(), [os.getpid()]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in family:
                family.add(pid)
                frontier.append(pid)
    for pid in family:  # fields after the name: utime, stime, cutime, cstime are the 12th-15th
        total += sum(int(stats[pid][k]) for k in (11, 12, 13, 14)) / tick
    return total


def ratios(rounds: list[dict[str, float]], pairs: dict[str, tuple[str, str]]) -> dict[str, dict[str, float]]:
    """Per pair, the median of the per-round ratios and their smallest and largest (the noise)."""
    result = {}
    for name, (a, b) in pairs.items():
        each = [r[a] / r[b] for r in rounds]
        result[name] = {"median": statistics.median(each), "min": min(each), "max": max(each)}
    return result


def bench_eval(root: Path, data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    multi = vidclass.create_model("vivit-s64", labels=LABELS, seed=0, multi_label=True)
    single = vidclass.create_model("vivit-s64", labels=LABELS, seed=0)
    options = {"workers": args.workers, "device": "cpu", "precision": "fp32", "clips": args.clips, "crops": args.crops}
    contenders = {
        ML: (data["multi"], multi, False),
        SL: (data["single"], single, False),
        SL_SCORES: (data["single"], single, True),
    }

    def run(name: str, limit: int | None = None) -> dict[str, float]:
        """Wall videos/s, CPU seconds a video (with the decode worker's) and the records' own
        seconds a video (decode and model, as the throughput reports them)."""
        dataset, model, save_scores = contenders[name]
        out = root / "runs" / name.replace(" ", "")
        cpu = cpu_seconds()
        seconds, doc = timed(
            lambda: evaluate(
                dataset, model, output=out, overwrite=True, save_scores=save_scores, limit=limit, **options
            )
        )
        cpu = cpu_seconds() - cpu
        want = limit or args.videos
        if doc["counts"]["scored"] != want or bool(doc.get("multi_label")) != (name == ML):
            raise SystemExit(
                f"{name}: unexpected run: {json.dumps(doc['counts'])}, multi_label {doc.get('multi_label')}"
            )
        return {
            f"videos/s {name}": want / seconds,
            f"cpu {name}": cpu / want,
            f"record {name}": float(doc["throughput"]["seconds_per_video"]),
        }

    for name in contenders:  # warm-up
        run(name, limit=2)
    rounds = []
    for _ in range(args.repeats):
        measured: dict[str, float] = {}
        for name in contenders:
            measured.update(run(name))
        rounds.append(measured)
    rows = []
    for name in contenders:
        path = root / "runs" / name.replace(" ", "") / PREDICTIONS
        lines = path.read_bytes().splitlines(keepends=True)
        rows.append(
            {
                "contender": name,
                "save_scores": contenders[name][2],
                "videos_per_second": statistics.median(r[f"videos/s {name}"] for r in rounds),
                "cpu_seconds_per_video": statistics.median(r[f"cpu {name}"] for r in rounds),
                "record_seconds_per_video": statistics.median(r[f"record {name}"] for r in rounds),
                "predictions_bytes": path.stat().st_size,
                "header_bytes": len(lines[0]),
                "bytes_per_record": statistics.mean(len(line) for line in lines[1:]),
            }
        )
    sizes = {r["contender"]: r["bytes_per_record"] for r in rows}
    protocol = (read_predictions(root / "runs" / ML.replace(" ", "") / PREDICTIONS).header or {})["protocol"]
    pairs = {f"{ML} / {SL}": (ML, SL), f"{SL_SCORES} / {SL}": (SL_SCORES, SL)}
    return {
        "videos": args.videos,
        "repeats": args.repeats,
        "options": dict(options),
        "views": f"{protocol['clips']}x{protocol['crops']}",
        "rows": rows,
        **{
            f"ratios_{key}": ratios(rounds, {k: (f"{prefix} {a}", f"{prefix} {b}") for k, (a, b) in pairs.items()})
            for key, prefix in (
                ("videos_per_second", "videos/s"),
                ("cpu_seconds_per_video", "cpu"),
                ("record_seconds_per_video", "record"),
            )
        },
        "ratios_bytes_per_record": {name: sizes[a] / sizes[b] for name, (a, b) in pairs.items()},
        "all_rounds": rounds,
    }


def bench_report(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    files = {ML: root / "report-ml.jsonl", SL: root / "report-sl.jsonl"}
    write_records(root / "runs" / ML.replace(" ", "") / PREDICTIONS, files[ML], args.records, args.seed, multi=True)
    write_records(root / "runs" / SL.replace(" ", "") / PREDICTIONS, files[SL], args.records, args.seed, multi=False)
    checks: dict[str, Any] = {}
    steps = ("read", "report", "report+write")

    def one_round() -> dict[str, float]:
        times: dict[str, float] = {}
        for name, path in files.items():
            times[f"read {name}"], pf = timed(lambda path=path: read_predictions(path))
            if len(pf.records) != args.records:
                raise SystemExit(f"{path}: read {len(pf.records)} records")
        for name, path in files.items():
            times[f"report {name}"], doc = timed(lambda path=path: report([path]))
            checks[name] = {"mAP": doc.get("mAP"), "top1": doc.get("top1"), "scored": doc["counts"]["scored"]}
        for name, path in files.items():
            out = root / "report-out" / name.replace(" ", "")
            times[f"report+write {name}"], _ = timed(lambda path=path, out=out: report([path], output=out))
        return times

    one_round()  # warm-up
    rounds = [one_round() for _ in range(args.repeats)]
    rows = []
    for name, path in files.items():
        size = path.stat().st_size
        rows.append(
            {
                "file": name,
                "records": args.records,
                "file_bytes": size,
                "bytes_per_record": size / args.records,
                **{f"{step}_seconds": statistics.median(r[f"{step} {name}"] for r in rounds) for step in steps},
                "check": checks[name],
            }
        )
    return {
        "records": args.records,
        "classes": CLASSES,
        "repeats": args.repeats,
        "rows": rows,
        "ratios_seconds": ratios(rounds, {step: (f"{step} {ML}", f"{step} {SL}") for step in steps}),
        "ratio_file_bytes": rows[0]["file_bytes"] / rows[1]["file_bytes"],
        "all_seconds": rounds,
    }


# --- report -----------------------------------------------------------------------------------


def spread(ratio: dict[str, float], digits: int = 2) -> str:
    return f"{ratio['median']:.{digits}f}x ({ratio['min']:.{digits}f}-{ratio['max']:.{digits}f})"


def reading(ratio: dict[str, float], what: str) -> str:
    """One ratio in words: within the noise when its per-round range holds 1.0."""
    if ratio["min"] <= 1.0 <= ratio["max"]:
        return f"{what} within the noise (per-round range {ratio['min']:.2f}-{ratio['max']:.2f}x holds 1.0)"
    return f"{what} {ratio['median']:.2f}x, every round in {ratio['min']:.2f}-{ratio['max']:.2f}x"


def markdown(results: dict[str, Any], command: str) -> str:
    m, e, r = results["machine"], results["eval"], results["report"]
    opts = e["options"]
    lines = [
        "## Multi-label evaluation (issue 17): `make multilabel-bench` (benchmarks/multilabel_eval.py)",
        "",
        "A multi-label run writes every class's score into each record of `predictions.jsonl`, so that",
        "`vidclass report` can compute mAP again. What that costs, side by side in one process:",
        f"`vidclass.evaluate` on {e['videos']} `vidclass synth --multi-label` videos (3 s at most) with a",
        f"random-init {results['classes']}-class `vivit-s64`: multi-label on a Charades-format copy of the set",
        f"(layout read: {results['multi_label_layout']}; {results['actions_per_video']:.1f} random actions a",
        "video on average), against the same network as a single-label model on a `path,label` copy (each",
        f"video's first action), without and with `save_scores`; all three with workers={opts['workers']},",
        f"{e['views']} views, {opts['precision']}, {opts['device']}. Then `report()` on generated files of",
        f"{r['records']:,} records in the eval format (header and fields copied from those runs),",
        "multi-label with every score against single-label without.",
        "",
        f"Command: `{command}` ({results['total_seconds']:.0f} s in all, {results['date']}).",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, torch {m['torch']} on {m['torch_threads']} threads,",
        f"Python {m['python']}. Load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in results['load_before'])} before,",
        f"{', '.join(f'{x:.2f}' for x in results['load_after'])} after. Wall times are noisy when another job shares",
        "the cores: each ratio is the median of the per-round ratios (contenders interleaved), with the",
        "smallest and largest in brackets; CPU time is given beside the wall time.",
        "",
        f"### Eval ({e['videos']} videos, median of {e['repeats']} interleaved rounds after a warm-up)",
        "",
        "Videos/s: over the wall time of each `evaluate` call (model set-up, decode worker start and",
        "report files included). CPU: user + system of the process and its decode worker, per video.",
        "Record: the records' own seconds per video (decode and model). Bytes: `predictions.jsonl` per",
        "record. A random-init model's sigmoids sit near 0.5, so about half of the 157 classes are in each",
        "multi-label record's `positives` too: a trained model's records would be smaller, near the",
        "`save_scores` size.",
        "",
        "| run | videos/s | CPU s / video | record s / video | bytes / record | header bytes |",
        "|---|---|---|---|---|---|",
        *[
            f"| {row['contender']} | {row['videos_per_second']:.2f} | {row['cpu_seconds_per_video']:.3f} | "
            f"{row['record_seconds_per_video']:.3f} | {row['bytes_per_record']:,.0f} | {row['header_bytes']:,} |"
            for row in e["rows"]
        ],
        "",
        "| ratio | videos/s | CPU s / video | record s / video | bytes / record |",
        "|---|---|---|---|---|",
        *[
            f"| {name} | {spread(value)} | {spread(e['ratios_cpu_seconds_per_video'][name])} | "
            f"{spread(e['ratios_record_seconds_per_video'][name])} | {e['ratios_bytes_per_record'][name]:.1f}x |"
            for name, value in e["ratios_videos_per_second"].items()
        ],
        "",
        *[
            f"- {name}: {reading(e['ratios_cpu_seconds_per_video'][name], 'CPU per video')}; "
            f"{reading(value, 'videos/s')}."
            for name, value in e["ratios_videos_per_second"].items()
        ],
        "",
        f"### Report ({r['records']:,} records, {r['classes']} classes, median of {r['repeats']} interleaved rounds "
        "after a warm-up)",
        "",
        "The multi-label file's scores are drawn as a trained model's might look (its true classes",
        "Beta(2, 2), the others Beta(0.5, 8), as float32), so few classes are in `positives`; the",
        "single-label file holds each video's top 5 of a random softmax. Report files: metrics.json,",
        "per_class.csv and ap.png (multi-label) or confusion.csv and confusion.png (single-label).",
        "",
        "| file | MB | bytes / record | `read_predictions` s | `report()` s | `report()` + report files s |",
        "|---|---|---|---|---|---|",
        *[
            f"| {row['file']} | {row['file_bytes'] / 1e6:.1f} | {row['bytes_per_record']:,.0f} | "
            f"{row['read_seconds']:.2f} | {row['report_seconds']:.2f} | {row['report+write_seconds']:.2f} |"
            for row in r["rows"]
        ],
        "",
        f"Multi-label / single-label: file {r['ratio_file_bytes']:.1f}x; read {spread(r['ratios_seconds']['read'], 1)},",
        f"`report()` {spread(r['ratios_seconds']['report'], 1)}, with its report files "
        f"{spread(r['ratios_seconds']['report+write'], 1)}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24, help="synth videos to evaluate (default 24)")
    parser.add_argument("--records", type=int, default=10_000, help="records in the report files (default 10000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=3.0, help="longest synth video (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="eval's workers, the same for every run (default 1)")
    parser.add_argument("--clips", type=int, help="temporal clips a video (default: the model's, 4)")
    parser.add_argument("--crops", type=int, help="spatial crops a clip (default: the model's, 3)")
    parser.add_argument("--work", metavar="DIR", help="where the videos and runs go (default: a temporary folder)")
    parser.add_argument("--json", metavar="FILE", help="write the raw results as JSON")
    parser.add_argument("--write", metavar="FILE", help="write the Markdown section into FILE, between its markers")
    args = parser.parse_args(argv)
    if args.videos < 2 or args.records < 1 or args.repeats < 1:
        parser.error("--videos must be at least 2, --records and --repeats at least 1")
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "load_before": load(),
        "classes": CLASSES,
    }
    with contextlib.ExitStack() as stack:
        if args.work:
            root = Path(args.work)
            if root.exists():
                shutil.rmtree(root)
            root.mkdir(parents=True)
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="multilabel-bench-")))
        data = write_datasets(root, args.videos, args.seed, args.max_seconds)
        results["multi_label_layout"] = data["multi_label_layout"]
        results["actions_per_video"] = data["actions_per_video"]
        results["eval"] = bench_eval(root, data, args)
        print("eval:", json.dumps({k: v for k, v in results["eval"].items() if not k.startswith("all_")}), flush=True)
        results["report"] = bench_report(root, args)
        print(
            "report:", json.dumps({k: v for k, v in results["report"].items() if not k.startswith("all_")}), flush=True
        )
    results["load_after"] = load()
    results["total_seconds"] = time.perf_counter() - started
    command = "python benchmarks/multilabel_eval.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = markdown(results, command.strip())
    publish(results, section, args.json, args.write, BEGIN, END, INSERT_BEFORE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
