"""The per-class average precision of a multi-label evaluation as a horizontal bar chart (Pillow),
drawn in the style of ``confusion.png`` (``reports.py``'s fonts, clipping and blues).

One bar per class that has an AP (classes without a positive have none and are left out), best
first, ties in model order. A bar's length is its AP: an AP of 1.0 fills the full bar width
(``BAR_WIDTH`` pixels); its shade darkens with the AP. A vertical line marks the mean of the
drawn APs (the mAP), and light lines mark 0.25, 0.5, 0.75 and 1. Class names (clipped to
``MAX_LABEL_CHARS``) label the bars up to ``MAX_NAMED_BARS`` classes, and values while bars are
tall enough; beyond that the bars are drawn without names, thinner, down to 2 pixels a class.
The same input draws the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vidclass.evaluation.reports import _PAD, _TITLE, MAX_LABEL_CHARS, _clip, _font, _shade

if TYPE_CHECKING:
    from PIL import Image

BAR_WIDTH = 500  # pixels of a bar whose AP is 1.0
MAX_NAMED_BARS = 200  # classes up to which the bars carry their names (Charades has 157)
_ROWS_HEIGHT = 2400  # the bars' total height once there are more than 100 of them
_VALUE_W, _AXIS, _MEAN_H, _GAP = 52, 36, 16, 6
_GRID, _AXIS_LINE, _MEAN = (225, 225, 225), (120, 120, 120), (200, 80, 40)


def ap_chart_bars(labels: Sequence[str], aps: Sequence[float | None]) -> list[tuple[str, float]]:
    """The (label, AP) pairs the chart draws, top to bottom: classes with an AP, best first, ties in
    model order. ValueError when the lengths differ or an AP is not a number in [0, 1]."""
    if len(labels) != len(aps):
        raise ValueError(f"{len(labels)} labels for {len(aps)} APs")
    bars = []
    for label, ap in zip(labels, aps, strict=True):
        if ap is None:
            continue
        if isinstance(ap, bool) or not isinstance(ap, (int, float)) or not 0.0 <= ap <= 1.0:
            raise ValueError(f"AP of {label!r} must be a number in [0, 1] or None, not {ap!r}")
        bars.append((str(label), float(ap)))
    order = sorted(range(len(bars)), key=lambda i: (-bars[i][1], i))
    return [bars[i] for i in order]


def ap_chart_layout(n: int) -> dict[str, int]:
    """Row pitch, bar thickness and font size for ``n`` bars."""
    named = n <= MAX_NAMED_BARS
    row = 24 if n <= 100 else max(2, _ROWS_HEIGHT // n)
    if named:
        row = max(row, 12)
    gap = row // 5 if row >= 5 else 0
    return {
        "row": row,
        "bar_height": row - gap,
        "bar_offset": gap // 2,
        "font": max(7, min(14, round(row * 0.7))),
        "show_labels": int(named),
        "show_values": int(row >= 10),
    }


def ap_chart_geometry(names: Sequence[str], title: str = "") -> dict[str, int]:
    """Where ``render_ap_chart`` puts things for bars named ``names`` (top to bottom): the picture's
    ``width`` and ``height``, the bars' left edge ``left`` (AP 0) and the top of the first row
    ``top``; bar k spans rows ``top + k * row + bar_offset`` onwards for ``bar_height`` pixels."""
    from PIL import Image, ImageDraw

    n = len(names)
    geo = ap_chart_layout(n)
    font = _font(geo["font"])
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    shown = [_clip(name) for name in names] if geo["show_labels"] else []
    label_w = max((int(measure.textbbox((0, 0), name, font=font)[2]) for name in shown), default=0)
    title_w = int(measure.textbbox((0, 0), title or _DEFAULT_TITLE, font=_font(16))[2])
    left = _PAD + label_w + (_GAP if shown else 0)
    top = _PAD + _TITLE + _MEAN_H
    rows = max(n, 1) * geo["row"]
    return {
        **geo,
        "label_width": label_w,
        "left": left,
        "top": top,
        "rows": rows,
        "width": max(left + BAR_WIDTH + _VALUE_W + _PAD, title_w + 2 * _PAD),
        "height": top + rows + _AXIS + _PAD,
    }


_DEFAULT_TITLE = "average precision per class"


def render_ap_chart(labels: Sequence[str], aps: Sequence[float | None], title: str = "") -> Image.Image:
    """A Pillow image of the per-class APs (``aps[k]`` is class ``labels[k]``'s AP, None without
    positives); ``title`` heads it."""
    from PIL import Image, ImageDraw

    bars = ap_chart_bars(labels, aps)
    names = [name for name, _ in bars]
    geo = ap_chart_geometry(names, title)
    left, top, row, rows = geo["left"], geo["top"], geo["row"], geo["rows"]
    font, tick_font = _font(geo["font"]), _font(11)
    image = Image.new("RGB", (geo["width"], geo["height"]), "white")
    draw = ImageDraw.Draw(image)
    draw.text((_PAD, _PAD), title or _DEFAULT_TITLE, fill="black", font=_font(16))

    for tick in (0.25, 0.5, 0.75, 1.0):
        x = left + round(tick * BAR_WIDTH) - 1
        draw.line((x, top, x, top + rows - 1), fill=_GRID)
    if bars:
        mean = math.fsum(ap for _, ap in bars) / len(bars)
        x = left + max(round(mean * BAR_WIDTH) - 1, 0)
        draw.line((x, top - 4, x, top + rows - 1), fill=_MEAN)
        draw.text((x, top - 5), f"mean {mean:.3f}", fill=_MEAN, font=tick_font, anchor="mb")
    else:
        draw.text((left + 4, top + row / 2), "no class has a positive", fill=_AXIS_LINE, font=font, anchor="lm")

    for k, (name, ap) in enumerate(bars):
        y0 = top + k * row + geo["bar_offset"]
        length = max(1, round(ap * BAR_WIDTH))
        draw.rectangle((left, y0, left + length - 1, y0 + geo["bar_height"] - 1), fill=_shade(0.5 + ap / 2))
        middle = top + k * row + row / 2
        if geo["show_values"]:
            draw.text((left + length + 4, middle), f"{ap:.3f}", fill="black", font=font, anchor="lm")
        if geo["show_labels"]:
            draw.text((left - _GAP, middle), _clip(name), fill="black", font=font, anchor="rm")

    draw.line((left - 1, top, left - 1, top + rows - 1), fill=_AXIS_LINE)
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = left + max(round(tick * BAR_WIDTH) - 1, 0)
        draw.text((x, top + rows + 3), f"{tick:g}", fill="black", font=tick_font, anchor="mt")
    caption = (left + BAR_WIDTH / 2, top + rows + _AXIS - 2)
    draw.text(caption, "average precision", fill=(60, 60, 60), font=_font(13), anchor="mb")
    return image


__all__ = [
    "BAR_WIDTH",
    "MAX_LABEL_CHARS",
    "MAX_NAMED_BARS",
    "ap_chart_bars",
    "ap_chart_geometry",
    "ap_chart_layout",
    "render_ap_chart",
]
