"""How ``vidclass predict`` writes its results: one ``ResultWriter`` per ``--format``.

``WRITERS`` maps each of ``RESULT_FORMATS`` (table, json, jsonl, csv) to its writer. Where the
results go, and in which format, is decided in ``vidclass.cli.output`` (``result_format``,
``open_results``); a writer only writes to the stream it is given, in the console, JSON and
file-name escaping that module defines.
"""

from __future__ import annotations

import abc
import csv
from typing import IO, TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from vidclass.cli.output import dumps, make_console, printable

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
    """

    streaming = True

    def begin(self) -> None:
        self.writer = csv.writer(self.stream, lineterminator="\n")
        header = list(CSV_COLUMNS)
        if self.scores:
            header += list(self.model.get("labels", []))
        self.writer.writerow([printable(h) for h in header])
        self.stream.flush()

    def write(self, p: Prediction) -> None:
        row = [
            printable(p.path),
            "true" if p.ok else "false",
            p.label if p.ok else "",
            _num(p.score),
            ";".join(f"{label}:{score:.6f}" for label, score in p.labels),
            _num(p.views),
            _num(p.frames),
            _num(p.duration),
            f"{p.seconds:.4f}",
            p.error or "",
        ]
        if self.scores:
            row += [f"{s:.6f}" for s in p.scores] if p.scores else [""] * len(p.class_names)
        self.writer.writerow(row)
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
        for p in self.predictions:
            if p.ok:
                table.add_row(
                    printable(p.path),
                    p.label,
                    f"{p.score:.4f}",
                    ", ".join(f"{label} {score:.3f}" for label, score in p.labels[1:]),
                    str(p.views),
                    f"{p.duration:.1f}s",
                    f"{p.seconds:.2f}s",
                )
            else:
                table.add_row(
                    printable(p.path),
                    Text(f"error: {p.error}", style="red"),
                    "",
                    "",
                    "",
                    "",
                    f"{p.seconds:.2f}s",
                )
        make_console(self.stream).print(table)
        self.stream.flush()


WRITERS: dict[str, type[ResultWriter]] = {
    "table": TableWriter,
    "json": JsonWriter,
    "jsonl": JsonlWriter,
    "csv": CsvWriter,
}


def _num(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) >= 1e4 else f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


__all__ = ["CSV_COLUMNS", "WRITERS", "CsvWriter", "JsonWriter", "JsonlWriter", "ResultWriter", "TableWriter"]
