"""Sequences: one continuous video whose target changes its motion class at known frames.

``sample_sequence`` draws one sequence: ``count`` segments of classes drawn from ``classes``
(two consecutive segments never share a class), each ``segment_seconds`` long (a random
value in the range, rounded to whole frames). The whole video has one frame rate, one frame
size, one background, one set of static distractors, one camera shake and one target (one
look). At a boundary the scene does not cut: the target stays where it is, at its size,
angle and colouring, and only the way it changes from frame to frame changes. So a
timeline cannot find the boundaries from a scene cut; it has to read the motion.

How each class moves the target within its segment (frames ``start .. end - 1``; ``tau =
(frame - start) / (end - start)``, 0 at the segment's first frame, 1 at the next segment's):

- ``moving_*``: the centre goes in a straight line at constant speed along its axis. Moves
  along one axis are planned over the whole video: a run of moves the same way (other
  classes between them do not break it) travels from near one end of the free span
  (within 20 %) to near the other, at least 60 % of the span, at one speed;
- ``growing`` / ``shrinking``: the radius scales geometrically, planned like the moves on
  the log of the radius between the video's smallest and largest radius (their ratio is
  drawn from ``SCALE_RATIO``, as for class videos);
- ``pulsing``: the radius swells (or, near the largest radius, shrinks) and comes back a
  whole number of times, so it is where it started when the next segment begins;
- ``rotating_cw`` / ``rotating_ccw``: the angle turns at a constant speed from
  ``ROTATION_SPEED``;
- ``blinking``: the target swaps to its second colouring and back a whole number of times;
  each cycle starts on the first colouring, so the next segment starts on it;
- ``static``: nothing changes.

A segment changes nothing but its own quantity: during a move the radius and angle stay,
and so on. Truth: frame ``i`` belongs to the segment with ``start_frame <= i < end_frame``,
and the change from frame ``i`` to ``i + 1`` is that segment's motion.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vidclass.synth.classes import (
    BLINK_DUTY,
    BLINK_PERIOD,
    PULSE_PERIOD,
    RADIUS_RANGE,
    ROTATION_SPEED,
    SCALE_RATIO,
    motion_class,
)
from vidclass.synth.frames import (
    Renderer,
    SynthOptions,
    sample_distractors,
    sample_frame_size,
    sample_scene,
    video_rng,
)
from vidclass.synth.looks import sample_look, sample_palette

SEQUENCE = "sequence"  # the rng label of sequences, and their file names' stem
SEGMENT_SECONDS = (2.0, 4.0)  # default segment length range
SEGMENT_LIMITS = (0.25, 600.0)  # accepted segment lengths, seconds
MIN_SEGMENT_FRAMES = 2
_END = 0.2  # a run of moves starts and ends within this fraction of its span's ends


def check_sequence_options(
    classes: list[str], segments: int, segment_seconds: tuple[float, float], cli: bool = False
) -> str | None:
    """The first problem with these sequence settings, as one line, or None."""
    dash = "--" if cli else ""
    name = "segments" if not cli else "--segments"
    if len(set(classes)) < 2:
        return f"a sequence needs at least two classes (consecutive segments differ); {dash}classes gives one"
    if segments < 2:
        return f"{name} {segments}: a sequence needs at least 2 segments"
    lo, hi = segment_seconds
    seconds = f"{dash}segment-seconds" if cli else "segment_seconds"
    for value in (lo, hi):
        if not SEGMENT_LIMITS[0] <= value <= SEGMENT_LIMITS[1] or math.isnan(value):
            return f"{seconds} {value:g} is outside [{SEGMENT_LIMITS[0]:g}, {SEGMENT_LIMITS[1]:g}]"
    if lo > hi:
        return f"{seconds} {lo:g},{hi:g}: the shortest is longer than the longest"
    return None


def sample_sequence(
    index: int,
    seed: int,
    options: SynthOptions,
    classes: list[str],
    segments: int,
    segment_seconds: tuple[float, float] = SEGMENT_SECONDS,
) -> dict[str, Any]:
    """Every parameter of sequence ``index`` (JSON-serialisable); ``SequenceRenderer`` draws it.

    Its ``segments`` hold each segment's ``label``, ``start_frame`` and ``end_frame`` (the
    truth) and ``motion`` (what the renderer does in it). The draws depend only on (seed,
    index, classes, segments, segment_seconds, options), not on the other sequences."""
    problem = check_sequence_options(classes, segments, segment_seconds)
    if problem:
        raise ValueError(problem)
    for label in classes:
        motion_class(label)
    rng = video_rng(seed, SEQUENCE, index)
    fps = int(rng.integers(options.min_fps, options.max_fps + 1))
    labels = [classes[int(rng.integers(len(classes)))]]
    while len(labels) < segments:
        others = [c for c in classes if c != labels[-1]]
        labels.append(others[int(rng.integers(len(others)))])
    lengths = [max(MIN_SEGMENT_FRAMES, round(float(rng.uniform(*segment_seconds)) * fps)) for _ in labels]
    bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    width, height = sample_frame_size(rng, options)
    short = min(width, height)
    camera, noise, background = sample_scene(rng, options, short)
    bg_colours = [background["colour0"], background["colour1"]]
    look = sample_look(rng, bg_colours)
    palette_b = sample_palette(rng, bg_colours + [look["palette"]["colour1"]])
    ratio = float(rng.uniform(*SCALE_RATIO))
    lo, hi = RADIUS_RANGE
    r_small = short * math.exp(rng.uniform(math.log(lo), math.log(hi / ratio)))
    angle = float(rng.uniform(0, 2 * math.pi))

    keep = r_small * ratio + camera["jitter"] + 1.0  # the centre stays this far from the edges
    spans = {"x": (keep, max(width - keep, keep)), "y": (keep, max(height - keep, keep))}
    kinds = [motion_class(label) for label in labels]
    plans = {
        axis: _plan_axis(
            rng, [(k, c.sign) for k, c in enumerate(kinds) if c.kind == "move" and c.axis == axis], lengths
        )
        for axis in ("x", "y")
    }
    scale_plan = _plan_axis(rng, [(k, c.sign) for k, c in enumerate(kinds) if c.kind == "scale"], lengths)

    def at(axis: str, p: float) -> float:
        a, b = spans[axis]
        return a + p * (b - a)

    state = {"x": at("x", plans["x"][0]), "y": at("y", plans["y"][0]), "size": scale_plan[0], "angle": angle}
    out_segments = []
    for k, cls in enumerate(kinds):
        seconds = lengths[k] / fps
        omega = math.radians(float(rng.uniform(*ROTATION_SPEED)))
        pulse_period = float(rng.uniform(*PULSE_PERIOD))
        swell = float(rng.uniform(0.6, 1.0))
        blink_period = float(rng.uniform(*BLINK_PERIOD))
        duty = float(rng.uniform(*BLINK_DUTY))
        start = dict(state)
        motion: dict[str, Any] = {}
        if cls.kind == "move":
            assert cls.axis is not None
            state[cls.axis] = at(cls.axis, plans[cls.axis][1][k])
        elif cls.kind == "scale":
            state["size"] = scale_plan[1][k]
        elif cls.kind == "rotate":
            state["angle"] = start["angle"] + cls.sign * omega * seconds
        elif cls.kind == "pulse":
            p = start["size"]
            peak = p + (1 - p) * swell if p < 0.5 else p - p * swell
            motion = {"cycles": max(1, round(seconds / pulse_period)), "peak_size": peak}
        elif cls.kind == "blink":
            motion = {"cycles": max(1, round(seconds / blink_period)), "duty": duty}
        motion.update({"from": start, "to": dict(state)})
        out_segments.append(
            {"label": labels[k], "start_frame": int(bounds[k]), "end_frame": int(bounds[k + 1]), "motion": motion}
        )
    distractors = sample_distractors(rng, options, width, height, bg_colours)
    frames = int(bounds[-1])
    target = {"look": look, "radius_small": r_small, "scale_ratio": ratio}
    if any(c.kind == "blink" for c in kinds):
        target["palette_b"] = palette_b
    return {
        "label": SEQUENCE,
        "index": index,
        "seed": seed,
        "width": width,
        "height": height,
        "fps": fps,
        "frames": frames,
        "duration": frames / fps,
        "segments": out_segments,
        "params": {
            "camera": camera,
            "noise": noise,
            "background": background,
            "target": target,
            "distractors": distractors,
        },
    }


def _plan_axis(
    rng: np.random.Generator, moves: list[tuple[int, int]], lengths: list[int]
) -> tuple[float, dict[int, float]]:
    """Where moves along one axis go, as fractions of its span: the start, and segment ->
    where it ends. ``moves``: (segment, sign) in order. A run of moves the same way goes from
    within ``_END`` of one end to within ``_END`` of the other at one speed (each move's share
    is its length's)."""
    if not moves:
        return float(rng.uniform(0, 1)), {}
    runs: list[list[tuple[int, int]]] = []
    for move in moves:
        if runs and runs[-1][-1][1] == move[1]:
            runs[-1].append(move)
        else:
            runs.append([move])
    near = float(rng.uniform(0, _END))
    first = near if moves[0][1] > 0 else 1 - near
    position, ends = first, {}
    for run in runs:
        near = float(rng.uniform(0, _END))
        end = 1 - near if run[0][1] > 0 else near
        total = sum(lengths[k] for k, _ in run)
        done = 0
        for k, _ in run:
            done += lengths[k]
            ends[k] = position + (end - position) * done / total
        position = end
    return first, ends


def sequence_states(spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """The target's per-frame ``x``, ``y``, ``radius``, ``angle`` and ``alt`` in a sequence."""
    n = spec["frames"]
    target = spec["params"]["target"]
    r_small, ratio = target["radius_small"], target["scale_ratio"]
    states = {name: np.zeros(n, dtype=np.float64) for name in ("x", "y", "radius", "angle")}
    alt = np.zeros(n, dtype=bool)
    for segment in spec["segments"]:
        a, b = segment["start_frame"], segment["end_frame"]
        tau = (np.arange(a, b, dtype=np.float64) - a) / (b - a)
        motion = segment["motion"]
        start, end = motion["from"], motion["to"]
        for name in ("x", "y", "angle"):
            states[name][a:b] = start[name] + (end[name] - start[name]) * tau
        size = start["size"] + (end["size"] - start["size"]) * tau
        kind = motion_class(segment["label"]).kind
        if kind == "pulse":
            wave = 0.5 - 0.5 * np.cos(2 * math.pi * motion["cycles"] * tau)
            size = start["size"] + (motion["peak_size"] - start["size"]) * wave
        elif kind == "blink":
            alt[a:b] = np.mod(motion["cycles"] * tau, 1.0) >= motion["duty"]
        states["radius"][a:b] = r_small * ratio**size
    return {**states, "alt": alt}


class SequenceRenderer(Renderer):
    """Renders a sampled sequence (``sample_sequence``); ``frame(i)`` as for class videos."""

    def target_states(self, times: np.ndarray, span: float) -> dict[str, np.ndarray]:
        return sequence_states(self.spec)


__all__ = [
    "SEGMENT_SECONDS",
    "SEQUENCE",
    "SequenceRenderer",
    "check_sequence_options",
    "sample_sequence",
    "sequence_states",
]
