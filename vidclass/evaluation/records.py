"""``predictions.jsonl``: the append-only, resumable record of an evaluation.

The first line is a header, ``{"type": "header", "format": "vidclass-eval", ...}``, naming
the model (with a fingerprint of its weights), the view protocol, the preprocessing, the
dataset, the shard and the limit. Every other line is one video's record (``"id"`` is the
sample's stable key). Lines are written with one ``write`` call each and never rewritten, so
a process killed at any moment leaves whole lines plus, at worst, a torn last line without
its newline: ``read_predictions`` drops it (``repair=True`` also cuts it off the file).

A file is read only when it is a regular file (a FIFO, a device such as ``/dev/zero`` or a
directory is refused before it is opened: it could block or never end), line by line, and no
line may be longer than ``MAX_LINE_BYTES``. Every line is checked as it is read: the header
must name the model's labels and the dataset, and a record must have a string ``id``, a known
``status``, a ``true_label`` among the model's labels (unless ignored), and, when scored, its
top labels with finite scores. Anything else is a ``PredictionsError`` naming ``file:line``,
so a hand-edited or damaged file never reaches the metrics.

The same video may appear more than once (a failed video retried on ``--resume``, or shards
that overlap). ``merge_records`` keeps one record per id: a scored record beats a failed,
missing or ignored one, and otherwise the latest wins. Two scored records that disagree
(another true label, another top-1 label, or a top-1 score more than ``SCORE_TOLERANCE`` apart)
are a ``PredictionsError``: they cannot come from one model on one dataset.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from vidclass.errors import VidclassError
from vidclass.evaluation.checks import check_header, check_record

FORMAT = "vidclass-eval"
VERSION = 1
SCORE_TOLERANCE = 1e-3
# Header fields that must be equal for records to belong to one evaluation.
COMPATIBLE_FIELDS = ("model.labels", "model.fingerprint", "protocol", "preprocessing")
# The longest line read: far past any real one (a header of 10,000 labels, or a record with
# --save-scores for as many, is under 1 MiB), and a bound on what one line can take in memory.
MAX_LINE_BYTES = 16 * 1024 * 1024


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
    """Read a predictions file; a torn last line is dropped (and cut off the file if ``repair``).

    Raises ``PredictionsError`` (naming ``file:line``) for a file that is not a regular file,
    a line that is too long, not JSON, or not a valid header or record (see the module docstring)."""
    name = os.fspath(path)
    result = PredictionsFile(path=name, header=None)
    whole = 0  # bytes of whole lines: where a torn last line starts
    with _open_regular(name) as handle:
        for number in itertools.count(1):
            line = handle.readline(MAX_LINE_BYTES + 1)
            if not line:
                break
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE_BYTES:
                    raise PredictionsError(
                        f"{name}:{number}: a line over {MAX_LINE_BYTES} bytes: not a predictions file"
                    )
                result.torn = True
                break
            whole += len(line)
            _read_line(result, line, f"{name}:{number}")
    if result.torn and repair:
        with open(name, "r+b") as handle:
            handle.truncate(whole)
    if result.header is None and whole:
        raise PredictionsError(f"{name}: no header line: not written by vidclass eval")
    return result


def _open_regular(name: str) -> IO[bytes]:
    """``name`` opened for reading, refused (before opening) unless it is a regular file."""
    try:
        if not stat.S_ISREG(os.stat(name).st_mode):
            raise PredictionsError(f"{name}: not a regular file")
        # O_NONBLOCK: should it become a FIFO after the check, opening it cannot block.
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise PredictionsError(f"{name}: {exc.strerror or exc}") from exc
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise PredictionsError(f"{name}: not a regular file")
    return handle


def _read_line(result: PredictionsFile, line: bytes, where: str) -> None:
    """Add one whole line (a header or a record) to ``result``, checked."""
    if not line.strip():
        return
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, an integer of 5,000 digits, nesting
        raise PredictionsError(f"{where}: not a JSON line (the file is damaged)") from None
    if not isinstance(obj, dict):
        raise PredictionsError(f"{where}: not a JSON object")
    if obj.get("type") == "header":
        if obj.get("format") != FORMAT:
            raise PredictionsError(f"{where}: not a vidclass eval header")
        _checked(check_header, obj, where, "header")
        if result.header is None:
            result.header = obj
        else:
            check_compatible(result.header, obj, where)
        result.headers += 1
        return
    if "id" not in obj or "status" not in obj:
        raise PredictionsError(f"{where}: not a vidclass eval record (no id or status)")
    if result.header is None:
        raise PredictionsError(f"{where}: no header line before this record: not written by vidclass eval")
    _checked(
        check_record, obj, where, "record", result.header["model"]["labels"], bool(result.header.get("multi_label"))
    )
    result.records.append(obj)


def _checked(check: Callable[..., None], obj: dict[str, Any], where: str, what: str, *args: Any) -> None:
    try:
        check(obj, *args)
    except ValueError as exc:
        raise PredictionsError(f"{where}: not a valid vidclass eval {what}: {exc}") from None


def _get(header: dict[str, Any], dotted: str) -> Any:
    value: Any = header
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def check_compatible(
    first: dict[str, Any],
    other: dict[str, Any],
    where: str,
    fields: Sequence[str] = COMPATIBLE_FIELDS,
    *,
    than: str = "the first header",
    remedy: str = "a predictions file holds one evaluation: report its parts on their own",
) -> None:
    """PredictionsError when ``other`` was made with another model, protocol or preprocessing
    (or, with ``fields``, another limit or shard) than ``first``: one line saying at ``where``
    what differs from ``than`` and, in ``remedy``, what to do."""
    for name in fields:
        a, b = _normal(_get(first, name)), _normal(_get(other, name))
        if a != b:
            thing = {"model.labels": "model", "model.fingerprint": "model"}.get(name, name.split(".")[0])
            raise PredictionsError(
                f"{where}: made with a different {thing} than {than} ({_differ(name, a, b)}); {remedy}"
            )


def _differ(name: str, a: Any, b: Any) -> str:
    """What ``b`` holds instead of ``a`` in header field ``name``, shortly."""
    if name == "model.labels" and isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{len(b)} labels instead of {len(a)}"
        if sorted(map(str, a)) == sorted(map(str, b)):
            return "the same labels in another order"
        i = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
        return f"label {i + 1} is {_short(b[i])} instead of {_short(a[i])}"
    if name == "model.fingerprint":
        return f"the same labels, other weights: fingerprint {_short(b)} instead of {_short(a)}"
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        return ", ".join(f"{k} {_short(b.get(k))} instead of {_short(a.get(k))}" for k in keys[:4])
    return f"{_short(b)} instead of {_short(a)}"


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
    if sorted(a.get("true_labels") or []) != sorted(b.get("true_labels") or []):
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
        " (different true labels, top-1 label or score); were these made with different models or datasets?"
    )


class PredictionsWriter:
    """Appends records to a predictions file: one ``write`` per line, flushed to the OS at once.

    Opening takes an exclusive advisory lock (where the OS has ``flock``), so two evaluations
    cannot append to one file; read or repair the file only after opening the writer.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISREG(os.stat(self.path).st_mode):  # a FIFO would block, a device never end
                raise PredictionsError(f"{self.path}: not a regular file")
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0), 0o666)
        try:
            if not stat.S_ISREG(os.fstat(self.fd).st_mode):
                raise PredictionsError(f"{self.path}: not a regular file")
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
    "MAX_LINE_BYTES",
    "SCORE_TOLERANCE",
    "VERSION",
    "Merged",
    "PredictionsError",
    "PredictionsFile",
    "PredictionsWriter",
    "agree",
    "check_compatible",
    "check_header",
    "check_record",
    "conflict_error",
    "json_line",
    "merge_records",
    "read_predictions",
]
