"""Sections e-h of ``make bench``: the whole pipeline, from the command line to the result.

e. End-to-end against model-only: ``vidclass predict`` on a folder of clips, wall time of
   the whole command, against the model alone (``Predictor.logits``) on the same views,
   decoded beforehand; for the small default model, where the time goes.
f. Decode against the limit: decoding and preprocessing the views of one clip, against
   ``ffmpeg`` decoding every frame with one thread to null, and PyAV decoding every frame.
g. Scaling with video length: time and peak RSS of ``vidclass predict`` on one 10 s, 10 min
   and 60 min video (the long ones are the short one remuxed over and over).
h. Start-up: ``vidclass --help`` against bare Python and ``import torch``; the start-up share
   of a one-clip ``predict`` (from g's shortest video).

Every comparison runs its contenders interleaved, one after another in each round; figures
are medians over rounds and ratios medians of per-round ratios. Commands run as child
processes of this one; each one's peak RSS is its own ``ru_maxrss`` from ``os.wait4``.
Clips and model files are made once and cached under the build folder (``clips.py``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from clips import bitrate_mbps, clip_folder, long_video
from common import ratio_median

CLI = str(Path(sys.executable).with_name("vidclass"))
MEASURE = Path(__file__).resolve().with_name("measure.py")


@dataclass(frozen=True)
class Plan:
    """What sections e-h run: the full configuration or the ``--quick`` smoke one."""

    quick: bool
    clip_seconds: float  # length of the clips of e and f, and of g's shortest video
    e_sizes: tuple[str, ...]
    e_clips: int  # clips in each folder of e
    bound_model: str  # the model-bound case of e
    bound_views: tuple[int, int]  # its --clips, --crops
    cli_options: tuple[str, ...]  # added to e's folder runs (quick: no worker start-up)
    default_model: str  # the small default model's configuration
    e_bound_rounds: int
    e_default_rounds: int
    e_default_cli: bool  # time the default model's CLI too (quick: only its stages, in process)
    f_sizes: tuple[str, ...]
    f_rounds: int
    f_warmup: int
    g_size: str
    g_seconds: tuple[float, ...]
    g_rounds: int
    h_rounds: int
    h_warmup: int
    h_import_torch: bool  # time `python -c "import torch"` too


FULL = Plan(
    quick=False,
    clip_seconds=10,
    e_sizes=("480p", "1080p"),
    e_clips=2,
    bound_model="vivit-b-16x2",
    bound_views=(1, 3),
    cli_options=(),
    default_model="vivit-s64-tl8at1",
    e_bound_rounds=1,
    e_default_rounds=3,
    e_default_cli=True,
    f_sizes=("480p", "1080p"),
    f_rounds=3,
    f_warmup=1,
    g_size="720p",
    g_seconds=(10, 600, 3600),
    g_rounds=3,
    h_rounds=5,
    h_warmup=1,
    h_import_torch=True,
)
QUICK = Plan(
    quick=True,
    clip_seconds=2,
    e_sizes=("144p",),
    e_clips=2,
    bound_model="vivit-tiny",
    bound_views=(1, 3),
    cli_options=("--workers", "0"),
    default_model="vivit-s64-tl8at1",
    e_bound_rounds=1,
    e_default_rounds=1,
    e_default_cli=False,
    f_sizes=("144p",),
    f_rounds=1,
    f_warmup=0,
    g_size="180p",
    g_seconds=(2, 20),
    g_rounds=1,
    h_rounds=1,
    h_warmup=0,
    h_import_torch=False,
)


# --- helpers ----------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def rounds(contenders: dict[str, Callable[[], Any]], count: int, warmup: int = 0) -> dict[str, list[Any]]:
    """Each contender once per round, interleaved; what each returned, per round after warm-up."""
    out: dict[str, list[Any]] = {name: [] for name in contenders}
    for index in range(warmup + count):
        for name, fn in contenders.items():
            value = fn()
            if index >= warmup:
                out[name].append(value)
    return out


def cpu_seconds() -> float:
    """User + system CPU time of this process so far, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], Any]) -> Callable[[], dict[str, float]]:
    """``fn`` made to return its wall and CPU seconds."""

    def go() -> dict[str, float]:
        cpu, start = cpu_seconds(), time.perf_counter()
        fn()
        return {"wall": time.perf_counter() - start, "cpu": cpu_seconds() - cpu}

    return go


def run_command(command: list[str]) -> dict[str, Any]:
    """Run ``command`` through ``measure.py``: its wall and CPU time and its peak RSS."""
    with tempfile.TemporaryDirectory(prefix="vidclass-bench-") as tmp:
        result = Path(tmp) / "measure.json"
        wrapper = [sys.executable, "-I", str(MEASURE), str(result), "--"]
        proc = subprocess.run(
            [*wrapper, *command], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        measured = json.loads(result.read_text()) if result.is_file() else {"returncode": proc.returncode}
    if proc.returncode != 0 or measured["returncode"] != 0:
        stderr = proc.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(command)} exited with {measured['returncode']}: {stderr}")
    return {"wall": measured["wall"], "cpu": measured["cpu"], "maxrss_mib": measured["maxrss_kib"] / 1024}


def predict_cli(paths: list[str], model: Path, *options: str) -> dict[str, Any]:
    """``vidclass predict PATHS --model MODEL OPTIONS --format jsonl``: run_command's figures
    plus the result records (each with ``seconds``: the in-process time on that video)."""
    with tempfile.TemporaryDirectory(prefix="vidclass-bench-") as tmp:
        out = Path(tmp) / "results.jsonl"
        command = [CLI, "predict", *paths, "--model", str(model), *options, "--format", "jsonl", "-o", str(out), "-q"]
        result = run_command(command)
        records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    failed = [r for r in records if not r["ok"]]
    if failed or len(records) != sum(1 if not Path(p).is_dir() else len(list(Path(p).glob("*.mp4"))) for p in paths):
        raise RuntimeError(f"vidclass predict did not classify every video: {failed or records}")
    result["records"] = records
    return result


def model_file(build: Path, name: str, seed: int) -> Path:
    """A random-weight model file of registry configuration ``name``, made once and cached."""
    import hashlib

    import vidclass
    from vidclass.models import get_entry

    key = hashlib.sha256(repr(get_entry(name)).encode()).hexdigest()[:8]
    path = build / "bench-models" / f"{name}-seed{seed}-{key}.safetensors"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        vidclass.save_model(vidclass.create_model(name, seed=seed), path)
    return path


# --- e: end-to-end against model-only ---------------------------------------------------------


def bench_end_to_end(plan: Plan, build: Path, seed: int) -> dict[str, Any]:
    folders = {size: clip_folder(build, size, plan.clip_seconds, plan.e_clips, seed=seed) for size in plan.e_sizes}
    return {
        "clips": {
            size: {
                "count": len(paths),
                "seconds": plan.clip_seconds,
                "mbit_s": bitrate_mbps(paths[0], plan.clip_seconds),
            }
            for size, paths in folders.items()
        },
        "bound": _model_bound(plan, build, seed, folders),
        "default": _default_breakdown(plan, build, seed, folders),
    }


def _model_bound(plan: Plan, build: Path, seed: int, folders: dict[str, list[Path]]) -> dict[str, Any]:
    """The large model: CLI throughput on each folder against the model on the same views."""
    import vidclass
    from vidclass.inference import Predictor
    from vidclass.video import load_views

    path = model_file(build, plan.bound_model, seed)
    clips, crops = plan.bound_views
    predictor = Predictor(vidclass.load_model(path), clips=clips, crops=crops)  # device, precision: auto
    views = {
        size: torch.cat([load_views(p, predictor.preprocessing, predictor.protocol)[0] for p in paths])
        for size, paths in folders.items()
    }
    predictor.logits(next(iter(views.values()))[:1])  # warm-up: first-call allocations
    contenders: dict[str, Callable[[], Any]] = {}
    for size, paths in folders.items():
        folder = str(paths[0].parent)
        contenders[f"cli {size}"] = lambda f=folder: predict_cli(
            [f], path, "--clips", str(clips), "--crops", str(crops), *plan.cli_options
        )
        contenders[f"model {size}"] = timed(lambda v=views[size]: predictor.logits(v))
    results = rounds(contenders, plan.e_bound_rounds)
    rows = []
    for size, paths in folders.items():
        walls = [r["wall"] for r in results[f"cli {size}"]]
        inside = [sum(record["seconds"] for record in r["records"]) for r in results[f"cli {size}"]]
        model = [r["wall"] for r in results[f"model {size}"]]
        rows.append(
            {
                "size": size,
                "videos": len(paths),
                "views": int(views[size].shape[0]),
                "cli_seconds": median(walls),
                "model_seconds": median(model),
                "cli_videos_per_s": len(paths) / median(walls),
                "model_videos_per_s": len(paths) / median(model),
                "ratio": ratio_median(model, walls),  # e2e throughput / model-only throughput
                "records_seconds": median(inside),
                "ratio_records": ratio_median(model, inside),  # the same, start-up left out
                "all_cli_seconds": walls,
                "all_model_seconds": model,
            }
        )
    return {
        "model": plan.bound_model,
        "clips": clips,
        "crops": crops,
        "options": ["--clips", str(clips), "--crops", str(crops), *plan.cli_options],
        "precision": predictor.precision,
        "device": str(predictor.device),
        "batch_size": predictor.batch_size,
        "rounds": plan.e_bound_rounds,
        "rows": rows,
    }


def _default_breakdown(plan: Plan, build: Path, seed: int, folders: dict[str, list[Path]]) -> dict[str, Any]:
    """The small default model: CLI throughput, and each stage timed in this process."""
    import vidclass
    from vidclass.inference import Predictor
    from vidclass.video import build_views, plan_views, probe, read_frames

    path = model_file(build, plan.default_model, seed)
    predictor = Predictor(vidclass.load_model(path))
    prep, protocol = predictor.preprocessing, predictor.protocol

    def stages(paths: list[Path]) -> Callable[[], dict[str, float]]:
        def go() -> dict[str, float]:
            total = {"probe": 0.0, "decode": 0.0, "views": 0.0, "model": 0.0}
            for p in paths:
                t0 = time.perf_counter()
                info = probe(p)
                video_plan = plan_views(info, prep, protocol)
                t1 = time.perf_counter()
                frames = read_frames(info.path, video_plan.frame_indices, video_plan.resized_hw)
                t2 = time.perf_counter()
                views = build_views(frames, video_plan, prep)
                t3 = time.perf_counter()
                predictor.logits(views)
                t4 = time.perf_counter()
                for key, seconds in zip(total, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                    total[key] += seconds
            return total

        return go

    first = next(iter(folders.values()))
    stages(first[:1])()  # warm-up
    contenders: dict[str, Callable[[], Any]] = {}
    for size, paths in folders.items():
        folder = str(paths[0].parent)
        if plan.e_default_cli:
            contenders[f"cli {size}"] = lambda f=folder: predict_cli([f], path)
            contenders[f"cli0 {size}"] = lambda f=folder: predict_cli([f], path, "--workers", "0")
        contenders[f"stages {size}"] = stages(paths)
    results = rounds(contenders, plan.e_default_rounds)
    rows = []
    for size, paths in folders.items():
        walls = [r["wall"] for r in results.get(f"cli {size}", [])]
        walls0 = [r["wall"] for r in results.get(f"cli0 {size}", [])]
        # --workers 0 decodes in the CLI's own process: wall - sum of per-video times = start-up
        startup = [r["wall"] - sum(rec["seconds"] for rec in r["records"]) for r in results.get(f"cli0 {size}", [])]
        stage_rounds = results[f"stages {size}"]
        per_stage = {k: median([s[k] for s in stage_rounds]) for k in stage_rounds[0]}
        model = [s["model"] for s in stage_rounds]
        rows.append(
            {
                "size": size,
                "videos": len(paths),
                "cli_seconds": median(walls) if walls else None,
                "cli_workers0_seconds": median(walls0) if walls0 else None,
                "startup_seconds": median(startup) if startup else None,
                "stage_seconds": per_stage,  # summed over the folder's videos
                "model_seconds": median(model),
                "ratio": ratio_median(model, walls) if walls else None,
                "ratio_workers0": ratio_median(model, walls0) if walls0 else None,
            }
        )
    return {
        "model": plan.default_model,
        "views": protocol.num_views,
        "precision": predictor.precision,
        "rounds": plan.e_default_rounds,
        "rows": rows,
    }


# --- f: decode against the limit --------------------------------------------------------------


STAGES = ("probe", "decode", "views")


def staged_load(path: str, prep: Any, protocol: Any) -> dict[str, float]:
    """``load_views`` with decord, stage by stage: wall and CPU seconds to probe, decode and
    build the views (``probe`` ... ``views``, ``probe cpu`` ...), and in all (``wall``, ``cpu``)."""
    from vidclass.video import build_views, plan_views, probe, read_frames

    marks = [(time.perf_counter(), cpu_seconds())]
    info = probe(path)
    video_plan = plan_views(info, prep, protocol)
    marks.append((time.perf_counter(), cpu_seconds()))
    frames = read_frames(info.path, video_plan.frame_indices, video_plan.resized_hw)
    marks.append((time.perf_counter(), cpu_seconds()))
    build_views(frames, video_plan, prep)
    marks.append((time.perf_counter(), cpu_seconds()))
    out = {"wall": marks[-1][0] - marks[0][0], "cpu": marks[-1][1] - marks[0][1]}
    for stage, before, after in zip(STAGES, marks[:-1], marks[1:], strict=True):
        out[stage] = after[0] - before[0]
        out[f"{stage} cpu"] = after[1] - before[1]
    return out


def pyav_every_frame(path: str, wanted: set[int]) -> int:
    """Decode every frame with PyAV on one thread; the ``wanted`` ones to RGB at full size (what
    the Hugging Face pipeline's ``read_video_pyav`` does for the frames it keeps)."""
    import av

    kept = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                frame.to_ndarray(format="rgb24")
                kept += 1
    return kept


def ffmpeg_command(ffmpeg: str, path: str) -> list[str]:
    """Decode every frame of ``path``'s first video stream on one thread, to nothing."""
    inputs = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1", "-i", path]
    return [*inputs, "-map", "0:v:0", "-f", "null", "-"]


DECODE_CONTENDERS = {  # key -> label in the report
    "vidclass": "vidclass, the {views} views of ViViT-B (decord)",
    "vidclass pyav": 'the same with `decoder="pyav"` (the fallback)',
    "vidclass default": "vidclass, the {views} views of the default model ({default_model})",
    "pyav every frame": "PyAV, every frame decoded, 1 thread (the needed ones to RGB)",
    "ffmpeg": "`ffmpeg -threads 1 -i CLIP -f null -`",
}
DECODE_RATIOS = (  # (numerator, denominator)
    ("vidclass", "ffmpeg"),
    ("vidclass default", "ffmpeg"),
    ("vidclass pyav", "ffmpeg"),
    ("pyav every frame", "ffmpeg"),
    ("vidclass", "pyav every frame"),
    ("vidclass pyav", "pyav every frame"),
)


def bench_decode(plan: Plan, build: Path, seed: int) -> dict[str, Any]:
    from vidclass.models import get_entry
    from vidclass.video import load_views, plan_views, probe

    large = get_entry("vivit-b-16x2")
    small = get_entry(plan.default_model)
    ffmpeg = shutil.which("ffmpeg")
    version = None
    if ffmpeg:
        line = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.splitlines()
        version = line[0].split(" Copyright")[0] if line else "unknown"
    rows = []
    for size in plan.f_sizes:
        clip = str(clip_folder(build, size, plan.clip_seconds, 1, seed=seed)[0])
        info = probe(clip)
        wanted = set(plan_views(info, large.preprocessing, large.protocol).frame_indices)
        contenders: dict[str, Callable[[], Any]] = {
            "vidclass": lambda c=clip: staged_load(c, large.preprocessing, large.protocol),
            "vidclass pyav": timed(lambda c=clip: load_views(c, large.preprocessing, large.protocol, decoder="pyav")),
            "vidclass default": lambda c=clip: staged_load(c, small.preprocessing, small.protocol),
            "pyav every frame": timed(lambda c=clip, w=wanted: pyav_every_frame(c, w)),
        }
        if ffmpeg:
            contenders["ffmpeg"] = lambda c=clip: run_command(ffmpeg_command(ffmpeg, c))
        runs = rounds(contenders, plan.f_rounds, plan.f_warmup)
        ratios: dict[str, dict[str, float]] = {"wall": {}, "cpu": {}}
        for kind, table in ratios.items():
            for a, b in DECODE_RATIOS:
                if a in runs and b in runs:
                    table[f"{a} / {b}"] = ratio_median([r[kind] for r in runs[a]], [r[kind] for r in runs[b]])
        rows.append(
            {
                "size": size,
                "frames": info.num_frames,
                "wanted_frames": len(wanted),
                "mbit_s": bitrate_mbps(clip, info.duration),
                "wall": {k: median([r["wall"] for r in v]) for k, v in runs.items()},
                "cpu": {k: median([r["cpu"] for r in v]) for k, v in runs.items()},
                "stages": {
                    k: {s: median([r[s] for r in runs[k]]) for s in (*STAGES, *(f"{s} cpu" for s in STAGES))}
                    for k in ("vidclass", "vidclass default")
                },
                "ratios": ratios,
            }
        )
    return {
        "ffmpeg": version,
        "rounds": plan.f_rounds,
        "warmup": plan.f_warmup,
        "views": large.protocol.num_views,
        "default_model": plan.default_model,
        "rows": rows,
    }


# --- g: scaling with video length -------------------------------------------------------------


def bench_scaling(plan: Plan, build: Path, seed: int) -> dict[str, Any]:
    segment = clip_folder(build, plan.g_size, plan.g_seconds[0], 1, seed=seed)[0]
    videos = {
        seconds: segment if seconds == plan.g_seconds[0] else long_video(segment, seconds) for seconds in plan.g_seconds
    }
    model = model_file(build, plan.default_model, seed)
    contenders = {seconds: (lambda p=str(path): predict_cli([p], model)) for seconds, path in videos.items()}
    results = rounds(contenders, plan.g_rounds)
    shortest = plan.g_seconds[0]
    rows = []
    for seconds, path in videos.items():
        runs = results[seconds]
        walls = [r["wall"] for r in runs]
        inside = [r["records"][0]["seconds"] for r in runs]
        rows.append(
            {
                "seconds": seconds,
                "frames": runs[0]["records"][0]["frames"],
                "megabytes": os.path.getsize(path) / 1e6,
                "wall": median(walls),
                "cpu": median([r["cpu"] for r in runs]),
                "predict_seconds": median(inside),
                "maxrss_mib": max(r["maxrss_mib"] for r in runs),
                "wall_ratio": ratio_median(walls, [r["wall"] for r in results[shortest]]),
                "cpu_ratio": ratio_median([r["cpu"] for r in runs], [r["cpu"] for r in results[shortest]]),
                "predict_ratio": ratio_median(inside, [r["records"][0]["seconds"] for r in results[shortest]]),
                "startup_share": median([(w - i) / w for w, i in zip(walls, inside, strict=True)]),
            }
        )
    return {"size": plan.g_size, "model": plan.default_model, "rounds": plan.g_rounds, "rows": rows}


# --- h: start-up ------------------------------------------------------------------------------


def bench_startup(plan: Plan, scaling: dict[str, Any] | None) -> dict[str, Any]:
    contenders = {"vidclass --help": lambda: run_command([CLI, "--help"])}
    if plan.h_import_torch:
        contenders["python -c 'import torch'"] = lambda: run_command([sys.executable, "-c", "import torch"])
    contenders["python -c pass"] = lambda: run_command([sys.executable, "-c", "pass"])
    results = rounds(contenders, plan.h_rounds, plan.h_warmup)
    rows = [
        {
            "command": name,
            "seconds": median([r["wall"] for r in runs]),
            "cpu": median([r["cpu"] for r in runs]),
            "maxrss_mib": max(r["maxrss_mib"] for r in runs),
        }
        for name, runs in results.items()
    ]
    out: dict[str, Any] = {"rounds": plan.h_rounds, "warmup": plan.h_warmup, "rows": rows}
    if scaling is not None:
        first = scaling["rows"][0]
        out["one_clip"] = {
            "size": scaling["size"],
            "seconds": first["seconds"],
            "model": scaling["model"],
            "wall": first["wall"],
            "predict_seconds": first["predict_seconds"],
            "startup_share": first["startup_share"],
        }
    return out


# --- report -----------------------------------------------------------------------------------


def markdown(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "end_to_end" in results:
        lines += _markdown_e(results["end_to_end"])
    if "decode" in results:
        lines += _markdown_f(results["decode"])
    if "scaling" in results:
        lines += _markdown_g(results["scaling"])
    if "startup" in results:
        lines += _markdown_h(results["startup"])
    return lines


def _markdown_e(e: dict[str, Any]) -> list[str]:
    b, d = e["bound"], e["default"]
    clips = ", ".join(f"{c['count']} x {size} ({c['mbit_s']:.1f} Mbit/s)" for size, c in e["clips"].items())
    lines = [
        f"### e. End-to-end against model-only (folders of {clips}, {next(iter(e['clips'].values()))['seconds']:g} s each)",
        "",
        f"Model-bound: {b['model']} (random weights), `vidclass predict FOLDER {' '.join(b['options'])}`, "
        f"{b['precision']} on {b['device']}, batch {b['batch_size']}, {b['rounds']} round(s). "
        "CLI: the wall time of the whole command (start-up included). "
        "Model-only: `Predictor.logits` on the same views, decoded beforehand.",
        "",
        "| clips | views | CLI s | model-only s | CLI videos/s | model-only videos/s | CLI / model-only "
        "throughput | the same, per-video time of the records |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {r['videos']} x {r['size']} | {r['views']} | {r['cli_seconds']:.2f} | {r['model_seconds']:.2f} | "
            f"{r['cli_videos_per_s']:.3f} | {r['model_videos_per_s']:.3f} | {100 * r['ratio']:.0f} % | "
            f"{100 * r['ratio_records']:.0f} % ({r['records_seconds']:.2f} s) |"
            for r in b["rows"]
        ],
        "",
        "The last column leaves the start-up out: the time the result records report on the videos "
        "(each video's decode, in a worker, plus its share of the batches' model time), summed, "
        "against model-only; it counts the decoding even where a worker overlapped it with the model.",
        "",
        f"Small default model: {d['model']} (random weights), its {d['views']} views per video, "
        f"{d['precision']}, median of {d['rounds']} round(s). Model-only as above.",
        "",
        "| clips | CLI s | CLI videos/s | CLI / model-only | CLI `--workers 0` s | CLI `--workers 0` / model-only |",
        "|---|---|---|---|---|---|",
    ]
    for r in d["rows"]:
        lines.append(
            f"| {r['videos']} x {r['size']} | {_num(r['cli_seconds'], '.2f')} | "
            f"{_num(r['cli_seconds'] and r['videos'] / r['cli_seconds'], '.2f')} | "
            f"{_num(r['ratio'] and 100 * r['ratio'], '.0f', ' %')} | {_num(r['cli_workers0_seconds'], '.2f')} | "
            f"{_num(r['ratio_workers0'] and 100 * r['ratio_workers0'], '.0f', ' %')} |"
        )
    lines += [
        "",
        "Where the time of a `--workers 0` run goes: start-up is its wall time less the time its "
        "records report on the videos; the stages are timed in this process, summed over the folder "
        "(probe: open, frame times, first frame; decode: the needed frames, scaled while decoding; "
        "views: crops and normalisation; model: `Predictor.logits`). Shares of their sum.",
        "",
        "| clips | start-up | probe | decode | views | model |",
        "|---|---|---|---|---|---|",
    ]
    for r in d["rows"]:
        s = r["stage_seconds"]
        total = (r["startup_seconds"] or 0.0) + sum(s.values())
        share = lambda x, t=total: "-" if x is None else f"{x:.3f} s ({100 * x / t:.0f} %)"  # noqa: E731
        lines.append(
            f"| {r['videos']} x {r['size']} | {share(r['startup_seconds'])} | {share(s['probe'])} | "
            f"{share(s['decode'])} | {share(s['views'])} | {share(s['model'])} |"
        )
    return [*lines, ""]


def _num(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def _markdown_f(f: dict[str, Any]) -> list[str]:
    sizes = [r["size"] for r in f["rows"]]
    ffmpeg = f["ffmpeg"] or "not found, so the ffmpeg comparison was skipped (`apt-get install ffmpeg`)"
    head = " | ".join(sizes)
    rule = "|---|" + "---|" * len(sizes)
    lines = [
        f"### f. Decode and preprocess against the limit (one clip per size, median of {f['rounds']} "
        f"interleaved rounds after {f['warmup']} warm-up)",
        "",
        f"ffmpeg: {ffmpeg}. CPU: user + system seconds of the process (all its threads).",
        "",
        f"| per clip: wall s (CPU s) | {head} |",
        rule,
        "| frames (needed for the ViViT-B views), bit rate | "
        + " | ".join(f"{r['frames']} ({r['wanted_frames']}), {r['mbit_s']:.1f} Mbit/s" for r in f["rows"])
        + " |",
    ]
    for key, label in DECODE_CONTENDERS.items():
        if key not in f["rows"][0]["wall"]:
            continue
        cells = " | ".join(f"{r['wall'][key]:.3f} ({r['cpu'][key]:.3f})" for r in f["rows"])
        lines.append(f"| {label.format(**f)} | {cells} |")
        if key in f["rows"][0]["stages"]:
            cells = " | ".join(
                " / ".join(f"{r['stages'][key][s]:.3f} ({r['stages'][key][s + ' cpu']:.3f})" for s in STAGES)
                for r in f["rows"]
            )
            lines.append(f"| &nbsp; of which probe / decode / build the views | {cells} |")
    lines += ["", f"| ratio (median of per-round ratios): wall (CPU) | {head} |", rule]
    for key in f["rows"][0]["ratios"]["wall"]:
        cells = " | ".join(f"{r['ratios']['wall'][key]:.2f}x ({r['ratios']['cpu'][key]:.2f}x)" for r in f["rows"])
        lines.append(f"| {key} | {cells} |")
    return [*lines, ""]


def _markdown_g(g: dict[str, Any]) -> list[str]:
    first = _length(g["rows"][0]["seconds"])
    return [
        f"### g. Scaling with video length ({g['size']}, {g['model']}, its default views; one file per "
        f"`vidclass predict`, so decoded in the CLI's own process; median of {g['rounds']} interleaved rounds)",
        "",
        "Predict: the time the result record reports on the video (probe, decode, views, model). CLI: the "
        "whole command, wall and CPU (user + system). Peak RSS: the command's own `ru_maxrss`, the "
        "largest over the rounds.",
        "",
        f"| length | frames | file MB | predict s | x {first} | CLI s | x {first} | CLI CPU s | x {first} "
        "| peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {_length(r['seconds'])} | {r['frames']} | {r['megabytes']:.0f} | {r['predict_seconds']:.3f} | "
            f"{r['predict_ratio']:.2f} | {r['wall']:.2f} | {r['wall_ratio']:.2f} | {r['cpu']:.2f} | "
            f"{r['cpu_ratio']:.2f} | {r['maxrss_mib']:.0f} |"
            for r in g["rows"]
        ],
        "",
    ]


def _markdown_h(h: dict[str, Any]) -> list[str]:
    lines = [
        f"### h. Start-up (median of {h['rounds']} interleaved rounds after {h['warmup']} warm-up)",
        "",
        "| command | wall s | CPU s | peak RSS MiB |",
        "|---|---|---|---|",
        *[f"| `{r['command']}` | {r['seconds']:.3f} | {r['cpu']:.3f} | {r['maxrss_mib']:.0f} |" for r in h["rows"]],
    ]
    if "one_clip" in h:
        o = h["one_clip"]
        lines += [
            "",
            f"One-clip `vidclass predict` ({_length(o['seconds'])} {o['size']}, {o['model']}, from g): "
            f"{o['wall']:.2f} s, of which {o['predict_seconds']:.3f} s on the video (its record's `seconds`): "
            f"start-up and exit take {100 * o['startup_share']:.0f} %.",
        ]
    return [*lines, ""]


def _length(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


__all__ = ["FULL", "QUICK", "bench_decode", "bench_end_to_end", "bench_scaling", "bench_startup", "markdown"]
