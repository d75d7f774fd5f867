"""The report files of an evaluation: ``metrics.json``, ``per_class.csv``, ``confusion.csv``
and ``confusion.png``; a multi-label run's are ``metrics.json``, ``per_class.csv`` (AP, F1,
precision, recall) and ``ap.png`` (per-class AP, ``vidclass.evaluation.ap_chart``). Each is written to a temporary name and renamed into place, so a
reader never sees half a file. The CSV rows are ``vidclass.serialize.csv_row``'s: a label that
starts with ``=``, ``+``, ``-``, ``@``, TAB, CR or ``'`` gets a leading ``'``, so a spreadsheet
runs no formula from it; ``metrics.json`` has ``null`` where a number is not finite.

``confusion.png`` is drawn with Pillow: rows are true classes, columns predicted ones, each
cell shaded by the fraction of its row (so rare classes stay visible) and, while cells are
large enough, labelled with its count. Class names label both axes up to ``MAX_LABELLED``
classes; beyond that the matrix is drawn without names.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

from vidclass.serialize import csv_row, json_dumps

PER_CLASS_COLUMNS = (
    "label",
    "support",
    "correct",
    "accuracy",
    "top5_accuracy",
    "predicted",
    "precision",
    "failed",
    "missing",
)
REPORT_FILES = ("metrics.json", "per_class.csv", "confusion.csv", "confusion.png")
# A multi-label run's: per-class AP, F1, precision and recall, and the AP chart in place of the
# confusion matrix (several labels per video: there is no one confusion).
LABEL_SET_REPORT_FILES = ("metrics.json", "per_class.csv", "ap.png")
LABEL_SET_COLUMNS = ("label", "positives", "ap", "predicted", "true_positives", "precision", "recall", "f1")
MAX_LABELLED = 150  # classes up to which the picture names them
MAX_LABEL_CHARS = 40


def report_files(metrics: dict[str, Any]) -> tuple[str, ...]:
    """The names of the report files ``write_reports`` writes for ``metrics``."""
    return LABEL_SET_REPORT_FILES if metrics.get("multi_label") else REPORT_FILES


def write_reports(metrics: dict[str, Any], directory: str | os.PathLike[str]) -> list[str]:
    """Write the report files into ``directory`` (``report_files``); returns their paths."""
    folder = os.fspath(directory)
    os.makedirs(folder, exist_ok=True)
    if metrics.get("multi_label"):
        return _write_label_set_reports(metrics, folder)
    paths = [os.path.join(folder, name) for name in REPORT_FILES]
    _atomic(paths[0], (json_dumps(metrics, ensure_ascii=False, indent=2) + "\n").encode("utf-8", "surrogateescape"))
    _atomic(paths[1], per_class_csv(metrics).encode("utf-8", "surrogateescape"))
    _atomic(paths[2], confusion_csv(metrics).encode("utf-8", "surrogateescape"))
    image = render_confusion(metrics["confusion"]["labels"], metrics["confusion"]["matrix"], _title(metrics))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    _atomic(paths[3], buffer.getvalue())
    return paths


def _write_label_set_reports(metrics: dict[str, Any], folder: str) -> list[str]:
    from vidclass.evaluation.ap_chart import render_ap_chart

    paths = [os.path.join(folder, name) for name in LABEL_SET_REPORT_FILES]
    _atomic(paths[0], (json_dumps(metrics, ensure_ascii=False, indent=2) + "\n").encode("utf-8", "surrogateescape"))
    _atomic(paths[1], per_class_csv(metrics).encode("utf-8", "surrogateescape"))
    rows = metrics["per_class"]
    image = render_ap_chart([row["label"] for row in rows], [row["ap"] for row in rows], _title(metrics))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    _atomic(paths[2], buffer.getvalue())
    return paths


def per_class_csv(metrics: dict[str, Any]) -> str:
    """One row per class: a single-label run's ``PER_CLASS_COLUMNS`` (and ``ap`` when it saved
    every score), a multi-label run's ``LABEL_SET_COLUMNS``."""
    if metrics.get("multi_label"):
        columns: Sequence[str] = LABEL_SET_COLUMNS
    else:
        columns = PER_CLASS_COLUMNS
        if any("ap" in row for row in metrics["per_class"]):
            columns = (*PER_CLASS_COLUMNS, "ap")
    lines = [csv_row(columns)]
    for row in metrics["per_class"]:
        lines.append(csv_row(_cell(row.get(column)) for column in columns))
    return "".join(lines)


def confusion_csv(metrics: dict[str, Any]) -> str:
    """Rows: true classes; columns: predicted classes; the corner cell says so."""
    labels = metrics["confusion"]["labels"]
    lines = [csv_row(["true \\ predicted", *labels])]
    for label, row in zip(labels, metrics["confusion"]["matrix"], strict=True):
        lines.append(csv_row([label, *row]))
    return "".join(lines)


def _cell(value: Any) -> str:
    """A number with 6 decimals; nothing for None, NaN or an infinity."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def _atomic(path: str, data: bytes) -> None:
    partial = f"{path}.partial"
    with open(partial, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)


def _title(metrics: dict[str, Any]) -> str:
    model = (metrics.get("model") or {}).get("name") or ""
    parts = [f"{model}" if model else "confusion matrix"]
    if metrics.get("top1") is not None:
        parts.append(f"top-1 {100 * metrics['top1']:.1f}%")
    if metrics.get("multi_label") and metrics.get("mAP") is not None:
        parts.append(f"mAP {100 * metrics['mAP']:.1f}%")
    parts.append(f"{metrics['counts']['scored']} videos")
    return "  ·  ".join(parts)


# --------------------------------------------------------------------------- the picture


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # old Pillow or no FreeType: the bitmap font
        return ImageFont.load_default()


def _shade(fraction: float) -> tuple[int, int, int]:
    """White (0) to dark blue (1), through a readable mid blue."""
    low, mid, high = (255, 255, 255), (107, 174, 214), (8, 48, 107)
    if fraction <= 0.5:
        a, b, t = low, mid, fraction / 0.5
    else:
        a, b, t = mid, high, (fraction - 0.5) / 0.5
    red, green, blue = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return red, green, blue


def _clip(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def confusion_layout(n: int) -> dict[str, int]:
    """Cell size and font sizes for ``n`` classes."""
    cell = max(3, min(48, 1400 // max(n, 1)))
    return {
        "cell": cell,
        "label_font": max(7, min(16, round(cell * 0.8))),
        "count_font": max(8, round(cell * 0.36)),
        "show_labels": int(n <= MAX_LABELLED),
        "show_counts": int(cell >= 22),
    }


def confusion_geometry(labels: Sequence[str]) -> dict[str, int]:
    """Where ``render_confusion`` puts things: the picture's ``width`` and ``height``, the
    grid's top-left corner (``left``, ``top``), its ``cell`` size and the label width."""
    from PIL import Image, ImageDraw

    n = len(labels)
    geo = confusion_layout(n)
    label_font = _font(geo["label_font"])
    names = [_clip(str(label)) for label in labels] if geo["show_labels"] else []
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max((int(measure.textbbox((0, 0), name, font=label_font)[2]) for name in names), default=0)
    gap = 6 if names else 0
    grid = max(n * geo["cell"], 1)
    left = _PAD + _AXIS + label_w + gap
    top = _PAD + _TITLE
    return {
        **geo,
        "label_width": label_w,
        "gap": gap,
        "grid": grid,
        "left": left,
        "top": top,
        "width": left + grid + _BAR_GAP + _BAR_W + _BAR_TEXT + _PAD,
        "height": top + grid + gap + label_w + _AXIS + _PAD,
    }


_PAD, _AXIS, _TITLE = 10, 20, 26
_BAR_W, _BAR_GAP, _BAR_TEXT = 14, 14, 40


def render_confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str = "") -> Any:
    """A Pillow image of the confusion matrix (rows true, columns predicted)."""
    from PIL import Image, ImageDraw

    n = len(labels)
    geo = confusion_geometry(labels)
    cell, left, top, label_w, width, height = (
        geo[k] for k in ("cell", "left", "top", "label_width", "width", "height")
    )
    label_font, count_font, title_font = _font(geo["label_font"]), _font(geo["count_font"]), _font(16)
    axis_font = _font(13)
    names = [_clip(str(label)) for label in labels] if geo["show_labels"] else []
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def width_of(text: str, font: Any) -> int:
        box = measure.textbbox((0, 0), text, font=font)
        return int(box[2] - box[0])

    pad, axis_h = _PAD, _AXIS
    grid = n * cell
    bar_w, bar_gap = _BAR_W, _BAR_GAP
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((pad, pad), title or "confusion matrix", fill="black", font=title_font)

    totals = [sum(row) for row in matrix]
    for r, row in enumerate(matrix):
        for c, count in enumerate(row):
            fraction = count / totals[r] if totals[r] else 0.0
            x0, y0 = left + c * cell, top + r * cell
            draw.rectangle((x0, y0, x0 + cell - 1, y0 + cell - 1), fill=_shade(fraction))
            if geo["show_counts"] and count:
                text = str(count)
                colour = "white" if fraction > 0.55 else "black"
                tw = width_of(text, count_font)
                draw.text((x0 + (cell - tw) / 2, y0 + cell / 2), text, fill=colour, font=count_font, anchor="lm")
    if n:
        draw.rectangle((left - 1, top - 1, left + grid, top + grid), outline=(120, 120, 120))
    if cell >= 6 and n:
        for k in range(n):  # the diagonal, outlined, guides the eye on large matrices
            x0, y0 = left + k * cell, top + k * cell
            if cell >= 10:
                draw.rectangle((x0, y0, x0 + cell - 1, y0 + cell - 1), outline=(200, 80, 40))

    for k, name in enumerate(names):  # true labels, right-aligned left of the rows
        tw = width_of(name, label_font)
        draw.text((left - 6 - tw, top + k * cell + cell / 2), name, fill="black", font=label_font, anchor="lm")
    if names:  # predicted labels, written upwards below the columns
        strip = Image.new("RGB", (label_w + 2, grid), "white")
        sdraw = ImageDraw.Draw(strip)
        for k, name in enumerate(names):
            tw = width_of(name, label_font)
            sdraw.text((label_w - tw, k * cell + cell / 2), name, fill="black", font=label_font, anchor="lm")
        image.paste(strip.rotate(90, expand=True), (left, top + grid + 6))

    axis_y = top + grid + (6 if names else 0) + label_w + 2
    draw.text((left + grid / 2, axis_y + axis_h / 2), "predicted", fill=(60, 60, 60), font=axis_font, anchor="mm")
    side = Image.new("RGB", (max(grid, 1), axis_h), "white")
    ImageDraw.Draw(side).text((grid / 2, axis_h / 2), "true", fill=(60, 60, 60), font=axis_font, anchor="mm")
    image.paste(side.rotate(90, expand=True), (pad, top))

    bar_x = left + grid + bar_gap
    for y in range(max(grid, 1)):
        draw.line((bar_x, top + y, bar_x + bar_w - 1, top + y), fill=_shade(1 - y / max(grid - 1, 1)))
    draw.rectangle((bar_x - 1, top - 1, bar_x + bar_w, top + max(grid, 1)), outline=(120, 120, 120))
    tick = _font(11)
    draw.text((bar_x + bar_w + 4, top), "100%", fill="black", font=tick, anchor="lt")
    draw.text((bar_x + bar_w + 4, top + max(grid, 1)), "0%", fill="black", font=tick, anchor="lb")
    return image


__all__ = [
    "PER_CLASS_COLUMNS",
    "REPORT_FILES",
    "confusion_csv",
    "confusion_geometry",
    "confusion_layout",
    "per_class_csv",
    "render_confusion",
    "write_reports",
]
