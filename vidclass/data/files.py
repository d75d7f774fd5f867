"""Video files: which names are videos, and the videos among the paths a user names.

A file named explicitly is always kept, whatever its extension, and so is a path that does
not exist (it later yields an error record rather than vanishing). A directory contributes
the video files directly inside it, or every one below it with ``recursive=True``, sorted by
name; hidden entries (names starting with ".") are skipped inside directories.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".avi",
        ".mkv",
        ".mov",
        ".webm",
        ".m4v",
        ".mpg",
        ".mpeg",
        ".wmv",
        ".flv",
        ".3gp",
        ".ts",
        ".ogv",
    }
)


def is_video_name(name: str) -> bool:
    """Whether a file name has a recognised video extension (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def list_directory(directory: str, recursive: bool = False) -> list[str]:
    """The video files in ``directory`` (all below it with ``recursive``), sorted by path."""
    if not recursive:
        with os.scandir(directory) as entries:
            names = sorted(
                entry.name
                for entry in entries
                if not entry.name.startswith(".") and is_video_name(entry.name) and entry.is_file()
            )
        return [os.path.join(directory, name) for name in names]
    found: list[str] = []
    # followlinks=False: a symlinked directory loop cannot make this run forever.
    for root, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and is_video_name(name):
                path = os.path.join(root, name)
                if os.path.isfile(path):
                    found.append(path)
    return found


def index_videos(root: str) -> dict[str, list[str]]:
    """Every video file below ``root``, by file stem, in sorted path order (hidden names skipped)."""
    index: dict[str, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and is_video_name(name):
                index.setdefault(os.path.splitext(name)[0], []).append(os.path.join(dirpath, name))
    return index


def expand_paths(paths: Iterable[str | os.PathLike[str]], recursive: bool = False) -> Iterator[str]:
    """Yield the videos for each given path, in the given order (see the module docstring)."""
    for path in paths:
        name = os.fspath(path)
        if os.path.isdir(name):
            yield from list_directory(name, recursive=recursive)
        else:
            yield name


__all__ = ["VIDEO_EXTENSIONS", "expand_paths", "index_videos", "is_video_name", "list_directory"]
