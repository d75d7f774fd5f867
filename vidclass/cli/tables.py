"""The tables that ``models``, ``info`` (a video's, a model's card), ``convert`` and ``train`` print on a terminal.

Each function takes the command's JSON document and returns rich renderables for
``output.write_document``; where they go, and whether they are coloured, is decided there.
Cells are plain strings, exact as the document has them: the console shows every string
through ``output.printable`` (control characters escaped, no markup).

``fit_columns`` shares a terminal's width out among a table's columns, for ``predict``'s
table (``vidclass.cli.writers``): the columns that carry the answer keep their width, the
others narrow, then go, in the order they say.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.table import Table

from vidclass.cli.output import dumps

ELLIPSIS = "\u2026"


@dataclass(frozen=True)
class Claim:
    """One column's claim on the width (in terminal cells, padding and borders aside).

    ``natural``: what its widest cell needs. ``least``: what it narrows to when the table
    does not fit (``natural`` for a column that never narrows). ``drop``: when it is left out
    (1 first, then 2, ...; 0: never). ``floor``: what it narrows to when every droppable
    column is gone and the table still does not fit. ``share``: who gets the room left over
    first (lower first).
    """

    natural: int
    least: int | None = None
    drop: int = 0
    floor: int | None = None
    share: int = 0

    @property
    def minimum(self) -> int:
        return min(self.natural, self.natural if self.least is None else self.least)

    @property
    def last(self) -> int:
        return min(self.minimum, self.minimum if self.floor is None else self.floor)


def table_width(widths: Sequence[int | None]) -> int:
    """A boxed table's width over columns of these content widths (None: left out): one
    border between and around the columns, one cell of padding on each side."""
    shown = [w for w in widths if w is not None]
    return sum(shown) + 3 * len(shown) + 1


def fit_columns(claims: Sequence[Claim], width: int) -> list[int | None]:
    """Each column's content width (None: left out) for a table at most ``width`` wide.

    Every column at its ``natural`` width when that fits. Else every column at its
    ``least``, then the droppable columns left out one rank at a time, then the rest at their
    ``floor``: the first of these that fits is taken. The room over goes back to the columns
    by ``share``: first up to their ``least``, then up to their ``natural``. When even the last does not fit, that one is returned: the table is wider than
    ``width``, and no column that never narrows has narrowed.
    """
    widths: list[int | None] = [c.natural for c in claims]
    if table_width(widths) <= width:
        return widths
    ranks = sorted({c.drop for c in claims if c.drop})
    stages: list[list[int | None]] = [[c.minimum for c in claims]]
    for rank in ranks:
        stages.append([None if c.drop and c.drop <= rank else c.minimum for c in claims])
    stages.append([None if c.drop else c.last for c in claims])
    for widths in stages:
        if table_width(widths) <= width:
            break
    room = width - table_width(widths)
    order = sorted(range(len(claims)), key=lambda i: claims[i].share)
    for i, limit in [(i, claims[i].minimum) for i in order] + [(i, claims[i].natural) for i in order]:
        current = widths[i]
        if current is not None and room > 0 and current < limit:
            grow = min(room, limit - current)
            widths[i] = current + grow
            room -= grow
    return widths


def ellipsize_left(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells: whole if it fits, else its end after an ellipsis
    (a path keeps its file name)."""
    if cell_len(text) <= width:
        return text
    kept: list[str] = []
    used = cell_len(ELLIPSIS)
    for char in reversed(text):
        used += cell_len(char)
        if used > width:
            break
        kept.append(char)
    return ELLIPSIS + "".join(reversed(kept))


def join_fitting(items: Sequence[str], width: int, separator: str = ", ") -> str:
    """As many of ``items``, from the first, as fit in ``width`` cells joined by
    ``separator``, with an ellipsis after them when some were left out."""
    for count in range(len(items), 0, -1):
        text = separator.join(items[:count]) + (separator + ELLIPSIS if count < len(items) else "")
        if cell_len(text) <= width:
            return text
    return ELLIPSIS if items else ""


def models_tables(data: dict[str, Any]) -> Sequence[Any]:
    registry = Table(title="registry", title_justify="left")
    for column in ("name", "variant", "params", "GFLOPs/view", "weights"):
        registry.add_column(column, justify="right" if column in ("params", "GFLOPs/view") else "left")
    for row in data["registry"]:
        registry.add_row(
            row.get("name", ""),
            str(row.get("variant", "")),
            _params(row.get("params")),
            _gflops(row.get("gflops")),
            "yes" if row.get("weights") else "",
        )
    out: list[Any] = [registry]
    files = Table(title=f"model files in {data['weights_dir']}", title_justify="left")
    for column in ("file", "model", "labels", "size"):
        files.add_column(column, justify="right" if column in ("labels", "size") else "left")
    for row in data["files"]:  # the folder is the title; a row names its file
        files.add_row(
            os.path.basename(row["path"]),
            str(row.get("model") or ""),
            "" if row.get("num_labels") is None else str(row["num_labels"]),
            _bytes(row.get("bytes")),
        )
    if not data["files"]:
        files.add_row("(none)", "", "", "")
    out.append(files)
    return out


def info_tables(data: dict[str, Any]) -> Sequence[Any]:
    video = Table(title=data["path"], title_justify="left", show_header=False)
    video.add_column("field")
    video.add_column("value")
    video.add_row("frames", str(data["frames"]))
    video.add_row("fps", f"{data['fps']:.3f}")
    video.add_row("duration", f"{data['duration']:.3f} s")
    video.add_row("size", f"{data['width']}x{data['height']}")
    video.add_row("codec", str(data["codec"]))
    video.add_row("model", str(data["model"] or "(none: default preprocessing)"))
    prep, protocol = data["preprocessing"], data["protocol"]
    video.add_row(
        "sampling",
        f"{prep['num_frames']} frames, stride {prep['frame_stride']}"
        + (f" at {prep['target_fps']} fps" if prep.get("target_fps") else ""),
    )
    video.add_row(
        "resize",
        f"short side {prep['resize_size']} -> {data['resized'][1]}x{data['resized'][0]}, crops {prep['crop_size']}",
    )
    video.add_row(
        "views",
        f"{data['views']} = {protocol['clips']} clips x {protocol['crops']} crops, aggregate {protocol['aggregate']}",
    )
    clips = Table(title="clips", title_justify="left")
    clips.add_column("clip", justify="right")
    clips.add_column("start", justify="right")
    clips.add_column("frame indices", overflow="fold")
    for clip in data["clips"]:
        clips.add_row(str(clip["index"]), str(clip["start"]), " ".join(map(str, clip["frame_indices"])))
    crops = Table(title="crops", title_justify="left")
    for column in ("crop", "name", "top", "left", "size"):
        crops.add_column(column, justify="left" if column == "name" else "right")
    for crop in data["crops"]:
        crops.add_row(
            str(crop["index"]),
            str(crop["name"]),
            str(crop["top"]),
            str(crop["left"]),
            str(crop["size"]),
        )
    return [video, clips, crops]


def _network_rows(family: str, cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """A model card's ``network`` and ``input`` rows, for its family's config."""
    if family == "x3d":
        return [
            (
                "network",
                f"x3d, depth factor {cfg['depth_factor']}, width factor {cfg['width_factor']}, "
                f"bottleneck factor {cfg['bottleneck_factor']}"
                + (
                    f", TokenLearner {cfg['tokenlearner']['num_tokens']} tokens a frame after stage"
                    f" {cfg.get('tokenlearner_after')} ({cfg['tokenlearner']['attention']} attention)"
                    if cfg.get("tokenlearner")
                    else ""
                ),
            ),
            ("input", f"{cfg['num_frames']} frames x {cfg['crop_size']} px or larger (the head's pooling window)"),
        ]
    learner = cfg.get("tokenlearner")
    return [
        (
            "network",
            f"{cfg['variant']}, {cfg['num_layers']} layers, width {cfg['hidden_size']}, {cfg['num_heads']} heads"
            + (f", TokenLearner {learner['num_tokens']} tokens at {learner['location']}" if learner else ""),
        ),
        (
            "input",
            f"{cfg['num_frames']} frames x {cfg['image_size']} px, tubelets {'x'.join(map(str, cfg['tubelet']))}",
        ),
    ]


def model_card_tables(data: dict[str, Any]) -> Sequence[Any]:
    """``info MODEL``: the card, as a two-column table (the labels all in one folded cell)."""
    table = Table(title=data["path"], title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    cfg, prep, protocol = data["config"], data["preprocessing"], data["protocol"]
    rows = [
        ("model", data["name"]),
        ("format", f"{data['format']}, shown as the model it converts to" if data["converted"] else data["format"]),
        *_network_rows(data.get("family", "vivit"), cfg),
        ("params", _params(data["params"])),
        ("GFLOPs/view", _gflops(data["gflops"])),
        (
            "sampling",
            f"{prep['num_frames']} frames, stride {prep['frame_stride']}"
            + (f" at {prep['target_fps']} fps" if prep.get("target_fps") else ""),
        ),
        ("resize", f"short side {prep['resize_size']}, crops {prep['crop_size']}"),
        ("normalise", f"mean {_numbers(prep['mean'])}, std {_numbers(prep['std'])}"),
        (
            "views",
            f"{protocol['clips'] * protocol['crops']} = {protocol['clips']} clips x {protocol['crops']} crops, "
            f"aggregate {protocol['aggregate']}",
        ),
        ("labels", f"{len(data['labels'])}: {', '.join(data['labels'])}"),
        ("head", "multi-label: a sigmoid per class" if data.get("multi_label") else "single-label: softmax"),
    ]
    rows += [(key, value if isinstance(value, str) else dumps(value)) for key, value in data["provenance"].items()]
    for field, value in rows:
        table.add_row(field, value)
    return [table]


def convert_tables(data: dict[str, Any]) -> Sequence[Any]:
    """``convert``: what was written, as a two-column table."""
    table = Table(title=data["output"], title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    prep = data["preprocessing"]
    rows = [
        ("source", data["source"]),
        ("format", str(data["format"])),
        ("variant", data["variant"]),
        ("classes", str(data["classes"])),
        ("params", _params(data["params"])),
        ("input", "x".join(str(v) for v in data["input"])),
        ("sampling", f"{prep['num_frames']} frames, stride {prep['frame_stride']}, short side {prep['resize_size']}"),
        ("views", f"{data['protocol']['clips']} clips x {data['protocol']['crops']} crops"),
    ]
    if data.get("multi_label"):  # a single-label model, the default, says nothing
        rows.append(("head", f"multi-label: a sigmoid per class, views aggregated by {data['protocol']['aggregate']}"))
    for field, value in rows:
        table.add_row(field, value)
    return [table]


def export_tables(data: dict[str, Any]) -> Sequence[Any]:
    """``export``: what was written, as a two-column table."""
    table = Table(title=data["output"], title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    rows = [
        ("model", data["model"]),
        ("family", data["family"]),
        ("input", f"{data['input']['name']} " + "x".join(str(v) for v in data["input"]["shape"]) + " float32"),
        ("output", f"{data['output_name']} Bx{data['classes']}" + (" (multi-label)" if data["multi_label"] else "")),
        ("opset", str(data["opset"])),
        ("size", _bytes(data["bytes"])),
    ]
    for field, value in rows:
        table.add_row(field, value)
    return [table]


def train_tables(data: dict[str, Any]) -> Sequence[Any]:
    """``train``: one row per epoch, then where the model went."""

    def pct(value: float | None) -> str:
        return "" if value is None else f"{100 * value:.1f}%"

    table = Table(title=data["model"], title_justify="left")
    if data.get("multi_label"):  # BCE losses and validation mAP; no top-k
        for column in ("epoch", "lr", "train loss", "val loss", "val mAP", "clips/s"):
            table.add_column(column, justify="right")
        for r in data["epochs"]:
            loss = "" if r["val_loss"] is None else f"{r['val_loss']:.4f}"
            rate = f"{r['clips_per_second']:.1f}"
            table.add_row(str(r["epoch"]), f"{r['lr']:.2e}", f"{r['train_loss']:.4f}", loss, pct(r["val_map"]), rate)
        return [table]
    for column in ("epoch", "lr", "train loss", "train top-1", "val loss", "val top-1", "val top-5", "clips/s"):
        table.add_column(column, justify="right")
    for r in data["epochs"]:
        table.add_row(
            str(r["epoch"]),
            f"{r['lr']:.2e}",
            f"{r['train_loss']:.4f}",
            pct(r["train_top1"]),
            "" if r["val_loss"] is None else f"{r['val_loss']:.4f}",
            pct(r["val_top1"]),
            pct(r["val_top5"]),
            f"{r['clips_per_second']:.1f}",
        )
    return [table]


def _numbers(values: Sequence[float]) -> str:
    return " ".join(f"{v:g}" for v in values)


def _gflops(g: Any) -> str:
    if not isinstance(g, (int, float)):
        return ""
    return f"{g:.1f}" if g >= 10 else f"{g:.3g}"


def _params(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return ""
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.1f}k"


def _bytes(n: Any) -> str:
    """A size in binary units: 4,542,868 bytes is 4.3 MiB."""
    if not isinstance(n, int):
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


__all__ = [
    "ELLIPSIS",
    "Claim",
    "convert_tables",
    "ellipsize_left",
    "fit_columns",
    "info_tables",
    "join_fitting",
    "model_card_tables",
    "models_tables",
    "table_width",
    "train_tables",
]
