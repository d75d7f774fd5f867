"""Drawing for the synthetic benchmark: sprites, backgrounds, compositing.

Everything is vectorised numpy on float32 images in 0..255. An object's look (its parameters
and their meaning in local coordinates, from ``vidclass.synth.looks``) is pre-rendered into a
mip-mapped ``Sprite``; objects are drawn by inverse mapping: each screen pixel in the object's
bounding box is mapped back into the object's own coordinates (rotation, scale, translation)
and the sprite is sampled there with trilinear filtering (bilinear within a mip level, blended
between two levels), so sub-pixel motion, slow rotation and smooth scaling render without
popping or shimmer.

Object coordinates ("local"): the object fits in the unit disc, x to the right, y down.
Screen coordinates: pixel ``(row i, column j)`` has its centre at ``(x, y) = (j + 0.5, i + 0.5)``.
An object at angle ``theta`` shows its local point ``(1, 0)`` at screen direction
``(cos theta, sin theta)``; since screen y points down, increasing ``theta`` turns the object
clockwise as seen on screen.

``sample_background`` draws a background's parameters from the generator it is given; every
other function is a pure function of its (JSON-serialisable) parameters: any randomness it
needs comes from a ``seed`` stored in those parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vidclass.synth.looks import shape_sdf, smooth_square, texture_weight, value_noise

BACKGROUNDS = ("solid", "gradient", "stripes", "checker", "noise", "blobs")

_F = np.float32


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
    patch = _sprite_patch(sprite, cx, cy, radius, angle, canvas.shape[0], canvas.shape[1])
    if patch is None:
        return
    x0, y0, rgba = patch
    region = canvas[y0 : y0 + rgba.shape[0], x0 : x0 + rgba.shape[1]]
    region *= 1 - rgba[..., 3:4]
    region += rgba[..., :3]


def sprite_box(
    sprite: Sprite, cx: float, cy: float, radius: float, angle: float, height: int, width: int, coverage: float
) -> tuple[int, int, int, int] | None:
    """The pixels that ``draw_sprite`` with these arguments covers by at least ``coverage``
    (its alpha, 0..1) on a ``height × width`` canvas, as the box ``(x0, y0, x1, y1)`` of
    ``canvas[y0:y1, x0:x1]``; None where it covers no pixel that much (off the canvas, or
    too small)."""
    patch = _sprite_patch(sprite, cx, cy, radius, angle, height, width)
    if patch is None:
        return None
    x0, y0, rgba = patch
    covered = rgba[..., 3] >= coverage
    rows = np.flatnonzero(covered.any(axis=1))
    cols = np.flatnonzero(covered.any(axis=0))
    if rows.size == 0:
        return None
    return x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1


def _sprite_patch(
    sprite: Sprite, cx: float, cy: float, radius: float, angle: float, h: int, w: int
) -> tuple[int, int, np.ndarray] | None:
    """The sprite as drawn on an ``h × w`` canvas: ``(x0, y0, rgba)``, the premultiplied RGBA
    of the canvas pixels from ``(x0, y0)`` on that it may touch; None where it touches none."""
    if radius <= 0.05:
        return None
    x0, x1 = max(math.floor(cx - radius - 1), 0), min(math.ceil(cx + radius + 1), w)
    y0, y1 = max(math.floor(cy - radius - 1), 0), min(math.ceil(cy + radius + 1), h)
    if x0 >= x1 or y0 >= y1:
        return None
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
    return x0, y0, rgba


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
    offset *= rng.uniform(20, 60) / max(float(np.linalg.norm(offset)), 1e-9)
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
        w = smooth_square(s, 2.0)
    elif kind == "noise":
        w = value_noise(bg["seed"], bg["cells"], x / (width + 2 * margin), y / (height + 2 * margin))
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
    "Sprite",
    "draw_sprite",
    "render_background",
    "render_sprite",
    "sample_background",
    "shifted_crop",
    "sprite_box",
]
