"""What the synthetic benchmark's objects look like: shape, texture, colours and a mark.

An object's look is a JSON-serialisable dict (``sample_look``), stored in each video's
parameters. This module holds those parameters and the functions that give them meaning in
the object's own coordinates: ``shape_sdf`` (where the outline is) and ``texture_weight``
(where the texture shows its second colour). ``vidclass.synth.render`` rasterises them into
sprites; the smooth patterns (``smooth_square``, ``value_noise``) also pattern its backgrounds.

Object coordinates ("local"): the object fits in the unit disc, x to the right, y down.

The ``sample_*`` functions draw parameters from the generator they are given; every other
function is a pure function of its parameters: any randomness it needs comes from a ``seed``
stored in them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SHAPES = ("circle", "ellipse", "polygon", "star", "rect", "cross", "blob")
TEXTURES = ("solid", "stripes", "checker", "gradient", "radial", "dots", "noise")


# --------------------------------------------------------------------------- shapes


def shape_sdf(shape: dict[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Approximate signed distance to the shape's outline, in local units (< 0 inside)."""
    kind = shape["kind"]
    r = np.hypot(x, y)
    phi = np.arctan2(y, x)
    if kind == "circle":
        return r - shape["radius"]
    if kind == "ellipse":
        a, b = shape["a"], shape["b"]
        return (np.hypot(x / a, y / b) - 1.0) * min(a, b)
    if kind == "polygon":
        n, radius = shape["sides"], shape["radius"]
        sector = 2 * math.pi / n
        local = np.mod(phi, sector) - sector / 2
        return r * np.cos(local) - radius * math.cos(sector / 2)
    if kind == "star":
        n, outer, inner = shape["points"], shape["radius"], shape["inner"]
        sector = 2 * math.pi / n
        t = np.abs(np.mod(phi, sector) / sector * 2 - 1)  # 1 at a tip, 0 between tips
        return (r - outer * (inner + (1 - inner) * t)) * 0.6
    if kind == "rect":
        return np.maximum(np.abs(x) - shape["a"], np.abs(y) - shape["b"])
    if kind == "cross":
        length, width = shape["length"], shape["width"]
        d1 = np.maximum(np.abs(x) - length, np.abs(y) - width)
        d2 = np.maximum(np.abs(x) - width, np.abs(y) - length)
        return np.minimum(d1, d2)
    if kind == "blob":
        radius = np.full_like(r, shape["radius"])
        for k, (amp, phase) in enumerate(zip(shape["amps"], shape["phases"], strict=True), start=2):
            radius = radius + shape["radius"] * amp * np.cos(k * phi + phase)
        return (r - radius) * 0.8
    raise ValueError(f"unknown shape {kind!r}")


def sample_shape(rng: np.random.Generator) -> dict[str, Any]:
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    if kind == "circle":
        return {"kind": kind, "radius": 0.92}
    if kind == "ellipse":
        return {"kind": kind, "a": 0.92, "b": float(rng.uniform(0.45, 0.75))}
    if kind == "polygon":
        return {"kind": kind, "sides": int(rng.integers(3, 7)), "radius": 0.92}
    if kind == "star":
        return {"kind": kind, "points": int(rng.integers(4, 7)), "radius": 0.94, "inner": float(rng.uniform(0.4, 0.6))}
    if kind == "rect":
        alpha = float(rng.uniform(math.radians(22), math.radians(45)))
        return {"kind": kind, "a": 0.9 * math.cos(alpha), "b": 0.9 * math.sin(alpha)}
    if kind == "cross":
        width = float(rng.uniform(0.2, 0.32))
        return {"kind": kind, "width": width, "length": math.sqrt(0.92**2 - width**2)}
    amps = rng.uniform(0.0, 0.1, size=3)
    return {
        "kind": "blob",
        "radius": 0.7,
        "amps": [float(a) for a in amps],
        "phases": [float(p) for p in rng.uniform(0, 2 * math.pi, size=3)],
    }


def _shape_extent(shape: dict[str, Any], angle: float) -> float:
    """How far the shape reaches from its centre along ``angle`` (local units)."""
    t = np.linspace(0.0, 1.0, 101)
    inside = shape_sdf(shape, t * math.cos(angle), t * math.sin(angle)) < 0
    return float(t[inside].max()) if inside.any() else 0.0


# --------------------------------------------------------------------------- textures & colours


def smooth_square(v: np.ndarray, sharpness: float = 3.0) -> np.ndarray:
    """A soft square wave in [0, 1] from a sine's value (band-limited, so mip-mapping works)."""
    return np.clip(0.5 + sharpness * 0.5 * v, 0.0, 1.0)


def value_noise(seed: int, cells: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Smooth noise in [0, 1]: a random ``(cells+1)²`` grid, bilinearly interpolated.

    ``x`` and ``y`` are in [0, 1]."""
    grid = np.random.default_rng(seed).random((cells + 1, cells + 1))
    gx = np.clip(x, 0, 1) * cells
    gy = np.clip(y, 0, 1) * cells
    ix = np.minimum(gx.astype(np.int64), cells - 1)
    iy = np.minimum(gy.astype(np.int64), cells - 1)
    fx = gx - ix
    fy = gy - iy
    fx = fx * fx * (3 - 2 * fx)  # smoothstep: no creases along the grid lines
    fy = fy * fy * (3 - 2 * fy)
    top = grid[iy, ix] * (1 - fx) + grid[iy, ix + 1] * fx
    bottom = grid[iy + 1, ix] * (1 - fx) + grid[iy + 1, ix + 1] * fx
    return top * (1 - fy) + bottom * fy


def texture_weight(texture: dict[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Where the texture shows colour 2 instead of colour 1, in [0, 1] (local coordinates)."""
    kind = texture["kind"]
    if kind == "solid":
        return np.zeros_like(x)
    angle = texture.get("angle", 0.0)
    u = x * math.cos(angle) + y * math.sin(angle)
    v = -x * math.sin(angle) + y * math.cos(angle)
    freq = texture.get("freq", 1.0)
    if kind == "stripes":
        return smooth_square(np.sin(2 * math.pi * freq * u + texture["phase"]))
    if kind == "checker":
        return smooth_square(np.sin(2 * math.pi * freq * u) * np.sin(2 * math.pi * freq * v), 4.0)
    if kind == "gradient":
        return np.clip((u + 1) / 2, 0, 1)
    if kind == "radial":
        cx, cy = texture["centre"]
        return np.clip(np.hypot(x - cx, y - cy) / 1.4, 0, 1)
    if kind == "dots":
        fu = np.mod(u * freq, 1.0) - 0.5
        fv = np.mod(v * freq, 1.0) - 0.5
        d = np.hypot(fu, fv) - texture["size"]
        return np.clip(0.5 - d * 6.0, 0, 1)
    if kind == "noise":
        return value_noise(texture["seed"], 4, (x + 1) / 2, (y + 1) / 2)
    raise ValueError(f"unknown texture {kind!r}")


def sample_texture(rng: np.random.Generator) -> dict[str, Any]:
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    angle = float(rng.uniform(0, math.pi))
    if kind == "solid":
        return {"kind": kind}
    if kind == "stripes":
        return {
            "kind": kind,
            "angle": angle,
            "freq": float(rng.uniform(1.0, 2.5)),
            "phase": float(rng.uniform(0, 2 * math.pi)),
        }
    if kind == "checker":
        return {"kind": kind, "angle": angle, "freq": float(rng.uniform(0.6, 1.4))}
    if kind == "gradient":
        return {"kind": kind, "angle": float(rng.uniform(0, 2 * math.pi))}
    if kind == "radial":
        return {"kind": kind, "centre": [float(c) for c in rng.uniform(-0.5, 0.5, size=2)]}
    if kind == "dots":
        return {
            "kind": kind,
            "angle": angle,
            "freq": float(rng.uniform(1.5, 2.5)),
            "size": float(rng.uniform(0.15, 0.3)),
        }
    return {"kind": "noise", "seed": int(rng.integers(2**31))}


def colour_distance(a: Any, b: Any) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def sample_colour(rng: np.random.Generator, far_from: list[Any], min_distance: float, tries: int = 48) -> list[float]:
    """A random RGB colour (0..255) at least ``min_distance`` from every colour in ``far_from``.

    Takes the first of ``tries`` uniform draws that qualifies, else the farthest of them."""
    best: np.ndarray | None = None
    best_d = -1.0
    for _ in range(tries):
        c = rng.uniform(0, 255, size=3)
        d = min((colour_distance(c, f) for f in far_from), default=math.inf)
        if d >= min_distance:
            return [float(v) for v in c]
        if d > best_d:
            best, best_d = c, d
    if best is None:
        raise ValueError("sample_colour needs tries >= 1")
    return [float(v) for v in best]


def sample_palette(rng: np.random.Generator, far_from: list[Any]) -> dict[str, list[float]]:
    """Object colours: two texture colours far from the background, and a marker colour."""
    c1 = sample_colour(rng, far_from, 110.0)
    c2 = sample_colour(rng, [*far_from, c1], 70.0)
    mark = sample_colour(rng, [c1, c2], 90.0)
    return {"colour1": c1, "colour2": c2, "mark": mark}


def sample_look(rng: np.random.Generator, far_from: list[Any]) -> dict[str, Any]:
    """An object's appearance: shape, texture, palette and an off-centre mark.

    The mark (a small disc well inside the outline) breaks every rotational symmetry, so a
    rotation is visible whatever the shape and texture."""
    shape = sample_shape(rng)
    texture = sample_texture(rng)
    palette = sample_palette(rng, far_from)
    mark_angle = float(rng.uniform(0, 2 * math.pi))
    extent = _shape_extent(shape, mark_angle)
    mark = {
        "angle": mark_angle,
        "distance": extent * float(rng.uniform(0.45, 0.6)),
        "radius": min(0.24, extent * 0.3) * float(rng.uniform(0.75, 1.0)),
    }
    return {"shape": shape, "texture": texture, "palette": palette, "mark": mark}


__all__ = [
    "SHAPES",
    "TEXTURES",
    "sample_look",
    "sample_palette",
    "shape_sdf",
    "smooth_square",
    "texture_weight",
    "value_noise",
]
