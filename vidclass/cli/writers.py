"""How ``vidclass predict`` writes its results: one ``ResultWriter`` per ``--format``.

``WRITERS`` maps each of ``RESULT_FORMATS`` (table, json, jsonl, csv) to its writer. Where the
results go, and in which format, is decided in ``vidclass.cli.output`` (``result_format``,
``results.open_results``); a writer only writes to the stream it is given, in the console,
JSON and terminal escaping that module defines, and CSV rows by ``vidclass.serialize.csv_row``
(a cell starting with ``=``, ``+``, ``-``, ``@``, TAB, CR or ``'`` gets a leading ``'``).
A number that is not finite (NaN, infinity) is written as nothing: ``null`` in JSON, an empty
CSV cell, a blank table cell.
"""

from __future__ import annotations

import abc
import math
import os
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from vidclass.cli.output import dumps, isatty, make_console, printable
from vidclass.cli.tables import ELLIPSIS, Claim, ellipsize_left, fit_columns, join_fitting, table_width
from vidclass.serialize import csv_row

if TYPE_CHECKING:  # annotations only: vidclass.scores imports torch
    from rich.console import JustifyMethod

    from vidclass.scores import Prediction


class ResultWriter(abc.ABC):
    """Writes predictions in one format; ``begin`` / ``write`` per video / ``end``."""

    streaming = False  # True: each record is written and flushed as soon as it exists

    def __init__(self, stream: IO[str], model: dict[str, Any], scores: bool = False) -> None:
        self.stream = stream
        self.model = model
        self.scores = scores

    def begin(self) -> None:  # noqa: B027 - optional hook: most formats write nothing first
        """Called once before the first video."""

    @abc.abstractmethod
    def write(self, prediction: Prediction) -> None:
        """Write one video's result."""

    def end(self) -> None:  # noqa: B027 - optional hook
        """Called once after the last video."""


class JsonlWriter(ResultWriter):
    streaming = True

    def write(self, prediction: Prediction) -> None:
        self.stream.write(dumps(prediction.to_record(scores=self.scores)) + "\n")
        self.stream.flush()


class JsonWriter(ResultWriter):
    def begin(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, prediction: Prediction) -> None:
        self.records.append(prediction.to_record(scores=self.scores))

    def end(self) -> None:
        self.stream.write(dumps({"model": self.model, "results": self.records}, indent=2) + "\n")
        self.stream.flush()


CSV_COLUMNS = (
    "path",
    "ok",
    "label",
    "score",
    "labels",
    "views",
    "frames",
    "duration",
    "seconds",
    "error",
)


class CsvWriter(ResultWriter):
    """Header, then one row per video; ``labels`` is ``label:score;label:score;...``.

    With ``scores``, one more column per class (headed by the label) holds its probability.
    A multi-label model's rows have one more column, ``positives`` (after ``labels``): its
    predicted set as ``label:score;...``, best first (empty: no label reached the threshold).
    Cells keep file names and labels exactly (quoted where they hold a comma, quote, CR or
    LF), apart from the ``'`` before a formula character; on a terminal, they are shown
    through ``printable`` like a table.
    """

    streaming = True

    def begin(self) -> None:
        self.shown: Callable[[str], str] = printable if isatty(self.stream) else str
        header = list(CSV_COLUMNS)
        self.multi_label = bool(self.model.get("multi_label"))
        if self.multi_label:
            header.insert(header.index("labels") + 1, "positives")
        if self.scores:
            header += list(self.model.get("labels", []))
        self._row(header)

    def write(self, p: Prediction) -> None:
        row = [
            p.path,
            "true" if p.ok else "false",
            p.label or "",
            _num(p.score),
            _pairs(p.labels),
            _num(p.views),
            _num(p.frames),
            _num(p.duration),
            _num(p.seconds, 4),
            p.error or "",
        ]
        if self.multi_label:
            row.insert(CSV_COLUMNS.index("labels") + 1, _pairs(p.positives or []))
        if self.scores:
            row += [_num(s, 6) for s in p.scores] if p.scores else [""] * len(p.class_names)
        self._row(row)

    def _row(self, cells: list[str]) -> None:
        self.stream.write(csv_row(self.shown(cell) for cell in cells))
        self.stream.flush()


def _pairs(pairs: Sequence[tuple[str, float]]) -> str:
    """``label:score;label:score;...``: a CSV cell of labels with their scores."""
    return ";".join(f"{label}:{_num(score, 6)}" for label, score in pairs)


class TableWriter(ResultWriter):
    """A rich table at the end; plain text when the stream is not a terminal.

    On a terminal the table fits its width (``fit_table``), each video on one line: the
    answer (label, score) is never cut; the other columns give way first (see ``CLAIMS``).
    """

    def begin(self) -> None:
        self.predictions: list[Prediction] = []

    def write(self, prediction: Prediction) -> None:
        self.predictions.append(prediction)

    def end(self) -> None:
        console = make_console(self.stream)
        multi_label = bool(self.model.get("multi_label"))
        rows = [_table_row(p, multi_label) for p in self.predictions]
        columns = MULTI_LABEL_COLUMNS if multi_label else TABLE_COLUMNS
        widths = fit_table(rows, console.width, tuple(name for name, _ in columns))
        table = Table(title=f"{self.model.get('name', '')}", title_justify="left")
        for i, ((name, justify), width) in enumerate(zip(columns, widths, strict=True)):
            if width is not None:  # a label never wraps (it fits); an error message may
                table.add_column(name, justify=justify, width=width, no_wrap=i != 1, overflow="fold")
        for row in rows:
            table.add_row(*_fitted_cells(row, widths))
        if table_width(widths) > console.width:  # narrower than the answer: let the terminal wrap
            table.width = table_width(widths)
        console.print(table, crop=False)
        self.stream.flush()


# name, justify; the order in which they give way on a narrow terminal is in ``fit_table``
TABLE_COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("video", "left"),
    ("label", "left"),
    ("score", "right"),
    ("next", "left"),
    ("views", "right"),
    ("duration", "right"),
    ("time", "right"),
)
# A multi-label model's table: its predicted set (labels at or above the threshold) and their
# scores in place of the top label and its score; ``next`` holds the top-k labels not in the set.
MULTI_LABEL_COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    TABLE_COLUMNS[0],
    ("labels", "left"),
    ("scores", "right"),
    *TABLE_COLUMNS[3:],
)
VIDEO_LEAST = 40  # the path narrows to its file name, unless that is longer than this
VIDEO_FLOOR = 12  # ... and to this when the table is still too wide


def _table_row(p: Prediction, multi_label: bool = False) -> list[Any]:
    """One video's cells, as the console shows them; ``next`` is a list of its entries. A
    multi-label model's row shows its set (``-`` when empty) and the set's scores."""
    if not p.ok:
        error = Text(printable(f"error: {p.error}"), style="red")
        return [printable(p.path), error, "", [], "", "", _num(p.seconds, 2, "s")]
    if multi_label:
        chosen = p.positives or []
        label = ", ".join(printable(name) for name, _ in chosen) or "-"
        score = ", ".join(_num(value, 4) for _, value in chosen)
        rest = [(name, value) for name, value in p.labels if name not in {n for n, _ in chosen}]
    else:
        label, score, rest = printable(p.label or ""), _num(p.score, 4), p.labels[1:]
    return [
        printable(p.path),
        label,
        score,
        [printable(f"{name} {_num(value, 3)}".rstrip()) for name, value in rest],
        _num(p.views),
        _num(p.duration, 1, "s"),
        _num(p.seconds, 2, "s"),
    ]


def fit_table(rows: Sequence[list[Any]], width: int, headers: Sequence[str] | None = None) -> list[int | None]:
    """Predict's column widths (None: left out) for a terminal ``width`` cells wide.

    When the table does not fit, the answer keeps its width (the label column narrows only
    for error messages, which wrap); the path is cut from the left, down to its file name;
    ``next`` keeps only its first entries; then ``next``, ``views``, ``duration`` and
    ``time`` are left out, in that order; then the path narrows further. Room left over goes
    to the path up to its file name, then to error messages, then to the rest of the path, then
    to ``next``.
    """

    def widest(cells: Sequence[str], header: str) -> int:
        return max([cell_len(header), *(cell_len(cell) for cell in cells)])

    if headers is None:
        headers = [column for column, _ in TABLE_COLUMNS]

    paths = [row[0] for row in rows]
    labels = [row[1] for row in rows if isinstance(row[1], str)]
    errors = [row[1].plain for row in rows if isinstance(row[1], Text)]
    nexts = [row[3] for row in rows]
    video = widest(paths, headers[0])
    names = widest([_file_name(path) for path in paths], headers[0])
    label = widest(labels, headers[1])
    claims = [
        Claim(video, least=max(min(names, VIDEO_LEAST), min(video, VIDEO_FLOOR)), floor=VIDEO_FLOOR, share=2),
        Claim(max(label, widest(errors, headers[1])), least=label, share=1),
        Claim(widest([row[2] for row in rows], headers[2])),
        Claim(
            widest([", ".join(items) for items in nexts], headers[3]),
            least=widest([join_fitting(items, cell_len(items[0]) + 3) for items in nexts if items], headers[3]),
            drop=1,
            share=3,
        ),
        *(Claim(widest([row[i] for row in rows], name), drop=i - 2) for i, name in enumerate(headers) if i > 3),
    ]
    return fit_columns(claims, width)


def _file_name(path: str) -> str:
    """What is left of ``path`` cut down to its file name: ``…/name``, or the path itself."""
    name = os.path.basename(path)
    return path if name == path else ELLIPSIS + path[len(path) - len(name) - 1 :]


def _fitted_cells(row: list[Any], widths: Sequence[int | None]) -> list[Any]:
    cells = [ellipsize_left(row[0], widths[0] or 0), *row[1:3], join_fitting(row[3], widths[3] or 0), *row[4:]]
    return [cell for cell, width in zip(cells, widths, strict=True) if width is not None]


WRITERS: dict[str, type[ResultWriter]] = {
    "table": TableWriter,
    "json": JsonWriter,
    "jsonl": JsonlWriter,
    "csv": CsvWriter,
}


def _num(value: float | int | None, places: int | None = None, unit: str = "") -> str:
    """A number as text: ``places`` decimals, else short (6 significant digits, no trailing
    zeros); nothing for None, NaN or an infinity."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if places is not None:
        return f"{value:.{places}f}{unit}"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) >= 1e4 else f"{value:.6f}".rstrip("0").rstrip(".")
    return f"{value}{unit}"


__all__ = ["CSV_COLUMNS", "WRITERS", "CsvWriter", "JsonWriter", "JsonlWriter", "ResultWriter", "TableWriter"]
