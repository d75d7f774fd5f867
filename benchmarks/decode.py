"""Decoding before and after a change, side by side: ViViT-B's views against ``ffmpeg -threads 1``.

For each clip (10 s, 30 fps, 480p and 1080p, from ``clips.py``), in interleaved rounds after a
warm-up: ViViT-B's 12 views (32 frames, stride 2, 4 clips x 3 crops, 256 short side, 224 crop;
``load_clip_frames`` then ``build_views``, as ``load_views`` runs them, on one torch thread as in
predict's workers; the views' part timed too) with each decoder, by the code of a git revision
(``--before``, default ``main``, checked out into a temporary worktree) and by this checkout,
``ffmpeg -threads 1 -i CLIP -f null -`` (decoding every frame to nothing), and, measured only,
this checkout's PyAV pass with FFmpeg's frame threads (2): vidclass decodes on one thread.
Each version runs in its own long-lived Python process, so both are timed warm and neither
pays an import.
Reports medians and the median of the per-round ratios to ffmpeg, with the load average at the
start and the end (the machine is shared). ``--write BENCHMARKS.md`` puts the table between
this script's markers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from clips import clip_folder
from common import load, publish

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- benchmarks/decode.py results: begin (generated, edits here are overwritten) -->"
END = "<!-- benchmarks/decode.py results: end -->"
DECODERS = ("decord", "pyav")
THREADED = "after pyav, 2 FRAME threads"  # measured only: vidclass decodes on one thread
SERVE = """
import json, os, sys, time
import torch
torch.set_num_threads(1)  # as in predict's decode workers
from vidclass.models import get_entry
import vidclass
from vidclass.video import build_views, load_clip_frames, pyav_decoder
entry = get_entry("vivit-b-16x2")
threads = [0]
enter = pyav_decoder._av_open.__enter__
def threaded_enter(self):  # PyAV's own frame threads, for the threaded row only
    container, stream = enter(self)
    if threads[0]:
        stream.thread_type = "FRAME"
        stream.codec_context.thread_count = threads[0]
    return container, stream
pyav_decoder._av_open.__enter__ = threaded_enter
for line in sys.stdin:
    job = json.loads(line)
    threads[0] = job.get("threads", 0)
    t0, c0 = time.perf_counter(), os.times()
    info, plan, frames = load_clip_frames(job["clip"], entry.preprocessing, entry.protocol, decoder=job["decoder"])
    t1 = time.perf_counter()
    views = build_views(frames, plan, entry.preprocessing)
    c1 = os.times()
    cpu = c1.user + c1.system - c0.user - c0.system
    print(json.dumps({"wall": time.perf_counter() - t0, "views": time.perf_counter() - t1, "cpu": cpu,
                      "frames": list(plan.frame_indices), "decoder": info.decoder, "code": vidclass.__file__}), flush=True)
"""


class Version:
    """A Python process running ``load_views`` from the vidclass checkout at ``tree``."""

    def __init__(self, tree: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=tree
        )  # cwd too: ``python -c`` puts the working directory before PYTHONPATH

    def load(self, clip: str, decoder: str, threads: int = 0) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"clip": clip, "decoder": decoder, "threads": threads}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def ffmpeg_run(ffmpeg: str, clip: str) -> dict[str, float]:
    before = os.times()
    t0 = time.perf_counter()
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1", "-i", clip]
    subprocess.run([*command, "-map", "0:v:0", "-f", "null", "-"], check=True)
    wall = time.perf_counter() - t0
    after = os.times()
    return {
        "wall": wall,
        "cpu": after.children_user + after.children_system - before.children_user - before.children_system,
    }


def bench(clips: dict[str, str], before: Path, rounds: int, warmup: int, ffmpeg: str) -> dict[str, Any]:
    versions = {"before": Version(before), "after": Version(ROOT)}
    try:
        rows = []
        for size, clip in clips.items():
            contenders = {
                f"{v} {d}": (lambda v=v, d=d, c=clip: versions[v].load(c, d)) for v in versions for d in DECODERS
            }
            contenders[THREADED] = lambda c=clip: versions["after"].load(c, "pyav", threads=2)
            contenders["ffmpeg"] = lambda c=clip: ffmpeg_run(ffmpeg, c)
            runs: dict[str, list[dict[str, Any]]] = {k: [] for k in contenders}
            for index in range(warmup + rounds):
                for key, run in contenders.items():
                    result = run()
                    if index >= warmup:
                        runs[key].append(result)
            for name, tree in (("before", before), ("after", ROOT)):  # each version ran its own code
                assert runs[f"{name} decord"][0]["code"].startswith(str(tree)), runs[f"{name} decord"][0]["code"]
            same = all(runs[f"before {d}"][0]["frames"] == runs[f"after {d}"][0]["frames"] for d in DECODERS)
            same = same and runs[THREADED][0]["frames"] == runs["after pyav"][0]["frames"]
            rows.append(
                {
                    "size": size,
                    "same_frames": same,
                    "wall": {k: statistics.median(r["wall"] for r in v) for k, v in runs.items()},
                    "cpu": {k: statistics.median(r["cpu"] for r in v) for k, v in runs.items()},
                    "views": {k: statistics.median(r["views"] for r in v) for k, v in runs.items() if k != "ffmpeg"},
                    "ratio": {
                        k: statistics.median(r["wall"] / f["wall"] for r, f in zip(v, runs["ffmpeg"], strict=True))
                        for k, v in runs.items()
                    },
                }
            )
        return {"rows": rows}
    finally:
        for version in versions.values():
            version.close()


def markdown(results: dict[str, Any]) -> str:
    sizes = [r["size"] for r in results["rows"]]
    lines = [
        "## Decoding before and after (`benchmarks/decode.py`)",
        "",
        f"Command: `{results['command']}` ({results['date']}). ViViT-B's 12 views (32 frames, stride 2, "
        f"4 clips x 3 crops) of one 10 s 30 fps clip per size: `load_clip_frames` (probe, decode) then "
        f"`build_views`, as `load_views` runs them, on 1 torch thread (as in predict's workers), by "
        f"`{results['before']}` (before) and by this checkout (after), against `{results['ffmpeg']}` "
        f"(`-threads 1 -f null`, every frame). Median of {results['rounds']} interleaved rounds after "
        f"{results['warmup']} warm-up; load average (1, 5, 15 min) {results['load_start']} at the start, "
        f"{results['load_end']} at the end, on {os.cpu_count()} logical CPUs.",
        "",
        f"`{THREADED}`: this checkout's PyAV pass with FFmpeg's frame threads (2), measured only.",
        "",
        "| wall s (CPU s) [of which the views]; x ffmpeg: the median of the per-round ratios | "
        + " | ".join(sizes)
        + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for key in results["rows"][0]["wall"]:
        cells = [
            f"{r['wall'][key]:.3f} ({r['cpu'][key]:.3f})"
            + (f" [{r['views'][key]:.3f}]" if key in r["views"] else "")
            + f"; {r['ratio'][key]:.2f}x"
            for r in results["rows"]
        ]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    same = all(r["same_frames"] for r in results["rows"])
    lines += [
        "",
        f"Frame indices the same before and after, both decoders, threaded too: {'yes' if same else 'NO'}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="the git revision to compare against (default main)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--sizes", default="480p,1080p")
    parser.add_argument("--build", default="build", help="where the clips are cached (build)")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--write", metavar="FILE", help="write the table into FILE, between this script's markers")
    args = parser.parse_args(argv)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        parser.error("ffmpeg is not on the PATH (apt-get install ffmpeg)")
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.split(" Copyright")[0]
    clips = {size: str(clip_folder(args.build, size, 10, 1)[0].resolve()) for size in args.sizes.split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.before], check=True)
        try:
            load_start = load()
            results = bench(clips, tree, args.rounds, args.warmup, ffmpeg)
            load_end = load()
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)
    command = "python benchmarks/decode.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results.update(
        command=command.strip(),
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        before=args.before,
        ffmpeg=version,
        rounds=args.rounds,
        warmup=args.warmup,
        load_start=load_start,
        load_end=load_end,
    )
    report = markdown(results)
    publish(results, report, args.json, args.write, BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
