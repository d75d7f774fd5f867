"""The synthetic temporal benchmark: sampling, rendering and writing videos.

``generate`` is what ``vidclass synth`` runs. It writes ``OUT_DIR/<class>/<class>_<index>.mp4``
(H.264, through PyAV) and ``OUT_DIR/synth.json`` (the settings and every video's parameters).

Determinism. Video ``index`` of class ``label`` is drawn from its own
``numpy.random.Generator``, seeded by ``(seed, crc32(label), index)``: the same seed and
options give the same videos whatever other classes or how many videos are generated with
them, and in whatever order or number of worker processes. Rendering is numpy on fixed
parameters; RGB -> YUV is our own integer arithmetic; the encoder settings are pinned
(``ENCODER``: libx264, one thread, fixed CRF/preset/GOP, no macroblock-tree) and every byte
of every input frame is set. So files are byte-identical from run to run with the same
PyAV/FFmpeg build; a different x264 build may encode differently, which is why each record
also has ``frames_sha256``, the hash of the rendered RGB frames, independent of the encoder.

``render_video`` returns one video's frames as a numpy array without writing anything;
``reverse=True`` plays it backwards, which makes it a video of ``TWINS[label]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vidclass import defaults
from vidclass.synth.classes import (
    CLASSES,
    RADIUS_RANGE,
    SCALE_RATIO,
    TWINS,
    motion_class,
    sample_target,
    target_states,
)
from vidclass.synth.render import (
    Sprite,
    draw_sprite,
    render_background,
    sample_background,
    sample_look,
    sample_palette,
    shifted_crop,
)

FORMAT_VERSION = 1
MANIFEST = "synth.json"
MIN_FRAMES = 2
NOISE_BANK = 4  # noise frames drawn per video; each frame adds one at a random offset and sign
NOISE_PAD = 16
# Pinned encoder settings: changing any of them changes every file's bytes.
# mbtree=0: with macroblock-tree rate control, this x264 build gave different bytes from run
# to run for identical input (its assembly path; asm=0 was deterministic too, but slower).
ENCODER = {
    "codec": "libx264",
    "pix_fmt": "yuv420p",
    "crf": 23,
    "preset": "veryfast",
    "x264-params": "mbtree=0",
    "threads": 1,
    "gop_seconds": 1,
}
_VIDEO_NAME = re.compile(r"^[a-z0-9_]+_\d{5,}(_reversed)?\.mp4$")


class OutputExistsError(FileExistsError):
    """The output folder is not empty and ``overwrite`` was not given."""


@dataclass(frozen=True)
class SynthOptions:
    """The random ranges of a generated set. Every video draws its own value in each range.

    Sizes are the frame's short side in pixels (rounded down to even); the long side is
    ``short × aspect``, with ``aspect`` log-uniform in [1, max_aspect], and a non-square frame
    is portrait with probability ``portrait``. ``noise`` is the largest per-pixel noise
    standard deviation and ``jitter`` the largest camera-shake amplitude, as fractions of
    full scale and of the short side.
    """

    min_size: int = 96
    max_size: int = 240
    max_aspect: float = 1.8
    portrait: float = 0.3
    min_seconds: float = 1.0
    max_seconds: float = 8.0
    min_fps: int = 12
    max_fps: int = 60
    max_distractors: int = 3
    noise: float = 0.03
    jitter: float = 0.015

    def __post_init__(self) -> None:
        problem = check_options(dataclasses.asdict(self))
        if problem:
            raise ValueError(problem)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# field -> (lowest, highest) accepted
_LIMITS: dict[str, tuple[float, float]] = {
    "min_size": (16, 4096),
    "max_size": (16, 4096),
    "max_aspect": (1.0, 4.0),
    "portrait": (0.0, 1.0),
    "min_seconds": (0.25, 600.0),
    "max_seconds": (0.25, 600.0),
    "min_fps": (1, 240),
    "max_fps": (1, 240),
    "max_distractors": (0, 20),
    "noise": (0.0, 0.5),
    "jitter": (0.0, 0.1),
}
_PAIRS = (("min_size", "max_size"), ("min_seconds", "max_seconds"), ("min_fps", "max_fps"))


def check_options(values: dict[str, Any], cli: bool = False) -> str | None:
    """The first problem with these option values, as one line, or None.

    With ``cli``, options are named as on the command line (``--min-size``)."""

    def name(field: str) -> str:
        return "--" + field.replace("_", "-") if cli else field

    for field, (lo, hi) in _LIMITS.items():
        value = values.get(field)
        if value is None:
            continue
        if not (lo <= value <= hi) or (isinstance(value, float) and math.isnan(value)):
            return f"{name(field)} {value} is outside [{lo:g}, {hi:g}]"
    for low, high in _PAIRS:
        if values.get(low) is not None and values.get(high) is not None and values[low] > values[high]:
            return f"{name(low)} {values[low]} is larger than {name(high)} {values[high]}"
    return None


def resolve_options(options: SynthOptions | None = None, **overrides: Any) -> SynthOptions:
    """``options`` (or the defaults) with the given fields replaced; ``None`` values ignored."""
    options = options or SynthOptions()
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(overrides) - {f.name for f in dataclasses.fields(SynthOptions)}
    if unknown:
        raise TypeError(f"unknown synth option(s): {', '.join(sorted(unknown))}")
    return dataclasses.replace(options, **overrides) if overrides else options


# --------------------------------------------------------------------------- sampling


def video_rng(seed: int, label: str, index: int) -> np.random.Generator:
    """The random generator of video ``index`` of class ``label``."""
    if seed < 0 or index < 0:
        raise ValueError("seed and index must be non-negative")
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(label.encode()), index]))


def sample_video(label: str, index: int = 0, seed: int = 0, options: SynthOptions | None = None) -> dict[str, Any]:
    """Every parameter of one video (JSON-serialisable); ``render`` turns it into frames."""
    motion_class(label)  # unknown labels fail here
    opts = options or SynthOptions()
    rng = video_rng(seed, label, index)
    fps = int(rng.integers(opts.min_fps, opts.max_fps + 1))
    seconds = float(rng.uniform(opts.min_seconds, opts.max_seconds))
    frames = max(MIN_FRAMES, round(seconds * fps))
    short = int(rng.integers(opts.min_size, opts.max_size + 1)) // 2 * 2
    aspect = math.exp(rng.uniform(0.0, math.log(opts.max_aspect)))
    long = max(short, int(round(short * aspect / 2)) * 2)
    portrait = bool(rng.random() < opts.portrait)
    width, height = (short, long) if portrait else (long, short)
    span = (frames - 1) / fps

    jitter = float(rng.uniform(0.0, opts.jitter)) * short
    camera = {
        "jitter": jitter,  # px, the largest shake offset
        # per axis: [frequency Hz, phase, weight] of two sinusoids (weights sum to 1)
        "x": _shake(rng),
        "y": _shake(rng),
    }
    noise = {"sigma": float(rng.uniform(0.0, opts.noise)) * 255.0, "seed": int(rng.integers(2**63))}
    background = sample_background(rng, short)
    bg_colours = [background["colour0"], background["colour1"]]
    target = sample_target(label, rng, width, height, span, margin=jitter + 1.0)
    target["look"] = sample_look(rng, bg_colours)
    palette_b = sample_palette(rng, bg_colours + [target["look"]["palette"]["colour1"]])
    if motion_class(label).kind == "blink":
        target["palette_b"] = palette_b
    distractors = []
    for _ in range(int(rng.integers(0, opts.max_distractors + 1))):
        look = sample_look(rng, bg_colours)
        # the size distribution of targets of constant size (see sample_target)
        ratio = float(rng.uniform(*SCALE_RATIO))
        lo, hi = RADIUS_RANGE[0] * short, RADIUS_RANGE[1] * short
        radius = math.exp(rng.uniform(math.log(lo), math.log(hi / ratio))) * ratio ** float(rng.random())
        distractors.append(
            {
                "x": float(rng.uniform(radius, width - radius)),
                "y": float(rng.uniform(radius, height - radius)),
                "radius": float(radius),
                "angle": float(rng.uniform(0, 2 * math.pi)),
                "look": look,
            }
        )
    return {
        "label": label,
        "index": index,
        "seed": seed,
        "width": width,
        "height": height,
        "fps": fps,
        "frames": frames,
        "duration": frames / fps,
        "params": {
            "camera": camera,
            "noise": noise,
            "background": background,
            "target": target,
            "distractors": distractors,
        },
    }


def _shake(rng: np.random.Generator) -> list[list[float]]:
    freqs = rng.uniform(0.2, 1.5, size=2)
    phases = rng.uniform(0, 2 * math.pi, size=2)
    weights = rng.uniform(0.2, 1.0, size=2)
    weights = weights / weights.sum()
    return [[float(f), float(p), float(w)] for f, p, w in zip(freqs, phases, weights, strict=True)]


# --------------------------------------------------------------------------- rendering


class Renderer:
    """Renders the frames of one sampled video; ``frame(i)`` is a pure function of ``i``."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        p = spec["params"]
        self.width, self.height, self.frames = spec["width"], spec["height"], spec["frames"]
        fps = spec["fps"]
        times = np.arange(self.frames, dtype=np.float64) / fps
        span = (self.frames - 1) / fps
        self.states = target_states(spec["label"], p["target"], times, span)

        cam = p["camera"]
        self.jx = cam["jitter"] * sum(w * np.sin(2 * math.pi * f * times + ph) for f, ph, w in cam["x"])
        self.jy = cam["jitter"] * sum(w * np.sin(2 * math.pi * f * times + ph) for f, ph, w in cam["y"])
        self.margin = int(math.ceil(cam["jitter"])) + 2
        world = render_background(p["background"], self.height, self.width, self.margin)
        for d in p["distractors"]:  # static: drawn once, behind the target
            sprite = Sprite(d["look"], d["radius"])
            draw_sprite(world, sprite, d["x"] + self.margin, d["y"] + self.margin, d["radius"], d["angle"])
        self.world = world

        target = p["target"]
        max_radius = float(self.states["radius"].max())
        self.sprite = Sprite(target["look"], max_radius)
        self.sprite_b = Sprite(target["look"], max_radius, target["palette_b"]) if "palette_b" in target else None

        noise = p["noise"]
        self.sigma = noise["sigma"]
        if self.sigma > 0:
            nrng = np.random.default_rng(noise["seed"])
            shape = (NOISE_BANK, self.height + NOISE_PAD, self.width + NOISE_PAD, 3)
            self.bank = nrng.standard_normal(shape, dtype=np.float32) * np.float32(self.sigma)
            self.pick = nrng.integers(0, NOISE_BANK, size=self.frames)
            self.offset = nrng.integers(0, NOISE_PAD + 1, size=(self.frames, 2))
            self.sign = nrng.integers(0, 2, size=self.frames) * 2 - 1

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as uint8 (H, W, 3) RGB."""
        jx, jy = float(self.jx[i]), float(self.jy[i])
        # The camera moves by (jx, jy): the scene, and the target with it, moves the other way.
        canvas = shifted_crop(self.world, self.height, self.width, self.margin + jx, self.margin + jy)
        s = self.states
        sprite = self.sprite_b if (self.sprite_b is not None and s["alt"][i]) else self.sprite
        draw_sprite(
            canvas, sprite, float(s["x"][i]) - jx, float(s["y"][i]) - jy, float(s["radius"][i]), float(s["angle"][i])
        )
        if self.sigma > 0:
            oy, ox = self.offset[i]
            grain = self.bank[self.pick[i], oy : oy + self.height, ox : ox + self.width]
            if self.sign[i] > 0:
                canvas += grain
            else:
                canvas -= grain
        np.clip(canvas, 0.0, 255.0, out=canvas)
        canvas += 0.5
        return canvas.astype(np.uint8)

    def iter_frames(self, reverse: bool = False) -> Iterator[np.ndarray]:
        order = range(self.frames - 1, -1, -1) if reverse else range(self.frames)
        for i in order:
            yield self.frame(i)


def render(spec: dict[str, Any], reverse: bool = False) -> np.ndarray:
    """The frames of a sampled video, (T, H, W, 3) uint8 RGB; ``reverse`` plays it backwards."""
    renderer = Renderer(spec)
    out = np.empty((renderer.frames, renderer.height, renderer.width, 3), dtype=np.uint8)
    for k, frame in enumerate(renderer.iter_frames(reverse)):
        out[k] = frame
    return out


def render_video(
    label: str,
    index: int = 0,
    seed: int = 0,
    options: SynthOptions | None = None,
    reverse: bool = False,
    **overrides: Any,
) -> np.ndarray:
    """Video ``index`` of class ``label`` as a (T, H, W, 3) uint8 array, without writing it.

    The frames are those ``generate`` would encode for the same seed and options. With
    ``reverse`` they are in reverse order: a video of class ``TWINS[label]``. Its frame rate
    and every other parameter: ``sample_video(label, index, seed, options)``.
    """
    spec = sample_video(label, index, seed, resolve_options(options, **overrides))
    return render(spec, reverse=reverse)


# --------------------------------------------------------------------------- writing


def write_mp4(path: str | os.PathLike[str], frames: Iterable[np.ndarray], fps: int, width: int, height: int) -> str:
    """Encode ``frames`` (uint8 RGB, all ``height × width``) as H.264 MP4 with the pinned
    settings; returns the SHA-256 of the raw frames. PyAV is imported here, not before."""
    import av

    digest = hashlib.sha256()
    with av.open(os.fspath(path), mode="w", format="mp4") as container:
        stream = container.add_stream(ENCODER["codec"], rate=Fraction(fps))
        stream.width = width
        stream.height = height
        stream.pix_fmt = ENCODER["pix_fmt"]
        stream.codec_context.thread_count = ENCODER["threads"]
        stream.codec_context.gop_size = max(1, int(fps * ENCODER["gop_seconds"]))
        stream.options = {
            "crf": str(ENCODER["crf"]),
            "preset": ENCODER["preset"],
            "x264-params": ENCODER["x264-params"],
        }
        context = stream.codec_context
        # BT.601, limited range: what rgb_to_yuv420p computes, and what decoders assume anyway.
        context.colorspace = context.color_primaries = context.color_trc = 6  # SMPTE 170M
        context.color_range = 1  # MPEG (limited)
        for array in frames:
            digest.update(array.tobytes())
            frame = _yuv_frame(av, array)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return digest.hexdigest()


def rgb_to_yuv420p(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 RGB (H, W, 3), H and W even -> the Y (H, W), U and V (H/2, W/2) planes of YUV
    4:2:0, BT.601 limited range, in exact integer arithmetic (the same bytes everywhere)."""
    p = rgb.transpose(2, 0, 1).astype(np.int32)  # planar R, G, B
    y = (66 * p[0] + 129 * p[1] + 25 * p[2] + (16 << 8) + 128) >> 8
    q = p[:, 0::2, 0::2] + p[:, 1::2, 0::2] + p[:, 0::2, 1::2] + p[:, 1::2, 1::2]  # 2x2 block sums
    u = (-38 * q[0] - 74 * q[1] + 112 * q[2] + (128 << 10) + 512) >> 10
    v = (112 * q[0] - 94 * q[1] - 18 * q[2] + (128 << 10) + 512) >> 10
    return y.astype(np.uint8), u.astype(np.uint8), v.astype(np.uint8)


def _yuv_frame(av: Any, rgb: np.ndarray) -> Any:
    """An ``av.VideoFrame`` (yuv420p) of ``rgb`` whose every byte is set, row padding too.

    x264's output depends on the padding bytes past each row's end; ``from_ndarray`` leaves
    them as whatever the reused buffer held, which makes the files differ from run to run."""
    h, w = rgb.shape[:2]
    frame = av.VideoFrame(w, h, "yuv420p")
    for plane, data in zip(frame.planes, rgb_to_yuv420p(rgb), strict=True):
        rows = np.zeros((plane.height, plane.line_size), dtype=np.uint8)
        rows[:, : data.shape[1]] = data
        plane.update(rows)
    return frame


def _video_relpath(label: str, source: str, index: int, reverse: bool) -> str:
    suffix = "_reversed" if reverse else ""
    return f"{label}/{source}_{index:05d}{suffix}.mp4"


def make_one(
    out_dir: str | os.PathLike[str], source: str, index: int, seed: int, options: SynthOptions, reverse: bool = False
) -> dict[str, Any]:
    """Sample, render and write one video; returns its record (as in synth.json)."""
    spec = sample_video(source, index, seed, options)
    label = TWINS[source] if reverse else source
    rel = _video_relpath(label, source, index, reverse)
    path = Path(out_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    renderer = Renderer(spec)
    try:
        sha = write_mp4(tmp, renderer.iter_frames(reverse), spec["fps"], spec["width"], spec["height"])
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {
        "path": rel,
        "label": label,
        "source_label": source,
        "index": index,
        "reversed": reverse,
        "width": spec["width"],
        "height": spec["height"],
        "fps": spec["fps"],
        "frames": spec["frames"],
        "duration": spec["duration"],
        "frames_sha256": sha,
        "params": spec["params"],
    }


def _make_task(task: tuple[Any, ...]) -> dict[str, Any]:
    return make_one(*task)


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: not a directory")
    if not out.exists():
        out.mkdir(parents=True)
        return
    if not any(out.iterdir()):
        return
    if not overwrite:
        raise OutputExistsError(f"{out}: folder is not empty (use overwrite to replace a generated set)")
    # Remove what an earlier run wrote (its manifest and videos), nothing else.
    manifest = out / MANIFEST
    if manifest.is_file():
        manifest.unlink()
    for name in CLASSES:
        folder = out / name
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            plain = entry.name[1:-4] if entry.name.startswith(".") and entry.name.endswith(".tmp") else entry.name
            if entry.is_file() and _VIDEO_NAME.match(plain):
                entry.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()


def encoder_info() -> dict[str, Any]:
    import av

    versions = {name: ".".join(map(str, v)) for name, v in sorted(av.library_versions.items())}
    return {**ENCODER, "pyav": av.__version__, "libraries": versions}


def default_workers() -> int:
    """Rendering processes when none are asked for: the CPUs this process may use, at most
    ``SYNTH_WORKERS`` (8); see ``vidclass.defaults.default_workers``."""
    return defaults.default_workers(defaults.SYNTH_WORKERS)


def generate(
    out_dir: str | os.PathLike[str],
    per_class: int = 10,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    *,
    options: SynthOptions | None = None,
    workers: int = 1,
    reverse: bool = False,
    overwrite: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Write ``per_class`` videos of each class to ``out_dir``; what ``vidclass synth`` runs.

    Files: ``out_dir/<class>/<class>_<index:05d>.mp4`` and ``out_dir/synth.json``. With
    ``reverse``, every video is played backwards and filed under its twin class, as
    ``out_dir/<twin>/<class>_<index:05d>_reversed.mp4`` (the frames of the forward video with
    the same seed, in reverse order). ``options`` / keyword overrides (``min_size=64``, ...)
    set the random ranges (see ``SynthOptions``). ``workers`` > 1 renders in that many
    processes; the output does not depend on it. ``progress`` is called with each video's
    record as it is finished (in completion order). Returns the records in class order, then
    index order, as in synth.json.

    Raises ``ValueError`` for bad arguments, ``OutputExistsError`` when ``out_dir`` is not
    empty and ``overwrite`` is false. With ``overwrite``, the videos and manifest an earlier
    run left there are removed first; other files are left alone.
    """
    opts = resolve_options(options, **overrides)
    if isinstance(classes, str):
        classes = [name.strip() for name in classes.split(",") if name.strip()]
    labels = list(CLASSES if classes is None else classes)
    for label in labels:
        motion_class(label)
    if len(set(labels)) != len(labels):
        raise ValueError("a class is listed twice")
    if not labels:
        raise ValueError("no classes")
    if per_class < 1:
        raise ValueError("per_class must be at least 1")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    labels.sort(key=CLASSES.index)
    out = Path(out_dir)
    _prepare(out, overwrite)

    tasks = [(str(out), label, i, seed, opts, reverse) for label in labels for i in range(per_class)]
    records: list[dict[str, Any]] = []
    if workers <= 1 or len(tasks) == 1:
        for task in tasks:
            record = _make_task(task)
            records.append(record)
            if progress:
                progress(record)
    else:
        records = _run_pool(tasks, workers, progress)
    order = {(label, i): k for k, (_, label, i, *_rest) in enumerate(tasks)}
    records.sort(key=lambda r: order[(r["source_label"], r["index"])])

    manifest = {
        "generator": "vidclass synth",
        "format": FORMAT_VERSION,
        "seed": seed,
        "per_class": per_class,
        "classes": labels,
        "reversed": reverse,
        "twins": {label: TWINS[label] for label in labels},
        "options": opts.to_dict(),
        "encoder": encoder_info(),
        "videos": records,
    }
    tmp = out / ("." + MANIFEST + ".tmp")
    tmp.write_text(_manifest_text(manifest), encoding="utf-8")
    os.replace(tmp, out / MANIFEST)
    return records


def _manifest_text(manifest: dict[str, Any]) -> str:
    """Indented JSON, except each video's record: one line per video."""
    head = {k: v for k, v in manifest.items() if k != "videos"}
    text = json.dumps(head, indent=1)[:-2]  # without the closing "\n}"
    videos = ",\n".join("  " + json.dumps(record) for record in manifest["videos"])
    return text + ',\n "videos": [\n' + videos + "\n ]\n}\n"


def _run_pool(
    tasks: list[tuple[Any, ...]], workers: int, progress: Callable[[dict[str, Any]], None] | None
) -> list[dict[str, Any]]:
    import multiprocessing

    # fork: workers start at once, without importing vidclass (and torch) again.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    records = []
    pool = context.Pool(processes=min(workers, len(tasks)), initializer=_ignore_sigint)
    try:
        for record in pool.imap_unordered(_make_task, tasks, chunksize=1):
            records.append(record)
            if progress:
                progress(record)
        pool.close()
        pool.join()
    except BaseException:  # Ctrl-C or a failed video: stop the workers now
        # A second Ctrl-C in the middle of terminate() would leave idle workers that join()
        # then waits for forever: hold Ctrl-C off until the workers are gone.
        with _sigint_ignored():
            pool.terminate()
            pool.join()
            for out_dir, source, index, _seed, _options, reverse in tasks:  # killed mid-file
                label = TWINS[source] if reverse else source
                path = Path(out_dir) / _video_relpath(label, source, index, reverse)
                path.with_name("." + path.name + ".tmp").unlink(missing_ok=True)
        raise
    return records


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent process, which stops the pool."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def read_manifest(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``synth.json`` of a generated set."""
    return json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))


__all__ = [
    "ENCODER",
    "MANIFEST",
    "OutputExistsError",
    "Renderer",
    "SynthOptions",
    "check_options",
    "default_workers",
    "generate",
    "make_one",
    "read_manifest",
    "render",
    "render_video",
    "resolve_options",
    "sample_video",
    "video_rng",
    "write_mp4",
]
