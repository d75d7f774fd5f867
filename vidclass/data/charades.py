"""Charades: its annotation CSV (each video's actions, with when they happen) and its class list.

The CSV's header names an ``id`` and an ``actions`` column (Charades' own files:
``id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length``).
An ``actions`` cell lists ``class start end`` actions separated by ``;``
(``c092 11.90 21.20;c147 0.00 12.60``, in seconds), or nothing: a video with no action, whose
label set is empty. A sample's ``labels`` are its distinct class ids in the order they first
appear; ``actions`` keeps every action, so two overlapping actions of one class give one label
and two actions. The video is ``<id>.<ext>`` anywhere below the dataset root (the first in path
order if several); an id is a file name, so one holding a ``/`` or ``\\`` is refused.

The class list has one ``ID name`` line per class (``c000 Holding some clothes``). Next to the
CSV (or in the dataset root), a file whose name contains ``classes`` and whose first line reads
as ``cNNN name`` is found by itself; ``load_dataset(classes=FILE)`` names one. It fills
``Dataset.class_names``; an action whose id it lacks keeps its id as its label.
"""

from __future__ import annotations

import math
import os
import re

from vidclass.data.annotations import CHARADES_COLUMNS, csv_rows, read_text
from vidclass.data.files import index_videos
from vidclass.data.samples import Action, DatasetError, Sample

CLASS_FILE_SUFFIXES = (".txt", ".csv", ".lst", ".list", ".tsv")
_CHARADES_CLASS = re.compile(r"c\d+\s+\S")
_EXAMPLE_ACTION = "'c092 11.90 21.20'"


def read_class_file(path: str) -> dict[str, str]:
    """``ID name`` lines (blank and ``#`` lines skipped) as ``{id: name}``."""
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: no such class file")
    names: dict[str, str] = {}
    first: dict[str, int] = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        content = line.strip()
        if not content or content.startswith("#"):
            continue
        parts = content.split(None, 1)
        if len(parts) != 2:
            raise DatasetError(
                f"{path}:line {number}: expected 'ID name' (as 'c000 Holding some clothes'), got {content!r}"
            )
        class_id, name = parts[0], parts[1].strip()
        if class_id in names:
            raise DatasetError(
                f"{path}:line {number}: class {class_id!r} is listed again (first on line {first[class_id]})"
            )
        names[class_id], first[class_id] = name, number
    if not names:
        raise DatasetError(f"{path}: lists no classes")
    return names


def _looks_like_class_file(path: str) -> bool:
    try:
        text = read_text(path)
    except DatasetError:
        return False
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return bool(lines) and _CHARADES_CLASS.match(lines[0]) is not None


def find_class_file(folders: list[str]) -> str | None:
    """The one Charades class file in ``folders`` (searched in order), or None."""
    for folder in dict.fromkeys(os.path.abspath(f) for f in folders):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        found = [
            os.path.join(folder, name)
            for name in names
            if not name.startswith(".")
            and "classes" in name.lower()
            and name.lower().endswith(CLASS_FILE_SUFFIXES)
            and os.path.isfile(os.path.join(folder, name))
            and _looks_like_class_file(os.path.join(folder, name))
        ]
        if len(found) > 1:
            listed = ", ".join(os.path.basename(p) for p in found)
            raise DatasetError(f"{folder} holds several class files ({listed}); name one with --classes FILE")
        if found:
            return found[0]
    return None


def parse_action(line: int, text: str) -> Action:
    """One ``class start end`` action; a ``DatasetError`` starting ``line N`` if malformed."""
    fields = text.split()
    if len(fields) != 3:
        raise DatasetError(f"line {line}: action {text!r}: expected 'class start end' (as {_EXAMPLE_ACTION})")
    try:
        start, end = float(fields[1]), float(fields[2])
    except ValueError:
        start = end = math.nan
    if not (math.isfinite(start) and math.isfinite(end)):
        raise DatasetError(f"line {line}: action {text!r}: start and end must be numbers of seconds")
    if start < 0 or end < 0:
        raise DatasetError(f"line {line}: action {text!r}: a negative time")
    if start > end:
        raise DatasetError(f"line {line}: action {text!r}: starts after it ends")
    return Action(label=fields[0], start=start, end=end)


def read_charades_entries(text: str) -> list[tuple[int, str, tuple[Action, ...]]]:
    """``(line, id, actions)`` of each row of a Charades CSV."""
    rows = csv_rows(text)
    if not rows:
        raise DatasetError("empty")
    names = [cell.lower() for cell in rows[0][1]]
    for column in CHARADES_COLUMNS:
        if column not in names:
            raise DatasetError(f"not a Charades CSV (no {column!r} column)")
    id_col, actions_col = (names.index(column) for column in CHARADES_COLUMNS)
    entries = []
    for line, row in rows[1:]:
        video_id = row[id_col] if id_col < len(row) else ""
        if not video_id:
            raise DatasetError(f"line {line}: no id")
        if "/" in video_id or "\\" in video_id or video_id in (".", ".."):
            raise DatasetError(f"line {line}: id {video_id!r} is not a file name (it holds a path)")
        cell = row[actions_col] if actions_col < len(row) else ""
        actions = tuple(parse_action(line, part.strip()) for part in cell.split(";") if part.strip())
        entries.append((line, video_id, actions))
    return entries


def read_charades(root: str, path: str, text: str) -> tuple[list[Sample], int]:
    """The samples a Charades CSV lists (videos found below ``root``) and how many repeated rows
    were dropped."""
    try:
        entries = read_charades_entries(text)
    except DatasetError as exc:
        raise DatasetError(f"{path}:{exc}" if str(exc).startswith("line") else f"{path}: {exc}") from exc
    index = index_videos(root)
    listed: list[Sample] = []
    seen: dict[str, tuple[tuple[str, ...], int]] = {}
    duplicates = 0
    for line, video_id, actions in entries:
        labels = tuple(dict.fromkeys(action.label for action in actions))
        if video_id in seen:
            before, first = seen[video_id]
            if set(before) != set(labels):
                raise DatasetError(
                    f"{path}:line {line}: {video_id} is listed with labels {labels!r} and, on line {first},"
                    f" {before!r}; one label set per video"
                )
            duplicates += 1
            continue
        seen[video_id] = (labels, line)
        found = index.get(video_id)
        video = found[0] if found else os.path.join(root, video_id + ".mp4")
        listed.append(Sample(path=video, label="", key=video_id, labels=labels, actions=actions))
    if not listed:
        raise DatasetError(f"{path}: lists no videos")
    return listed, duplicates


__all__ = ["find_class_file", "parse_action", "read_charades", "read_charades_entries", "read_class_file"]
