"""Reading annotation files: their text, their format, and the ``(line, path, label)`` entries.

The formats are described in ``vidclass.data.layouts``; this module parses, and
``vidclass.data.layouts`` turns the entries into a ``Dataset``. Errors are ``DatasetError``; a
message that starts with ``line N`` is completed with the file's name by the caller.
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
import shlex

from vidclass.data.files import is_video_name
from vidclass.data.samples import DatasetError

KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")
CHARADES_COLUMNS = ("id", "actions")
_PATH_COLUMNS = ("path", "video", "file", "filename", "video_path", "filepath", "name", "video_id")
_LABEL_COLUMNS = ("label", "class", "category", "class_name", "classname", "action")


def read_text(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{path}: not an annotation file (not UTF-8 text): the dataset must be a folder or a UTF-8 annotation file"
        ) from exc


def _data_lines(text: str) -> list[tuple[int, str]]:
    return [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """Rows of CSV text with their line numbers (a row's first line, when a quoted cell spans
    several), blank and ``#`` lines skipped."""
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    start = 1
    try:
        for row in reader:
            first, start = start, reader.line_num + 1
            if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            rows.append((first, [cell.strip() for cell in row]))
    except csv.Error as exc:
        raise DatasetError(f"line {reader.line_num}: {exc}") from exc
    return rows


def sniff(text: str) -> str | None:
    """``charades``, ``kinetics``, ``csv``, ``lines`` or None (not an annotation file) from the content."""
    lines = _data_lines(text)
    if not lines:
        return None
    first = lines[0][1]
    if "," in first:
        row = next(csv.reader([first], skipinitialspace=True))
        names = [cell.strip().lower() for cell in row]
        if all(column in names for column in CHARADES_COLUMNS):
            return "charades"
        if all(column in names for column in KINETICS_COLUMNS[1:]):
            return "kinetics"
        if _csv_header(names) is not None:
            return "csv"
        if is_video_name(row[0].strip()):
            return "csv"
    fields = _split_line(first)
    if fields and is_video_name(fields[0]):
        return "lines"
    return None


def _csv_header(names: list[str]) -> tuple[int, int | None] | None:
    """(path column, label column) when ``names`` is a header row, else None."""
    path_col = next((i for i, n in enumerate(names) if n in _PATH_COLUMNS), None)
    label_col = next((i for i, n in enumerate(names) if n in _LABEL_COLUMNS), None)
    if path_col is None or is_video_name(names[path_col]):
        return None
    return path_col, label_col


def _split_line(line: str) -> list[str]:
    """``path label`` split at the last whitespace run; quoted fields are honoured."""
    line = line.strip()
    if not line:
        return []
    if '"' in line or "'" in line:
        try:
            fields = shlex.split(line)
        except ValueError:  # an apostrophe in a name, not a quote
            fields = []
        if 1 <= len(fields) <= 2:
            return fields
    parts = line.rsplit(None, 1)
    if len(parts) == 2 and is_video_name(line) and not is_video_name(parts[0]):
        return [line]  # "my clip.mp4": a path with a space and no label
    return parts


def read_csv_entries(text: str) -> list[tuple[int, str, str | None]]:
    rows = csv_rows(text)
    if not rows:
        return []
    path_col: int = 0
    label_col: int | None = 1
    header = _csv_header([cell.lower() for cell in rows[0][1]])
    if header is not None:
        path_col, label_col = header[0], header[1]
        rows = rows[1:]
    entries = []
    for line, row in rows:
        if path_col >= len(row) or not row[path_col]:
            raise DatasetError(f"line {line}: no path")
        label = row[label_col] if label_col is not None and label_col < len(row) and row[label_col] else None
        entries.append((line, row[path_col], label))
    return entries


LABEL_SET_COLUMN = "labels"
LABEL_SET_SEPARATOR = ";"


def label_set_column(text: str) -> bool:
    """Whether CSV ``text``'s header names a ``labels`` column: a multi-label CSV."""
    rows = csv_rows(text)
    if not rows:
        return False
    names = [cell.lower() for cell in rows[0][1]]
    return _csv_header(names + ["label"]) is not None and LABEL_SET_COLUMN in names


def read_label_set_entries(text: str) -> list[tuple[int, str, tuple[str, ...]]]:
    """``path,labels`` rows (a header naming the path column and ``labels``): each video's label
    set, its labels separated by ``;`` (an empty cell: a video with no label)."""
    rows = csv_rows(text)
    names = [cell.lower() for cell in rows[0][1]]
    path_col = next(i for i, n in enumerate(names) if n in _PATH_COLUMNS)
    labels_col = names.index(LABEL_SET_COLUMN)
    entries = []
    for line, row in rows[1:]:
        if path_col >= len(row) or not row[path_col]:
            raise DatasetError(f"line {line}: no path")
        cell = row[labels_col] if labels_col < len(row) else ""
        labels = tuple(part.strip() for part in cell.split(LABEL_SET_SEPARATOR) if part.strip())
        entries.append((line, row[path_col], labels))
    return entries


def read_line_entries(text: str) -> list[tuple[int, str, str | None]]:
    entries = []
    for line, content in _data_lines(text):
        fields = _split_line(content)
        if len(fields) > 2:
            raise DatasetError(f"line {line}: expected 'path label', got {len(fields)} fields")
        entries.append((line, fields[0], fields[1] if len(fields) == 2 else None))
    return entries


def clean_key(rel: str, base: str) -> str:
    """A listed path's identity: normalised (``x/../x/a.mp4`` and ``./x/a.mp4`` are ``x/a.mp4``),
    with / separators, and relative to ``base`` (the folder relative paths are read from) when
    it is an absolute path below it, so that every spelling of one video is one key."""
    key = os.path.normpath(rel)
    if os.path.isabs(key) and below(key, base):
        key = os.path.relpath(key, os.path.abspath(base))
    return key.replace(os.sep, "/") if os.sep != "/" else key


def below(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it, compared as written: ``..`` is resolved
    lexically (as ``os.path.normpath`` does) and symbolic links are not followed."""
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # another drive
        return False


def label_from_path(key: str) -> str | None:
    """The first folder of a relative key that stays below its base, else None."""
    parts = key.split("/")
    if posixpath.isabs(key) or parts[0] == "..":
        return None
    return parts[0] if len(parts) > 1 else None


__all__ = [
    "CHARADES_COLUMNS",
    "KINETICS_COLUMNS",
    "LABEL_SET_COLUMN",
    "LABEL_SET_SEPARATOR",
    "below",
    "clean_key",
    "csv_rows",
    "label_from_path",
    "label_set_column",
    "read_label_set_entries",
    "read_csv_entries",
    "read_line_entries",
    "read_text",
    "sniff",
]
