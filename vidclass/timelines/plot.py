"""A timeline as a picture: the best classes' probability over time, and the segments under it.

``plot`` writes a PNG of ``WIDTH`` x ``HEIGHT`` pixels, drawn with Pillow:

- a title at the top;
- the curves: for each of the ``top_k`` classes with the highest peak probability over the
  windows (ties: the higher mean, then the label first in ``labels``), its probability in
  each window at the window's centre, joined by lines, on a 0 to 1 scale; a legend to the right
  names them, each in its colour, then the bar's other labels (background last; past the
  legend's 12 rows, the last row says how many more);
- under the curves, the segment bar: each segment a block in its label's colour (background
  light grey), named inside where the name fits;
- under the bar, ticks in seconds at a round step.

The time axis is shared: time ``t`` is at pixel column ``PLOT_LEFT + round(t / duration *
PLOT_WIDTH)`` (``duration``: the last segment's end, or the last window's end without
segments). A segment from ``a`` to ``b`` fills the columns from ``a``'s to the one before
``b``'s, so the bar changes colour exactly at a boundary's column. A class's curve and its
segments share a colour; a segment whose label is not among the curves gets the next free
colour, never the colour of the segment before it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from vidclass.timelines.segments import Segment, TimelineError, WindowScores

WIDTH, HEIGHT = 960, 360
PLOT_LEFT, PLOT_TOP, PLOT_WIDTH, PLOT_HEIGHT = 48, 40, 700, 240
BAR_TOP, BAR_HEIGHT = PLOT_TOP + PLOT_HEIGHT + 8, 28  # the segment bar: rows 288 to 315
LEGEND_LEFT = PLOT_LEFT + PLOT_WIDTH + 16
LEGEND_ROWS = 12  # rows of 20 pixels beside the curves
MAX_TOP_K = 10  # curves the legend has room for (two rows stay for the bar's other labels)
MAX_LABEL_CHARS = 24
BACKGROUND = (220, 220, 220)
PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (0, 0, 128),
    (128, 64, 0),
    (0, 128, 96),
    (160, 0, 80),
    (96, 96, 0),
    (64, 0, 160),
]


def top_classes(windows: Sequence[WindowScores], k: int) -> list[int]:
    """The indices of the ``k`` classes with the highest peak probability (ties: the higher
    mean, then the lower index), best first."""
    if not windows:
        return []
    probs = np.stack([np.asarray(w.probs, dtype=np.float64) for w in windows])
    peak, mean = probs.max(axis=0), probs.mean(axis=0)
    order = sorted(range(probs.shape[1]), key=lambda i: (-peak[i], -mean[i], i))
    return order[:k]


def column(t: float, duration: float) -> int:
    """The pixel column of time ``t`` on the shared time axis."""
    return PLOT_LEFT + round(t / duration * PLOT_WIDTH) if duration > 0 else PLOT_LEFT


def colours(curves: Sequence[str], segments: Sequence[Segment]) -> dict[str | None, tuple[int, int, int]]:
    """Each label's colour: the curves' in order, then the segments' labels as they come, each
    the next palette colour that differs from the segment before it's (background grey)."""
    out: dict[str | None, tuple[int, int, int]] = {None: BACKGROUND}
    for k, label in enumerate(curves):
        out[label] = PALETTE[k % len(PALETTE)]
    turn = len(curves)
    previous: tuple[int, int, int] | None = None
    for seg in segments:
        if seg.label not in out:
            while PALETTE[turn % len(PALETTE)] == previous:
                turn += 1
            out[seg.label] = PALETTE[turn % len(PALETTE)]
            turn += 1
        previous = out[seg.label]
    return out


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # old Pillow or no FreeType: the bitmap font
        return ImageFont.load_default()


def _clip(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _step(duration: float) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving at most 10 ticks."""
    raw = max(duration / 10, 1e-3)
    power = 10.0 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _seconds(t: float, step: float) -> str:
    digits = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{t:.{digits}f}"


def render(
    windows: Sequence[WindowScores],
    segments: Sequence[Segment],
    labels: Sequence[str],
    top_k: int = 3,
    title: str = "",
) -> Any:
    """The picture ``plot`` writes, as a Pillow image."""
    from PIL import Image, ImageDraw

    if not 1 <= top_k <= MAX_TOP_K:
        raise TimelineError(f"top_k {top_k} is outside [1, {MAX_TOP_K}]")
    duration = segments[-1].end if segments else max((w.end for w in windows), default=0.0)
    curves = top_classes(windows, min(top_k, len(labels)))
    palette = colours([labels[i] for i in curves], segments)
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    small, text_font = _font(11), _font(12)
    draw.text((PLOT_LEFT, 12), title or "timeline", fill="black", font=_font(16))

    bottom, right = PLOT_TOP + PLOT_HEIGHT, PLOT_LEFT + PLOT_WIDTH
    for p in (0.0, 0.5, 1.0):  # probability grid and ticks
        y = bottom - round(p * PLOT_HEIGHT)
        draw.line([(PLOT_LEFT, y), (right, y)], fill=(230, 230, 230))
        draw.text((PLOT_LEFT - 6, y), f"{p:g}", fill="black", font=small, anchor="rm")
    step = _step(duration)
    for n in range(int(duration / step + 1e-9) + 1 if duration > 0 else 1):
        x = column(n * step, duration)
        draw.line([(x, PLOT_TOP), (x, bottom)], fill=(240, 240, 240))
        draw.line([(x, BAR_TOP + BAR_HEIGHT), (x, BAR_TOP + BAR_HEIGHT + 4)], fill="black")
        draw.text((x, BAR_TOP + BAR_HEIGHT + 6), _seconds(n * step, step), fill="black", font=small, anchor="mt")
    draw.text((right, BAR_TOP + BAR_HEIGHT + 24), "seconds", fill=(60, 60, 60), font=small, anchor="rt")
    draw.rectangle([PLOT_LEFT, PLOT_TOP, right, bottom], outline=(120, 120, 120))

    for rank, i in enumerate(curves):  # the curves and the legend, best first
        colour = palette[labels[i]]
        points = [(column(w.centre, duration), bottom - float(w.probs[i]) * PLOT_HEIGHT) for w in windows]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for px, py in points:
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)
        row = PLOT_TOP + 8 + rank * 20
        draw.rectangle([LEGEND_LEFT, row - 5, LEGEND_LEFT + 14, row + 5], fill=colour)
        draw.text((LEGEND_LEFT + 20, row), _clip(labels[i]), fill="black", font=text_font, anchor="lm")
    shown = {labels[i] for i in curves}
    bar_only = list(dict.fromkeys(seg.label for seg in segments if seg.label not in shown))
    bar_only.sort(key=lambda label: label is None)  # background last
    room = LEGEND_ROWS - len(curves)
    if len(bar_only) > room:  # the last row says how many more
        bar_only, more = bar_only[: room - 1], len(bar_only) - (room - 1)
    else:
        more = 0
    for rank, label in enumerate(bar_only, start=len(curves)):  # the bar's other labels
        row = PLOT_TOP + 8 + rank * 20
        draw.rectangle([LEGEND_LEFT, row - 5, LEGEND_LEFT + 14, row + 5], fill=palette[label])
        name = "background" if label is None else _clip(label)
        draw.text((LEGEND_LEFT + 20, row), name, fill="black", font=text_font, anchor="lm")
    if more:
        row = PLOT_TOP + 8 + (LEGEND_ROWS - 1) * 20
        draw.text((LEGEND_LEFT + 20, row), f"+{more} more in the bar", fill="black", font=text_font, anchor="lm")

    for seg in segments:  # the bar
        a, b = column(seg.start, duration), column(seg.end, duration)
        if b <= a:
            continue
        colour = palette[seg.label]
        draw.rectangle([a, BAR_TOP, b - 1, BAR_TOP + BAR_HEIGHT - 1], fill=colour)
        name = _clip(seg.label) if seg.label is not None else ""
        if name and draw.textlength(name, font=small) + 6 <= b - a:
            ink = "white" if sum(colour) < 400 else "black"
            draw.text(((a + b) / 2, BAR_TOP + BAR_HEIGHT / 2), name, fill=ink, font=small, anchor="mm")
    return image


def plot(
    windows: Sequence[WindowScores],
    segments: Sequence[Segment],
    labels: Sequence[str],
    path: str | os.PathLike[str],
    top_k: int = 3,
    title: str = "",
) -> None:
    """Write the timeline's picture (the module's docstring has what it shows) to ``path`` as a
    PNG, through a temporary file renamed into place."""
    image = render(windows, segments, labels, top_k=top_k, title=title)
    target = os.fspath(path)
    tmp = f"{target}.tmp{os.getpid()}"
    try:
        image.save(tmp, format="PNG", optimize=True)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


__all__ = ["HEIGHT", "PLOT_LEFT", "PLOT_WIDTH", "WIDTH", "column", "plot", "render", "top_classes"]
