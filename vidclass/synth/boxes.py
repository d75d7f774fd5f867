"""Where the target is: ``OUT_DIR/boxes.jsonl``, the target's box in every frame of every video.

One line per video, in synth.json's order (class, then index)::

    {"path": "moving_left/moving_left_00000.mp4", "fps": 24, "width": 190, "height": 180,
     "boxes": [[x0, y0, x1, y1], ..., null, ...]}

One box per frame of the file as written (after the camera shake; played backwards too with
``reverse``), in pixels of the written video: integers, the box of ``frame[y0:y1, x0:x1]``
(with pixel ``(row i, column j)`` centred at ``(j + 0.5, i + 0.5)``, the edges of the covered
pixels), inside the frame. The box holds every pixel the target covers by at least 1/255
(``frames.BOX_COVERAGE``), so outside it the target changes no pixel by more than a level (before
noise and compression). ``null``: the target covers no pixel in that frame (it never happens
with the current classes, whose targets stay in the frame and never vanish; a reader must
allow it).

A file of its own, not part of synth.json: it is as large as all the parameters together
(about 16 bytes a frame), and a reader that wants the manifest need not parse it. It is
written, whole, just before synth.json, through a temporary file renamed into place, so it
is either complete or absent. ``.jsonl`` is neither a video nor an annotation file, so a
dataset reading the folder does not see it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidclass.errors import VidclassError

BOXES = "boxes.jsonl"


class BoxesError(VidclassError, ValueError):
    """A boxes.jsonl line that is not a track (exit 2)."""


@dataclass(frozen=True, eq=False)
class ObjectTrack:
    """The target's box in every frame of one video (a line of boxes.jsonl).

    ``boxes``: float64 ``(frames, 4)``, ``x0, y0, x1, y1`` per frame (the box of
    ``frame[y0:y1, x0:x1]``), a row of NaN where the target covers no pixel."""

    path: str
    fps: int
    width: int
    height: int
    boxes: np.ndarray

    @property
    def frames(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def visible(self) -> np.ndarray:
        """Per frame: whether the target shows (has a box)."""
        return ~np.isnan(self.boxes[:, 0])

    def contains(self, frame: int, x: float, y: float) -> bool:
        """Whether the point ``(x, y)`` (pixels; pixel ``(i, j)`` spans ``[j, j+1) × [i, i+1)``)
        lies in the target's box in ``frame``; False where the target does not show."""
        x0, y0, x1, y1 = self.boxes[frame]
        return bool(x0 <= x < x1 and y0 <= y < y1)


def track_line(track: dict[str, Any]) -> str:
    """A track (as ``write_one`` returns it) as one line of boxes.jsonl, newline included."""
    return json.dumps(track, separators=(",", ":")) + "\n"


def write_boxes(out: Path, lines: list[str]) -> None:
    """Write boxes.jsonl whole: a temporary file, renamed into place."""
    tmp = out / ("." + BOXES + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(lines)
        os.replace(tmp, out / BOXES)
    finally:
        tmp.unlink(missing_ok=True)


def read_boxes(out_dir: str | os.PathLike[str]) -> dict[str, ObjectTrack]:
    """The ``boxes.jsonl`` of a generated set: each video's relative path (as in synth.json)
    -> its ``ObjectTrack``. A missing file raises ``FileNotFoundError`` (a set written
    before vidclass wrote boxes); a line that is no track, ``BoxesError``."""
    path = Path(out_dir) / BOXES
    tracks: dict[str, ObjectTrack] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                track = _parse(json.loads(line))
            except (ValueError, TypeError, KeyError) as exc:
                raise BoxesError(f"{path}:{number}: not a track ({exc})") from None
            tracks[track.path] = track
    return tracks


def _parse(item: dict[str, Any]) -> ObjectTrack:
    rows = [[math.nan] * 4 if box is None else [float(v) for v in box] for box in item["boxes"]]
    boxes = np.array(rows, dtype=np.float64).reshape(len(rows), 4)
    size = {name: item[name] for name in ("fps", "width", "height")}
    if not isinstance(item["path"], str) or not all(isinstance(v, int) and v > 0 for v in size.values()):
        raise ValueError("path, fps, width or height")
    return ObjectTrack(path=item["path"], boxes=boxes, **size)


__all__ = ["BOXES", "BoxesError", "ObjectTrack", "read_boxes", "track_line", "write_boxes"]
