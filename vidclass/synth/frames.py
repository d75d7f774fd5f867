"""One synthetic video: its random ranges, its parameters and its frames (numpy only).

``SynthOptions`` holds the random ranges of a set; ``sample_video`` draws every parameter of
one video from its own generator (``video_rng``); ``Renderer`` turns those parameters into
frames, each a pure function of its index. ``render_video`` returns one video's frames as a
numpy array without writing anything; ``reverse=True`` plays it backwards, which makes it a
video of ``TWINS[label]``.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidclass.synth.classes import (
    RADIUS_RANGE,
    SCALE_RATIO,
    motion_class,
    sample_target,
    target_states,
)
from vidclass.synth.looks import sample_look, sample_palette
from vidclass.synth.render import (
    Sprite,
    draw_sprite,
    render_background,
    sample_background,
    shifted_crop,
    sprite_box,
)

MIN_FRAMES = 2
BOX_COVERAGE = 1 / 255  # a target box holds the pixels the target covers this much: all it changes by a level
NOISE_BANK = 4  # noise frames drawn per video; each frame adds one at a random offset and sign
NOISE_PAD = 16


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
    width, height = sample_frame_size(rng, opts)
    short = min(width, height)
    span = (frames - 1) / fps

    camera, noise, background = sample_scene(rng, opts, short)
    bg_colours = [background["colour0"], background["colour1"]]
    jitter = camera["jitter"]
    target = sample_target(label, rng, width, height, span, margin=jitter + 1.0)
    target["look"] = sample_look(rng, bg_colours)
    palette_b = sample_palette(rng, bg_colours + [target["look"]["palette"]["colour1"]])
    if motion_class(label).kind == "blink":
        target["palette_b"] = palette_b
    distractors = sample_distractors(rng, opts, width, height, bg_colours)
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


def sample_frame_size(rng: np.random.Generator, opts: SynthOptions) -> tuple[int, int]:
    """A video's ``(width, height)``: short side, aspect ratio and orientation, in that order."""
    short = int(rng.integers(opts.min_size, opts.max_size + 1)) // 2 * 2
    aspect = math.exp(rng.uniform(0.0, math.log(opts.max_aspect)))
    long = max(short, int(round(short * aspect / 2)) * 2)
    portrait = bool(rng.random() < opts.portrait)
    return (short, long) if portrait else (long, short)


def sample_scene(
    rng: np.random.Generator, opts: SynthOptions, short: int
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A video's camera shake, noise and background parameters, in that order."""
    jitter = float(rng.uniform(0.0, opts.jitter)) * short
    camera = {
        "jitter": jitter,  # px, the largest shake offset
        # per axis: [frequency Hz, phase, weight] of two sinusoids (weights sum to 1)
        "x": _shake(rng),
        "y": _shake(rng),
    }
    noise = {"sigma": float(rng.uniform(0.0, opts.noise)) * 255.0, "seed": int(rng.integers(2**63))}
    return camera, noise, sample_background(rng, short)


def sample_distractors(
    rng: np.random.Generator, opts: SynthOptions, width: int, height: int, bg_colours: list[Any]
) -> list[dict[str, Any]]:
    """The static distractor objects of a video."""
    short = min(width, height)
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
    return distractors


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
        # Every moving object: its parameters and per-frame states (a class video has one).
        self.tracks = self.target_tracks(times, span)
        self.states = self.tracks[0][1]

        cam = p["camera"]
        self.jx = cam["jitter"] * sum(w * np.sin(2 * math.pi * f * times + ph) for f, ph, w in cam["x"])
        self.jy = cam["jitter"] * sum(w * np.sin(2 * math.pi * f * times + ph) for f, ph, w in cam["y"])
        self.margin = int(math.ceil(cam["jitter"])) + 2
        world = render_background(p["background"], self.height, self.width, self.margin)
        for d in p["distractors"]:  # static: drawn once, behind the target
            sprite = Sprite(d["look"], d["radius"])
            draw_sprite(world, sprite, d["x"] + self.margin, d["y"] + self.margin, d["radius"], d["angle"])
        self.world = world

        self.sprites: list[tuple[Sprite, Sprite | None]] = []
        for target, states in self.tracks:
            max_radius = float(states["radius"].max())
            sprite = Sprite(target["look"], max_radius)
            second = Sprite(target["look"], max_radius, target["palette_b"]) if "palette_b" in target else None
            self.sprites.append((sprite, second))
        self.sprite, self.sprite_b = self.sprites[0]

        noise = p["noise"]
        self.sigma = noise["sigma"]
        if self.sigma > 0:
            nrng = np.random.default_rng(noise["seed"])
            shape = (NOISE_BANK, self.height + NOISE_PAD, self.width + NOISE_PAD, 3)
            self.bank = nrng.standard_normal(shape, dtype=np.float32) * np.float32(self.sigma)
            self.pick = nrng.integers(0, NOISE_BANK, size=self.frames)
            self.offset = nrng.integers(0, NOISE_PAD + 1, size=(self.frames, 2))
            self.sign = nrng.integers(0, 2, size=self.frames) * 2 - 1

    def target_states(self, times: np.ndarray, span: float) -> dict[str, np.ndarray]:
        """The target's per-frame ``x``, ``y``, ``radius``, ``angle`` and ``alt`` (see
        ``classes.target_states``) at ``times`` (seconds); ``span``: first to last frame."""
        return target_states(self.spec["label"], self.spec["params"]["target"], times, span)

    def target_tracks(self, times: np.ndarray, span: float) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        """Each target's parameters (``look``, and ``palette_b`` if it blinks) and its
        per-frame states, in drawing order: here the one target, ``target_states``."""
        return [(self.spec["params"]["target"], self.target_states(times, span))]

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as uint8 (H, W, 3) RGB."""
        jx, jy = float(self.jx[i]), float(self.jy[i])
        # The camera moves by (jx, jy): the scene, and the target with it, moves the other way.
        canvas = shifted_crop(self.world, self.height, self.width, self.margin + jx, self.margin + jy)
        for (first, second), (_, s) in zip(self.sprites, self.tracks, strict=True):
            sprite = second if (second is not None and s["alt"][i]) else first
            x, y = float(s["x"][i]) - jx, float(s["y"][i]) - jy
            draw_sprite(canvas, sprite, x, y, float(s["radius"][i]), float(s["angle"][i]))
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

    def target_box(self, i: int, target: int = 0) -> tuple[int, int, int, int] | None:
        """Where the target (``target``: which, in ``target_tracks``' order) is in frame ``i``:
        the box ``(x0, y0, x1, y1)`` of ``frame[y0:y1, x0:x1]``, the pixels it covers by at
        least ``BOX_COVERAGE``; None where it covers none.

        The target as ``frame(i)`` draws it (camera shake included), on top of everything
        else; only the noise added afterwards is not the target's."""
        s = self.tracks[target][1]
        jx, jy = float(self.jx[i]), float(self.jy[i])
        return sprite_box(
            self.sprites[target][0],  # both palettes share one alpha (the look's shape)
            float(s["x"][i]) - jx,
            float(s["y"][i]) - jy,
            float(s["radius"][i]),
            float(s["angle"][i]),
            self.height,
            self.width,
            BOX_COVERAGE,
        )

    def target_boxes(self, reverse: bool = False, target: int = 0) -> list[tuple[int, int, int, int] | None]:
        """``target_box`` of every frame, in the order ``iter_frames(reverse)`` gives them."""
        order = range(self.frames - 1, -1, -1) if reverse else range(self.frames)
        return [self.target_box(i, target) for i in order]

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


__all__ = [
    "BOX_COVERAGE",
    "Renderer",
    "SynthOptions",
    "check_options",
    "render",
    "render_video",
    "resolve_options",
    "sample_video",
    "video_rng",
]
