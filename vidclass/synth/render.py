"""Drawing for the synthetic benchmark: objects (sprites), backgrounds, compositing.

Everything is vectorised numpy on float32 images in 0..255. Objects are drawn by inverse
mapping: each screen pixel in the object's bounding box is mapped back into the object's own
coordinates (rotation, scale, translation) and the object's pre-rendered sprite is sampled
there with trilinear filtering (bilinear within a mip level, blended between two levels), so
sub-pixel motion, slow rotation and smooth scaling render without popping or shimmer.

Object coordinates ("local"): the object fits in the unit disc, x to the right, y down.
Screen coordinates: pixel ``(row i, column j)`` has its centre at ``(x, y) = (j + 0.5, i + 0.5)``.
An object at angle ``theta`` shows its local point ``(1, 0)`` at screen direction
``(cos theta, sin theta)``; since screen y points down, increasing ``theta`` turns the object
clockwise as seen on screen.

Every function here is a pure function of its (JSON-serialisable) parameters: any randomness
they need comes from a ``seed`` stored in those parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SHAPES = ("circle", "ellipse", "polygon", "star", "rect", "cross", "blob")
TEXTURES = ("solid", "stripes", "checker", "gradient", "radial", "dots", "noise")
BACKGROUNDS = ("solid", "gradient", "stripes", "checker", "noise", "blobs")

_F = np.float32


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


def _smooth_square(v: np.ndarray, sharpness: float = 3.0) -> np.ndarray:
    """A soft square wave in [0, 1] from a sine's value (band-limited, so mip-mapping works)."""
    return np.clip(0.5 + sharpness * 0.5 * v, 0.0, 1.0)


def _value_noise(seed: int, cells: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
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
        return _smooth_square(np.sin(2 * math.pi * freq * u + texture["phase"]))
    if kind == "checker":
        return _smooth_square(np.sin(2 * math.pi * freq * u) * np.sin(2 * math.pi * freq * v), 4.0)
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
        return _value_noise(texture["seed"], 4, (x + 1) / 2, (y + 1) / 2)
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
    best, best_d = None, -1.0
    for _ in range(tries):
        c = rng.uniform(0, 255, size=3)
        d = min((colour_distance(c, f) for f in far_from), default=math.inf)
        if d >= min_distance:
            return [float(v) for v in c]
        if d > best_d:
            best, best_d = c, d
    return [float(v) for v in best]  # type: ignore[union-attr]


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


# --------------------------------------------------------------------------- sprites


class Sprite:
    """A pre-rendered object: premultiplied RGBA mip levels, each padded by one clear pixel."""

    def __init__(self, look: dict[str, Any], max_radius_px: float, palette: dict[str, Any] | None = None) -> None:
        size = 16
        while size < 2 * max_radius_px and size < 512:
            size *= 2
        rgba = render_sprite(look, size, palette)
        self.levels: list[np.ndarray] = []
        self.sizes: list[int] = []
        while True:
            self.levels.append(np.pad(rgba, ((1, 1), (1, 1), (0, 0))))
            self.sizes.append(rgba.shape[0])
            if rgba.shape[0] <= 4:
                break
            h = rgba.shape[0] // 2
            rgba = rgba.reshape(h, 2, h, 2, 4).mean(axis=(1, 3), dtype=np.float32)


def render_sprite(look: dict[str, Any], size: int, palette: dict[str, Any] | None = None) -> np.ndarray:
    """The object on a ``size``² grid covering local [-1, 1]², premultiplied RGBA float32.

    RGB is in 0..255 (premultiplied by alpha), alpha in 0..1; edges are anti-aliased."""
    palette = palette or look["palette"]
    c = (np.arange(size, dtype=np.float64) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(c, c)
    pixel = 2.0 / size
    alpha = np.clip(0.5 - shape_sdf(look["shape"], x, y) / pixel, 0, 1)
    w = texture_weight(look["texture"], x, y)[..., None]
    rgb = np.asarray(palette["colour1"]) * (1 - w) + np.asarray(palette["colour2"]) * w
    mark = look["mark"]
    mx = mark["distance"] * math.cos(mark["angle"])
    my = mark["distance"] * math.sin(mark["angle"])
    m = np.clip(0.5 - (np.hypot(x - mx, y - my) - mark["radius"]) / pixel, 0, 1)[..., None]
    rgb = rgb * (1 - m) + np.asarray(palette["mark"]) * m
    out = np.empty((size, size, 4), dtype=_F)
    out[..., :3] = rgb * alpha[..., None]
    out[..., 3] = alpha
    return out


def _bilinear(img: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Sample ``img`` (h, w, C) at fractional pixel indices; beyond the edges: edge values."""
    h, w = img.shape[:2]
    px = np.clip(px, 0, w - 1.0001)
    py = np.clip(py, 0, h - 1.0001)
    ix = px.astype(np.int32)
    iy = py.astype(np.int32)
    fx = (px - ix)[..., None].astype(_F)
    fy = (py - iy)[..., None].astype(_F)
    top = img[iy, ix] * (1 - fx) + img[iy, ix + 1] * fx
    bottom = img[iy + 1, ix] * (1 - fx) + img[iy + 1, ix + 1] * fx
    return top * (1 - fy) + bottom * fy


def draw_sprite(canvas: np.ndarray, sprite: Sprite, cx: float, cy: float, radius: float, angle: float) -> None:
    """Composite ``sprite`` onto ``canvas`` (H, W, 3 float32) in place: centre ``(cx, cy)``,
    on-screen radius ``radius`` px, rotated by ``angle`` radians (clockwise on screen)."""
    h, w = canvas.shape[:2]
    if radius <= 0.05:
        return
    x0, x1 = max(math.floor(cx - radius - 1), 0), min(math.ceil(cx + radius + 1), w)
    y0, y1 = max(math.floor(cy - radius - 1), 0), min(math.ceil(cy + radius + 1), h)
    if x0 >= x1 or y0 >= y1:
        return
    dx = (np.arange(x0, x1, dtype=np.float64) + 0.5 - cx)[None, :]
    dy = (np.arange(y0, y1, dtype=np.float64) + 0.5 - cy)[:, None]
    cos, sin = math.cos(angle), math.sin(angle)
    lx = (cos * dx + sin * dy) / radius
    ly = (-sin * dx + cos * dy) / radius
    # Texels per screen pixel at level 0 decides the mip level (trilinear between two).
    level = min(max(math.log2(max(sprite.sizes[0] / (2 * radius), 1e-9)), 0.0), len(sprite.levels) - 1.0)
    l0 = int(level)
    frac = level - l0
    rgba = _sample_level(sprite, l0, lx, ly)
    if frac > 1e-3 and l0 + 1 < len(sprite.levels):
        rgba = rgba * _F(1 - frac) + _sample_level(sprite, l0 + 1, lx, ly) * _F(frac)
    region = canvas[y0:y1, x0:x1]
    region *= 1 - rgba[..., 3:4]
    region += rgba[..., :3]


def _sample_level(sprite: Sprite, level: int, lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    size = sprite.sizes[level]
    # local -1..1 -> pixel index in the padded level (pixel k's centre at local -1 + (k+.5)*2/size)
    px = (lx + 1) * (size / 2) - 0.5 + 1
    py = (ly + 1) * (size / 2) - 0.5 + 1
    return _bilinear(sprite.levels[level], px, py)


# --------------------------------------------------------------------------- backgrounds


def sample_background(rng: np.random.Generator, short: int) -> dict[str, Any]:
    """A static background: two nearby colours mixed by a pattern (low contrast, so objects
    stand out). Scales are in pixels, relative to the frame's short side."""
    kind = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    c0 = rng.uniform(0, 255, size=3)
    offset = rng.normal(size=3)
    offset *= rng.uniform(20, 60) / max(np.linalg.norm(offset), 1e-9)
    c1 = np.clip(c0 + offset, 0, 255)
    bg: dict[str, Any] = {"kind": kind, "colour0": [float(v) for v in c0], "colour1": [float(v) for v in c1]}
    if kind == "gradient":
        bg["angle"] = float(rng.uniform(0, 2 * math.pi))
    elif kind in ("stripes", "checker"):
        bg["angle"] = float(rng.uniform(0, math.pi))
        bg["period"] = float(rng.uniform(0.08, 0.4) * short)
        bg["phase"] = float(rng.uniform(0, 2 * math.pi))
    elif kind == "noise":
        bg["cells"] = int(rng.integers(2, 9))
        bg["seed"] = int(rng.integers(2**31))
    elif kind == "blobs":
        n = int(rng.integers(3, 9))
        bg["blobs"] = [
            [float(rng.uniform(0, 1)), float(rng.uniform(0, 1)), float(rng.uniform(0.05, 0.25) * short)]
            for _ in range(n)
        ]
    return bg


def render_background(bg: dict[str, Any], height: int, width: int, margin: int) -> np.ndarray:
    """The background on the frame plus ``margin`` px on every side (room for camera shake)."""
    ys = np.arange(-margin, height + margin, dtype=np.float64) + 0.5
    xs = np.arange(-margin, width + margin, dtype=np.float64) + 0.5
    x, y = np.meshgrid(xs, ys)
    kind = bg["kind"]
    if kind == "solid":
        w = np.zeros_like(x)
    elif kind == "gradient":
        a = bg["angle"]
        u = (x - width / 2) * math.cos(a) + (y - height / 2) * math.sin(a)
        w = np.clip(u / max(width, height) + 0.5, 0, 1)
    elif kind in ("stripes", "checker"):
        a, period = bg["angle"], bg["period"]
        u = x * math.cos(a) + y * math.sin(a)
        v = -x * math.sin(a) + y * math.cos(a)
        s = np.sin(2 * math.pi * u / period + bg["phase"])
        if kind == "checker":
            s = s * np.sin(2 * math.pi * v / period)
        w = _smooth_square(s, 2.0)
    elif kind == "noise":
        w = _value_noise(bg["seed"], bg["cells"], x / (width + 2 * margin), y / (height + 2 * margin))
    elif kind == "blobs":
        w = np.zeros_like(x)
        for bx, by, r in bg["blobs"]:
            d = np.hypot(x - bx * width, y - by * height)
            w = np.maximum(w, np.clip((r - d) / (0.3 * r), 0, 1))
    else:
        raise ValueError(f"unknown background {kind!r}")
    w = w[..., None]
    out = np.asarray(bg["colour0"]) * (1 - w) + np.asarray(bg["colour1"]) * w
    return out.astype(_F)


def shifted_crop(world: np.ndarray, height: int, width: int, ox: float, oy: float) -> np.ndarray:
    """``world[oy:oy+height, ox:ox+width]`` at a fractional offset (bilinear), float32."""
    ix, iy = math.floor(ox), math.floor(oy)
    fx, fy = _F(ox - ix), _F(oy - iy)
    a = world[iy : iy + height, ix : ix + width]
    b = world[iy : iy + height, ix + 1 : ix + 1 + width]
    c = world[iy + 1 : iy + 1 + height, ix : ix + width]
    d = world[iy + 1 : iy + 1 + height, ix + 1 : ix + 1 + width]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


__all__ = [
    "BACKGROUNDS",
    "SHAPES",
    "TEXTURES",
    "Sprite",
    "draw_sprite",
    "render_background",
    "render_sprite",
    "sample_background",
    "sample_look",
    "sample_palette",
    "shape_sdf",
    "shifted_crop",
]
