"""The inputs of ``vidclass predict``: files, directories and ``-`` (paths on stdin).

Directory expansion itself is shared with the library (``vidclass.engine.inputs``); this adds
what only the shell has: stdin, warnings for empty directories, and the usage error when
there is nothing to do.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import BinaryIO

import click

from vidclass.cli.output import Messages
from vidclass.engine.inputs import is_video_name, list_directory

STDIN = "-"


def read_path_list(stream: BinaryIO | None = None) -> list[str]:
    """Newline-separated paths from binary stdin; blank lines skipped, other characters kept.

    Lines are decoded like file names (``os.fsdecode``), so any name the filesystem holds,
    including ones with spaces, unicode or undecodable bytes, round-trips. Only the line end
    (``\\n`` or ``\\r\\n``) is removed.
    """
    if stream is None:
        stream = getattr(sys.stdin, "buffer", None) or sys.stdin
    data = stream.read()
    if isinstance(data, str):  # a text-only stdin: back to bytes the way file names are
        data = os.fsencode(data)
    paths = []
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.strip():
            paths.append(os.fsdecode(line))
    return paths


def collect_inputs(args: Sequence[str], recursive: bool, messages: Messages) -> list[str]:
    """Expand the command's arguments into the ordered list of videos to classify."""
    if not args:
        raise click.UsageError("no inputs: give video files, directories, or - to read paths from stdin")
    if list(args).count(STDIN) > 1:
        raise click.UsageError("- (stdin) can be given only once")
    named: list[str] = []
    for arg in args:
        named.extend(read_path_list() if arg == STDIN else [arg])
    videos: list[str] = []
    for path in named:
        if not os.path.isdir(path):
            videos.append(path)  # a missing path too: it becomes an error record
            continue
        try:
            found = list_directory(path, recursive=recursive)
        except OSError as exc:
            messages.warning(f"{path}: cannot list directory: {exc.strerror or exc}")
            continue
        if not found:
            hint = ""
            if not recursive and _has_subdirectory_videos(path):
                hint = " (subdirectories have some: add --recursive)"
            messages.warning(f"{path}: no video files{hint}")
        videos.extend(found)
    if not videos:
        raise click.UsageError("no video files found in the given inputs")
    return videos


def _has_subdirectory_videos(directory: str) -> bool:
    for _root, dirnames, filenames in os.walk(directory):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if any(is_video_name(f) and not f.startswith(".") for f in filenames):
            return True
    return False


__all__ = ["STDIN", "collect_inputs", "read_path_list"]
