"""The inputs of ``vidclass predict``: files, directories and ``-`` (paths on stdin, one per
line, or NUL-separated with ``-0``).

Directory expansion itself is shared with the library (``vidclass.data.files``); this adds
what only the shell has: stdin, a failure for each directory argument that gives no video
(so no argument vanishes silently), and the usage error when there is nothing to do. Paths
read from stdin name files: a directory there is not expanded, and fails like any other
path that is not a video file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import IO, Any

import click

from vidclass.data.files import is_video_name, list_directory

STDIN = "-"


def read_path_list(stream: IO[Any] | None = None, null: bool = False) -> list[str]:
    """Paths from binary stdin: newline-separated (blank lines skipped, other characters
    kept), or with ``null`` NUL-separated as ``find -print0`` writes them (empty entries
    skipped, every other byte kept: a name may hold a newline).

    Paths are decoded like file names (``os.fsdecode``), so any name the filesystem holds,
    including ones with spaces, unicode or undecodable bytes, round-trips. Only the
    separator (``\\n``, ``\\r\\n`` or NUL) is removed.
    """
    source: IO[Any] = stream if stream is not None else getattr(sys.stdin, "buffer", None) or sys.stdin
    data = source.read()
    if isinstance(data, str):  # a text-only stdin: back to bytes the way file names are
        data = os.fsencode(data)
    if null:
        return [os.fsdecode(entry) for entry in data.split(b"\0") if entry]
    paths = []
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.strip():
            paths.append(os.fsdecode(line))
    return paths


def collect_inputs(args: Sequence[str], recursive: bool, null: bool = False) -> tuple[list[str], list[str | None]]:
    """Expand the command's arguments into the ordered list of videos to classify; ``null``:
    the paths on stdin are NUL-separated (``-0``, which then needs ``-``).

    Returns the paths and, for each, None or why it already failed: a directory argument
    that holds no video files (or cannot be listed) stays in the list, in its place, with
    that reason, and becomes an error record like a bad file.
    """
    if not args:
        raise click.UsageError("no inputs: give video files, directories, or - to read paths from stdin")
    if list(args).count(STDIN) > 1:
        raise click.UsageError("- (stdin) can be given only once")
    if null and STDIN not in args:
        raise click.UsageError("-0/--null reads NUL-separated paths from stdin: give - as an input")
    videos: list[str] = []
    problems: list[str | None] = []
    for arg in args:
        if arg == STDIN or not os.path.isdir(arg):
            paths = read_path_list(null=null) if arg == STDIN else [arg]
            videos.extend(paths)  # a missing path or a directory on stdin too: an error record
            problems.extend([None] * len(paths))
            continue
        try:
            found = list_directory(arg, recursive=recursive)
        except OSError as exc:
            videos.append(arg)
            problems.append(f"cannot list directory: {exc.strerror or exc}")
            continue
        if not found:
            hint = ""
            if not recursive and _has_subdirectory_videos(arg):
                hint = " (subdirectories have some: add --recursive)"
            videos.append(arg)
            problems.append(f"directory holds no video files{hint}")
        videos.extend(found)
        problems.extend([None] * len(found))
    if not videos:
        raise click.UsageError("no video files found in the given inputs")
    return videos, problems


def _has_subdirectory_videos(directory: str) -> bool:
    for _root, dirnames, filenames in os.walk(directory):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if any(is_video_name(f) and not f.startswith(".") for f in filenames):
            return True
    return False


__all__ = ["STDIN", "collect_inputs", "read_path_list"]
