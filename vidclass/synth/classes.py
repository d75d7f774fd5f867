"""The motion classes of the synthetic benchmark, and their time-reversed twins.

Every video shows one *target* object among static distractor objects on a static
background, filmed by a slightly shaky camera. The class says only how the target changes
over time; what any single frame looks like does not depend on the class:

- every class draws the same parameters, from the same distributions, in the same order
  (``sample_target``); the class only decides how they are used over time;
- objects that do not move/scale sit where, and at the size, a moving/scaling object would
  be at a uniformly random moment of its video, so positions and sizes have (nearly) the
  same distribution in every class;
- targets and distractors share one appearance distribution, and distractors never move
  (only the camera shake moves them), so no distractor carries a class's motion;
- a blinking target swaps between two random palettes instead of vanishing, so no frame
  has "a missing object".

Time reversal. Every motion is symmetric in time (constant speeds, geometric scaling,
random phases), so the frames of a class-X video played backwards are a valid video of
``TWINS[X]``, with the same parameter distribution. Twin pairs: moving_left/moving_right,
moving_up/moving_down, rotating_cw/rotating_ccw, growing/shrinking. ``pulsing``,
``blinking`` and ``static`` are their own twins (reversed, they are still in their class).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MotionClass:
    name: str
    twin: str
    kind: str  # move, rotate, scale, pulse, blink, static
    sign: int  # direction: +1 / -1 (move: along +x/+y; rotate: clockwise; scale: growing)
    axis: str | None  # for move: "x" or "y"
    description: str


CLASS_INFO: tuple[MotionClass, ...] = (
    MotionClass("moving_left", "moving_right", "move", -1, "x", "the target moves left at constant speed"),
    MotionClass("moving_right", "moving_left", "move", +1, "x", "the target moves right at constant speed"),
    MotionClass("moving_up", "moving_down", "move", -1, "y", "the target moves up at constant speed"),
    MotionClass("moving_down", "moving_up", "move", +1, "y", "the target moves down at constant speed"),
    MotionClass("rotating_cw", "rotating_ccw", "rotate", +1, None, "the target turns clockwise (as seen on screen)"),
    MotionClass("rotating_ccw", "rotating_cw", "rotate", -1, None, "the target turns counter-clockwise"),
    MotionClass("growing", "shrinking", "scale", +1, None, "the target grows steadily (approaches the camera)"),
    MotionClass("shrinking", "growing", "scale", -1, None, "the target shrinks steadily (moves away)"),
    MotionClass(
        "pulsing",
        "pulsing",
        "pulse",
        0,
        None,
        "the target grows and shrinks periodically (approaches and leaves, repeatedly)",
    ),
    MotionClass("blinking", "blinking", "blink", 0, None, "the target flips between two colourings periodically"),
    MotionClass("static", "static", "static", 0, None, "nothing moves but the camera shake"),
)

CLASSES: tuple[str, ...] = tuple(c.name for c in CLASS_INFO)
TWINS: dict[str, str] = {c.name: c.twin for c in CLASS_INFO}
"""Each class -> the class its time-reversed videos belong to (an involution)."""
SELF_TWINS: frozenset[str] = frozenset(c.name for c in CLASS_INFO if c.twin == c.name)
_BY_NAME = {c.name: c for c in CLASS_INFO}

# Motion ranges. Sizes and lengths are fractions of the frame; speeds follow from the
# travel (or scale ratio) and the video's duration, so they vary with both.
RADIUS_RANGE = (0.06, 0.2)  # object radius (circumscribed), fraction of the short side
SCALE_RATIO = (1.8, 2.8)  # largest / smallest radius of a growing, shrinking or pulsing target
TRAVEL = (0.5, 0.9)  # moving targets travel this fraction of the free span along their axis
ROTATION_SPEED = (60.0, 180.0)  # degrees per second
BLINK_PERIOD = (0.4, 1.0)  # seconds (capped at the video's length)
BLINK_DUTY = (0.4, 0.6)
PULSE_PERIOD = (0.6, 1.2)  # seconds (capped at the video's length)


def motion_class(name: str) -> MotionClass:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown class {name!r}; classes: {', '.join(CLASSES)}") from None


def sample_target(
    name: str, rng: np.random.Generator, width: int, height: int, span: float, margin: float
) -> dict[str, Any]:
    """The target's motion parameters (JSON-serialisable).

    ``span`` is the time from the first to the last frame (seconds); ``margin`` px are kept
    free at the frame's edges (room for the camera shake). The same draws happen for every
    class; the class only picks which of them matter.
    """
    cls = motion_class(name)
    short = min(width, height)
    ratio = float(rng.uniform(*SCALE_RATIO))
    lo, hi = RADIUS_RANGE
    r_small = short * math.exp(rng.uniform(math.log(lo), math.log(hi / ratio)))
    u = float(rng.random())  # the "random moment" for objects of constant size / position
    axis_coin = float(rng.random())
    travel = float(rng.uniform(*TRAVEL))
    along_u, across_u = float(rng.random()), float(rng.random())
    angle0 = float(rng.uniform(0, 2 * math.pi))
    omega = math.radians(float(rng.uniform(*ROTATION_SPEED)))
    blink_period = float(rng.uniform(min(BLINK_PERIOD[0], span), min(BLINK_PERIOD[1], span)))
    blink_duty = float(rng.uniform(*BLINK_DUTY))
    blink_phase = float(rng.random())
    pulse_period = float(rng.uniform(min(PULSE_PERIOD[0], span), min(PULSE_PERIOD[1], span)))
    pulse_phase = float(rng.random())

    if cls.kind in ("scale", "pulse"):
        radius = r_small
        r_max = r_small * ratio
    else:
        radius = r_small * ratio**u
        r_max = radius
    axis = cls.axis or ("x" if axis_coin < 0.5 else "y")
    keep = r_max + margin  # the centre stays this far from the edges
    free_x = max(width - 2 * keep, 0.0)
    free_y = max(height - 2 * keep, 0.0)
    free_along, free_across = (free_x, free_y) if axis == "x" else (free_y, free_x)
    length = travel * free_along
    mid_along = keep + length / 2 + along_u * (free_along - length)
    across = keep + across_u * free_across
    if cls.kind != "move":  # where a moving object would be at the random moment u
        mid_along += length * (u - 0.5)
        length = 0.0
    x, y = (mid_along, across) if axis == "x" else (across, mid_along)
    target: dict[str, Any] = {
        "x": x,  # centre (px) halfway through the video
        "y": y,
        "axis": axis,
        "travel": length * (cls.sign if cls.kind == "move" else 0),  # signed px, first -> last frame
        "radius": radius,  # px (for scale/pulse: the smallest radius)
        "scale_ratio": ratio if cls.kind in ("scale", "pulse") else 1.0,
        "angle": angle0,  # radians, halfway through the video
        "angular_speed": omega * cls.sign if cls.kind == "rotate" else 0.0,  # rad/s, + = clockwise
    }
    if cls.kind == "scale":
        target["scale_direction"] = cls.sign
    if cls.kind == "pulse":
        target["period"] = pulse_period
        target["phase"] = pulse_phase
    if cls.kind == "blink":
        target["period"] = blink_period
        target["duty"] = blink_duty
        target["phase"] = blink_phase
    return target


def target_states(name: str, target: dict[str, Any], times: np.ndarray, span: float) -> dict[str, np.ndarray]:
    """Per-frame centre ``x``, ``y``, ``radius``, ``angle`` and ``alt`` (True: second palette)."""
    cls = motion_class(name)
    n = len(times)
    tau = times / span if span > 0 else np.zeros(n)  # 0 at the first frame, 1 at the last
    x = np.full(n, target["x"], dtype=np.float64)
    y = np.full(n, target["y"], dtype=np.float64)
    radius = np.full(n, target["radius"], dtype=np.float64)
    angle = target["angle"] + target["angular_speed"] * (times - span / 2)
    alt = np.zeros(n, dtype=bool)
    if cls.kind == "move":
        offset = target["travel"] * (tau - 0.5)
        if target["axis"] == "x":
            x = x + offset
        else:
            y = y + offset
    elif cls.kind == "scale":
        growth = tau if target["scale_direction"] > 0 else 1 - tau
        radius = radius * target["scale_ratio"] ** growth
    elif cls.kind == "pulse":
        wave = 0.5 - 0.5 * np.cos(2 * math.pi * (times / target["period"] + target["phase"]))
        radius = radius * target["scale_ratio"] ** wave
    elif cls.kind == "blink":
        alt = np.mod(times / target["period"] + target["phase"], 1.0) >= target["duty"]
    return {"x": x, "y": y, "radius": radius, "angle": angle, "alt": alt}


__all__ = [
    "CLASSES",
    "CLASS_INFO",
    "SELF_TWINS",
    "TWINS",
    "MotionClass",
    "motion_class",
    "sample_target",
    "target_states",
]
