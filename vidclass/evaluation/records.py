"""``predictions.jsonl``: the append-only, resumable record of an evaluation.

The first line is a header, ``{"type": "header", "format": "vidclass-eval", ...}``, naming
the model (with a fingerprint of its weights), the view protocol, the preprocessing, the
dataset, the shard and the limit. Every other line is one video's record (``"id"`` is the
sample's stable key). Lines are written with one ``write`` call each and never rewritten, so
a process killed at any moment leaves whole lines plus, at worst, a torn last line without
its newline: ``read_predictions`` drops it (``repair=True`` also cuts it off the file).

The same video may appear more than once (a failed video retried on ``--resume``, or shards
that overlap). ``merge_records`` keeps one record per id: a scored record beats a failed,
missing or ignored one, and otherwise the latest wins. Two scored records that disagree
(another true label, another top-1 label, or a top-1 score more than ``SCORE_TOLERANCE`` apart)
are a ``PredictionsError``: they cannot come from one model on one dataset.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vidclass.errors import VidclassError

FORMAT = "vidclass-eval"
VERSION = 1
SCORE_TOLERANCE = 1e-3
# Header fields that must be equal for records to belong to one evaluation.
COMPATIBLE_FIELDS = ("model.labels", "model.fingerprint", "protocol", "preprocessing")


class PredictionsError(VidclassError, ValueError):
    """A predictions file that cannot be used as asked (exit 2); the message is one line."""


@dataclass
class PredictionsFile:
    path: str
    header: dict[str, Any] | None
    records: list[dict[str, Any]] = field(default_factory=list)
    torn: bool = False  # the last line had no newline and was dropped
    headers: int = 0  # header lines seen (more than one in concatenated files)


def json_line(obj: Any) -> bytes:
    """One JSON line as UTF-8; undecodable file-name characters kept as \\udcXX escapes."""
    text = json.dumps(obj, ensure_ascii=False)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        data = json.dumps(obj, ensure_ascii=True).encode("ascii")
    return data + b"\n"


def read_predictions(path: str | os.PathLike[str], repair: bool = False) -> PredictionsFile:
    """Read a predictions file; a torn last line is dropped (and cut off the file if ``repair``)."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise PredictionsError(f"{name}: {exc.strerror or exc}") from exc
    torn = bool(data) and not data.endswith(b"\n")
    if torn:
        cut = data.rfind(b"\n") + 1
        data = data[:cut]
        if repair:
            with open(name, "r+b") as handle:
                handle.truncate(cut)
    result = PredictionsFile(path=name, header=None, torn=torn)
    for number, line in enumerate(data.split(b"\n")[:-1] if data else [], start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise PredictionsError(f"{name}:{number}: not a JSON line (the file is damaged)") from None
        if not isinstance(obj, dict):
            raise PredictionsError(f"{name}:{number}: not a JSON object")
        if obj.get("type") == "header":
            if obj.get("format") != FORMAT:
                raise PredictionsError(f"{name}:{number}: not a vidclass eval header")
            if result.header is None:
                result.header = obj
            else:
                check_compatible(result.header, obj, f"{name}:{number}")
            result.headers += 1
            continue
        if "id" not in obj or "status" not in obj:
            raise PredictionsError(f"{name}:{number}: not a vidclass eval record (no id or status)")
        result.records.append(obj)
    if result.header is None and (result.records or data):
        raise PredictionsError(f"{name}: no header line: not written by vidclass eval")
    return result


def _get(header: dict[str, Any], dotted: str) -> Any:
    value: Any = header
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def check_compatible(
    first: dict[str, Any], other: dict[str, Any], where: str, fields: Sequence[str] = COMPATIBLE_FIELDS
) -> None:
    """PredictionsError when ``other`` was made with another model, protocol or preprocessing."""
    for name in fields:
        a, b = _normal(_get(first, name)), _normal(_get(other, name))
        if a != b:
            shown = "labels differ" if name == "model.labels" else f"{_short(a)} vs {_short(b)}"
            raise PredictionsError(f"{where}: made with a different {name.replace('model.', 'model ')} ({shown})")


def _normal(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def agree(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two scored records of one video tell the same result."""
    if a.get("true_label") != b.get("true_label"):
        return False
    top_a, top_b = (a.get("labels") or [{}])[0], (b.get("labels") or [{}])[0]
    if top_a.get("label") != top_b.get("label"):
        return False
    sa, sb = top_a.get("score"), top_b.get("score")
    return sa is None or sb is None or abs(float(sa) - float(sb)) <= SCORE_TOLERANCE


@dataclass
class Merged:
    records: dict[str, dict[str, Any]]  # id -> the record that counts
    duplicates: int = 0  # records of an id already decided (agreeing, or superseded)
    conflicts: list[str] = field(default_factory=list)


def merge_records(records: Iterable[dict[str, Any]]) -> Merged:
    """One record per id (see the module docstring); disagreeing scored duplicates are listed."""
    merged: dict[str, dict[str, Any]] = {}
    duplicates = 0
    conflicts: list[str] = []
    for record in records:
        key = record["id"]
        held = merged.get(key)
        if held is None:
            merged[key] = record
            continue
        duplicates += 1
        if held.get("status") == "scored":
            if record.get("status") == "scored" and not agree(held, record):
                conflicts.append(key)
            continue
        merged[key] = record  # scored beats the rest; else the latest attempt counts
    return Merged(records=merged, duplicates=duplicates, conflicts=conflicts)


def conflict_error(conflicts: Sequence[str], records: dict[str, dict[str, Any]]) -> PredictionsError:
    shown = ", ".join(repr(key) for key in conflicts[:5])
    more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
    return PredictionsError(
        f"{len(conflicts)} video(s) have results that disagree: {shown}{more}"
        " (different true label, top-1 label or score); were these made with different models or datasets?"
    )


class PredictionsWriter:
    """Appends records to a predictions file: one ``write`` per line, flushed to the OS at once.

    Opening takes an exclusive advisory lock (where the OS has ``flock``), so two evaluations
    cannot append to one file; read or repair the file only after opening the writer.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            _lock(self.fd, self.path)
        except BaseException:
            os.close(self.fd)
            raise

    @property
    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def truncate(self) -> None:
        os.ftruncate(self.fd, 0)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    def append(self, record: dict[str, Any]) -> None:
        """Write one line (a record, or the header first of all)."""
        self._write(json_line(record))

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> PredictionsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lock(fd: int, path: str) -> None:
    try:
        import fcntl
    except ImportError:  # no flock on this OS: no protection, as before
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise PredictionsError(f"{path}: another vidclass eval is writing this file") from None
    except OSError:  # a filesystem without locks (some network mounts): carry on
        return


__all__ = [
    "COMPATIBLE_FIELDS",
    "FORMAT",
    "SCORE_TOLERANCE",
    "VERSION",
    "Merged",
    "PredictionsError",
    "PredictionsFile",
    "PredictionsWriter",
    "agree",
    "check_compatible",
    "conflict_error",
    "json_line",
    "merge_records",
    "read_predictions",
]
