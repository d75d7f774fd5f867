"""Pictures of an explanation: heat over the frames the model saw, as a PNG grid or an animation.

Everything here works on plain arrays: ``frames`` uint8 (T, s, s, 3), the clip's input frames
as the model saw them (its centre crop, un-normalised), and ``maps`` float (T, R, h, w), one map
per input frame and row over the model's token grid. Each map is scaled by its own maximum, so
a cell shows where that row looks within that frame; the heat is drawn with a perceptually
ordered colour ramp (black, purple, red, yellow) over the frame, which is shown in grey.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CELL = 128  # pixels: crops smaller than this are enlarged (nearest), so a 64 px crop stays crisp
HEAT = 0.6  # how much of a cell's colour comes from the heat ramp (the rest: the frame, in grey)
MARGIN = 4
TITLE_HEIGHT = 18
ROW_LABEL_WIDTH = 84
COLUMN_LABEL_HEIGHT = 14
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)

# (position, RGB) anchors of the heat ramp, linearly interpolated: dark, purple, red, orange, yellow
_RAMP = np.array(
    [
        (0.00, 0, 0, 4),
        (0.25, 87, 16, 110),
        (0.50, 188, 55, 84),
        (0.75, 249, 142, 9),
        (1.00, 252, 255, 164),
    ],
    dtype=np.float64,
)


def heat_colours(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1], any shape -> float RGB in [0, 255], shape + (3,)."""
    clipped = np.clip(values, 0.0, 1.0)
    return np.stack([np.interp(clipped, _RAMP[:, 0], _RAMP[:, c]) for c in (1, 2, 3)], axis=-1)


def cell_size(crop: int) -> int:
    """The side of one picture cell for a ``crop`` px input: enlarged by a whole factor up to ``CELL``."""
    return crop * max(1, math.ceil(CELL / crop))


def overlay(frame: np.ndarray, heat_map: np.ndarray, size: int) -> np.ndarray:
    """One frame (s, s, 3) uint8 with ``heat_map`` (h, w) over it -> uint8 (size, size, 3).

    The frame is enlarged by nearest neighbour and shown in grey; the map is scaled by its
    maximum and enlarged bilinearly, so the heat follows the token grid smoothly without
    inventing detail.
    """
    base = np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.NEAREST), dtype=np.float64)
    peak = float(heat_map.max())
    scaled = heat_map / peak if peak > 0 else np.zeros_like(heat_map)
    grid = Image.fromarray(scaled.astype(np.float32), mode="F").resize((size, size), Image.Resampling.BILINEAR)
    heat = np.asarray(grid, dtype=np.float64)[..., None]  # (size, size, 1)
    grey = base @ np.array([0.299, 0.587, 0.114])  # (size, size): the frame's luminance
    mixed = (1 - HEAT) * grey[..., None] + HEAT * heat_colours(heat[..., 0])
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def _text(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str) -> None:
    """Draw ``text``; a Pillow without FreeType has only a Latin-1 bitmap font: others become ?."""
    try:
        draw.text(xy, text, fill=INK, font=_font())
    except UnicodeEncodeError:
        draw.text(xy, text.encode("latin-1", "replace").decode("latin-1"), fill=INK, font=_font())


def grid_picture(
    frames: np.ndarray,
    maps: np.ndarray,
    title: str,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    columns: Sequence[int],
) -> Image.Image:
    """A grid: one column per entry of ``columns`` (a frame index into ``frames``/``maps``),
    one row per map row; the title across the top, row and column labels at the edges."""
    size = cell_size(frames.shape[1])
    rows = maps.shape[1]
    width = ROW_LABEL_WIDTH + len(columns) * (size + MARGIN) + MARGIN
    height = TITLE_HEIGHT + COLUMN_LABEL_HEIGHT + rows * (size + MARGIN) + MARGIN
    picture = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(picture)
    _text(draw, (MARGIN, 3), title)
    top = TITLE_HEIGHT + COLUMN_LABEL_HEIGHT
    for c, (frame, label) in enumerate(zip(columns, column_labels, strict=True)):
        left = ROW_LABEL_WIDTH + c * (size + MARGIN)
        _text(draw, (left, TITLE_HEIGHT), label)
        for r in range(rows):
            cell = overlay(frames[frame], maps[frame, r], size)
            picture.paste(Image.fromarray(cell), (left, top + r * (size + MARGIN)))
    for r, label in enumerate(row_labels):
        _text(draw, (MARGIN, top + r * (size + MARGIN) + size // 2 - 5), label)
    return picture


def animation_frames(frames: np.ndarray, maps: np.ndarray, title: str) -> list[Image.Image]:
    """One picture per input frame: the frame with its one (combined) map ``maps`` (T, h, w)
    over it, the title above."""
    size = cell_size(frames.shape[1])
    out = []
    for frame, heat_map in zip(frames, maps, strict=True):
        picture = Image.new("RGB", (size, size + TITLE_HEIGHT), BACKGROUND)
        _text(ImageDraw.Draw(picture), (MARGIN, 3), title)
        picture.paste(Image.fromarray(overlay(frame, heat_map, size)), (0, TITLE_HEIGHT))
        out.append(picture)
    return out


def write_animation(pictures: list[Image.Image], path: str | os.PathLike[str], fps: float) -> None:
    """Write ``pictures`` as a GIF (Pillow) or an H.264 MP4 (PyAV), by ``path``'s suffix."""
    suffix = os.fspath(path).lower().rsplit(".", 1)[-1]
    if suffix == "gif":
        duration = max(20, round(1000 / fps))  # ms per frame; browsers slow down anything under 20
        pictures[0].save(path, format="GIF", save_all=True, append_images=pictures[1:], duration=duration, loop=0)
        return
    if suffix != "mp4":
        raise ValueError(f"an animation is .mp4 or .gif, not .{suffix}")
    from fractions import Fraction

    import av

    width, height = pictures[0].size
    rate = Fraction(fps).limit_denominator(1000)
    with av.open(os.fspath(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width + width % 2, height + height % 2  # yuv420p needs even sides
        stream.pix_fmt = "yuv420p"
        for picture in pictures:
            padded = Image.new("RGB", (stream.width, stream.height), BACKGROUND)
            padded.paste(picture, (0, 0))
            for packet in stream.encode(av.VideoFrame.from_image(padded)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


__all__ = ["animation_frames", "cell_size", "grid_picture", "heat_colours", "overlay", "write_animation"]
