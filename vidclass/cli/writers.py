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
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from vidclass.cli.output import dumps, isatty, make_console, printable
from vidclass.serialize import csv_row

if TYPE_CHECKING:  # annotations only: vidclass.scores imports torch
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
    Cells keep file names and labels exactly (quoted where they hold a comma, quote, CR or
    LF), apart from the ``'`` before a formula character; on a terminal, they are shown
    through ``printable`` like a table.
    """

    streaming = True

    def begin(self) -> None:
        self.shown: Callable[[str], str] = printable if isatty(self.stream) else str
        header = list(CSV_COLUMNS)
        if self.scores:
            header += list(self.model.get("labels", []))
        self._row(header)

    def write(self, p: Prediction) -> None:
        row = [
            p.path,
            "true" if p.ok else "false",
            p.label or "",
            _num(p.score),
            ";".join(f"{label}:{_num(score, 6)}" for label, score in p.labels),
            _num(p.views),
            _num(p.frames),
            _num(p.duration),
            _num(p.seconds, 4),
            p.error or "",
        ]
        if self.scores:
            row += [_num(s, 6) for s in p.scores] if p.scores else [""] * len(p.class_names)
        self._row(row)

    def _row(self, cells: list[str]) -> None:
        self.stream.write(csv_row(self.shown(cell) for cell in cells))
        self.stream.flush()


class TableWriter(ResultWriter):
    """A rich table at the end; plain text when the stream is not a terminal."""

    def begin(self) -> None:
        self.predictions: list[Prediction] = []

    def write(self, prediction: Prediction) -> None:
        self.predictions.append(prediction)

    def end(self) -> None:
        table = Table(title=f"{self.model.get('name', '')}", title_justify="left")
        table.add_column("video", overflow="fold")
        table.add_column("label")
        table.add_column("score", justify="right")
        table.add_column("next", overflow="fold")
        table.add_column("views", justify="right")
        table.add_column("duration", justify="right")
        table.add_column("time", justify="right")
        for p in self.predictions:  # strings are shown through printable by the console
            if p.ok:
                table.add_row(
                    p.path,
                    p.label,
                    _num(p.score, 4),
                    ", ".join(f"{label} {_num(score, 3)}".rstrip() for label, score in p.labels[1:]),
                    _num(p.views),
                    _num(p.duration, 1, "s"),
                    _num(p.seconds, 2, "s"),
                )
            else:
                table.add_row(
                    p.path,
                    Text(printable(f"error: {p.error}"), style="red"),
                    "",
                    "",
                    "",
                    "",
                    _num(p.seconds, 2, "s"),
                )
        make_console(self.stream).print(table)
        self.stream.flush()


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
