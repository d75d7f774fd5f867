"""Wall time of ``vidclass predict`` on one short clip, for source trees side by side.

    python benchmarks/single_clip.py --tree before=/path/to/old --tree "after=. --workers 1" [--runs 7]

Each ``--tree NAME=PATH [ARGS]`` runs ``python -m vidclass predict CLIP --device cpu -f jsonl
ARGS`` with PATH first on ``PYTHONPATH`` (the bundled model); a tree may be named twice with
different ARGS.
The runs are interleaved (tree after tree, round after round) after one warm-up round, so that
a busy machine slows each tree alike; the median of each tree's wall times is printed, with
the spread. The clip is 2 s of 320x180 H.264, written once into a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_clip(path: Path) -> Path:
    import av
    import numpy as np

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(50):
            image = rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def run_once(tree: str, clip: Path, extra: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "vidclass", "predict", str(clip), "--device", "cpu", "-f", "jsonl", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=clip.parent, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{tree}: exit {done.returncode}: {done.stderr.strip()}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=PATH [ARGS]")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    trees = {name: shlex.split(spec) for name, spec in (tree.split("=", 1) for tree in args.tree)}
    times: dict[str, list[float]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as folder:
        clip = write_clip(Path(folder) / "clip.mp4")
        for tree, *extra in trees.values():  # warm-up: the page cache, .pyc files
            run_once(tree, clip, extra)
        for _ in range(args.runs):
            for name, (tree, *extra) in trees.items():
                times[name].append(run_once(tree, clip, extra))
    print(f"vidclass predict, one 2 s clip, median of {args.runs} interleaved runs (min-max):")
    for name, values in times.items():
        print(f"  {name:12s} {statistics.median(values):6.2f} s  ({min(values):.2f}-{max(values):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
