"""Soak test: a long `vidclass predict` batch of good and bad files, memory sampled throughout.

    python benchmarks/soak.py --files 2000

Builds a corpus (small `vidclass synth` videos plus empty, random-byte, text, truncated and
missing files), feeds it N times over through stdin to one `vidclass predict` process with
decode workers, samples the resident memory of the whole process tree from /proc, and checks
that every input got exactly one result line. Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import vidclass
from vidclass.synth import generate


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def corpus(root: Path) -> list[str]:
    good = generate(root / "good", per_class=2, seed=5, workers=2, min_size=96, max_size=128, max_seconds=3)
    paths = [str(root / "good" / r["path"]) for r in good]
    (root / "empty.mp4").write_bytes(b"")
    (root / "random.mp4").write_bytes(os.urandom(50_000))
    (root / "notes.txt").write_text("not a video\n" * 100)
    data = Path(paths[0]).read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
    bad = [str(root / n) for n in ("empty.mp4", "random.mp4", "notes.txt", "truncated.mp4", "missing.mp4")]
    assert len(bad) == BAD
    return paths + bad


BAD = 5  # the corpus's bad files, last in its list


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="inputs in the batch")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--short-protocol", action="store_true", help="1 clip x 1 crop per video instead of the model's"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        from vidclass.checkpoints.sources import default_model

        model = default_model() or vidclass.save_model(
            vidclass.create_model("vivit-micro", labels=["a", "b", "c"], seed=0), root / "micro.safetensors"
        )
        files = corpus(root)
        bad_files = set(files[-BAD:])
        batch = [files[i % len(files)] for i in range(args.files)]
        out = root / "results.jsonl"
        command = [
            str(Path(sys.executable).with_name("vidclass")),
            "predict",
            "-",
            "--model",
            str(model),
            *(("--clips", "1", "--crops", "1") if args.short_protocol else ()),
            "--workers",
            str(args.workers),
            "--format",
            "jsonl",
            "-o",
            str(out),
            "-q",
        ]
        samples: list[tuple[float, int, int]] = []
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def sample() -> None:
            while proc.poll() is None:
                lines = sum(1 for _ in open(out)) if out.exists() else 0
                samples.append((time.perf_counter() - started, lines, tree_rss(proc.pid)))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, stderr = proc.communicate("\n".join(batch) + "\n")
        sampler.join()
        elapsed = time.perf_counter() - started
        records = [json.loads(line) for line in out.read_text().splitlines()]
    done = [s for s in samples if s[1] > 0]
    kinds = Counter(r["error"].split(":")[0] for r in records if not r["ok"])
    wrong = [r["path"] for r in records if r["ok"] == (r["path"] in bad_files)]

    def rss_at(fraction: float) -> float:
        target = fraction * args.files
        return round(min(done, key=lambda s: abs(s[1] - target))[2] / 2**20, 1)

    print(
        json.dumps(
            {
                "inputs": args.files,
                "records": len(records),
                "ok": sum(r["ok"] for r in records),
                "failed": sum(not r["ok"] for r in records),
                "stderr_lines": len(stderr.strip().splitlines()),
                "exit_code": proc.returncode,
                "seconds": round(elapsed, 1),
                "files_per_second": round(args.files / elapsed, 1),
                "errors_by_kind": dict(sorted(kinds.items())),
                "unexpected": len(wrong),  # good files that failed or bad files that passed
                "model": Path(model).name,
                "tree_rss_mib": {
                    "at_video_100": rss_at(100 / args.files),
                    "at_video_1900": rss_at(0.95),  # near the end, before the workers exit
                    "growth_100_to_1900": round(rss_at(0.95) - rss_at(100 / args.files), 1),
                    "at_10%": rss_at(0.1),
                    "at_50%": rss_at(0.5),
                    "at_90%": rss_at(0.9),
                    "max": round(max(s[2] for s in done) / 2**20, 1),
                    "median": round(statistics.median(s[2] for s in done) / 2**20, 1),
                },
                "workers": args.workers,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
