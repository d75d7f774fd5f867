"""The truth of a sequence set: ``OUT_DIR/sequences.jsonl``, which class is when in each video.

One line per video, in index order::

    {"path": "sequence_00000.mp4", "fps": 12, "frames": 61, "duration": 5.083333333333333,
     "width": 64, "height": 48,
     "segments": [{"label": "static", "start": 0.0, "end": 2.5, "start_frame": 0, "end_frame": 30},
                  {"label": "growing", "start": 2.5, "end": 5.083333333333333, ...}]}

Segments tile the video: the first starts at frame 0, each starts where the one before it
ends, the last ends at ``frames``; seconds are ``frame / fps`` (so ``start`` of one segment
is exactly ``end`` of the one before, and the last ``end`` is ``duration``). Frame ``i``
(shown from ``i / fps`` to ``(i + 1) / fps``) belongs to the segment with ``start_frame <= i <
end_frame``. Two consecutive segments never share a label.

Written whole, through a temporary file renamed into place, just before synth.json (like
boxes.jsonl). Its presence marks the folder as a sequence set: ``vidclass.data`` refuses to
read it as a classification dataset.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidclass.errors import VidclassError
from vidclass.synth.encode import temp_path, write_mp4
from vidclass.synth.frames import SynthOptions
from vidclass.synth.sequences import SEQUENCE, SequenceRenderer, sample_sequence

SEQUENCES = "sequences.jsonl"


class SequencesError(VidclassError, ValueError):
    """A sequences.jsonl line that is not a sequence's truth (exit 2)."""


@dataclass(frozen=True)
class Segment:
    """One stretch of a sequence where the target moves by one class: frames ``start_frame``
    to ``end_frame - 1``, seconds ``start`` to ``end`` (``frame / fps``)."""

    label: str
    start: float
    end: float
    start_frame: int
    end_frame: int

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame


@dataclass(frozen=True)
class SequenceTruth:
    """One video of a sequence set (a line of sequences.jsonl): its segments, in order."""

    path: str
    fps: int
    frames: int
    duration: float
    width: int
    height: int
    segments: tuple[Segment, ...]

    def label_at(self, frame: int) -> str:
        """The label of frame ``frame`` (0-based)."""
        if not 0 <= frame < self.frames:
            raise IndexError(f"frame {frame} is outside 0..{self.frames - 1}")
        return next(s.label for s in self.segments if frame < s.end_frame)

    def frame_labels(self) -> list[str]:
        """The label of every frame, first to last."""
        return [s.label for s in self.segments for _ in range(s.frames)]


def sequence_relpath(index: int) -> str:
    return f"{SEQUENCE}_{index:05d}.mp4"


def write_sequence(
    out_dir: str | os.PathLike[str],
    index: int,
    seed: int,
    options: SynthOptions,
    classes: list[str],
    segments: int,
    segment_seconds: tuple[float, float],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sample, render and write sequence ``index``; returns its record (as in synth.json,
    with its truth) and its target's track (a line of boxes.jsonl)."""
    spec = sample_sequence(index, seed, options, classes, segments, segment_seconds)
    rel = sequence_relpath(index)
    path = Path(out_dir) / rel
    tmp = temp_path(path)
    renderer = SequenceRenderer(spec)
    try:
        sha = write_mp4(tmp, renderer.iter_frames(), spec["fps"], spec["width"], spec["height"])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fps = spec["fps"]
    truth = [
        {
            "label": s["label"],
            "start": s["start_frame"] / fps,
            "end": s["end_frame"] / fps,
            "start_frame": s["start_frame"],
            "end_frame": s["end_frame"],
        }
        for s in spec["segments"]
    ]
    params = {**spec["params"], "motions": [s["motion"] for s in spec["segments"]]}
    record = {
        "path": rel,
        "index": index,
        "width": spec["width"],
        "height": spec["height"],
        "fps": fps,
        "frames": spec["frames"],
        "duration": spec["duration"],
        "segments": truth,
        "frames_sha256": sha,
        "params": params,
    }
    track = {
        "path": rel,
        "fps": fps,
        "width": spec["width"],
        "height": spec["height"],
        "boxes": [None if box is None else list(box) for box in renderer.target_boxes()],
    }
    return record, track


def sequence_temp(task: tuple[Any, ...]) -> Path:
    """The temporary file of ``write_sequence(*task)``."""
    return temp_path(Path(task[0]) / sequence_relpath(task[1]))


def truth_line(record: dict[str, Any]) -> str:
    """A sequence's record (as ``write_sequence`` returns it) as its line of sequences.jsonl."""
    keys = ("path", "fps", "frames", "duration", "width", "height", "segments")
    return json.dumps({key: record[key] for key in keys}, separators=(",", ":")) + "\n"


def write_lines(path: Path, lines: list[str]) -> None:
    """Write a text file whole: a temporary file, renamed into place."""
    tmp = path.with_name("." + path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(lines)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_sequences(out_dir: str | os.PathLike[str]) -> list[SequenceTruth]:
    """The ``sequences.jsonl`` of a sequence set, in its order (index order). A missing file
    raises ``FileNotFoundError`` (no sequence set); a line that is no sequence's truth (its
    segments do not tile it, for one), ``SequencesError``."""
    path = Path(out_dir) / SEQUENCES
    out: list[SequenceTruth] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                out.append(_parse(json.loads(line)))
            except (ValueError, TypeError, KeyError) as exc:
                raise SequencesError(f"{path}:{number}: not a sequence ({exc})") from None
    return out


def _parse(item: dict[str, Any]) -> SequenceTruth:
    segments = tuple(
        Segment(
            label=str(s["label"]),
            start=float(s["start"]),
            end=float(s["end"]),
            start_frame=int(s["start_frame"]),
            end_frame=int(s["end_frame"]),
        )
        for s in item["segments"]
    )
    truth = SequenceTruth(
        path=str(item["path"]),
        fps=int(item["fps"]),
        frames=int(item["frames"]),
        duration=float(item["duration"]),
        width=int(item["width"]),
        height=int(item["height"]),
        segments=segments,
    )
    edges = [0] + [s.end_frame for s in segments]
    if not segments or truth.fps <= 0 or edges[-1] != truth.frames:
        raise ValueError("its segments do not cover its frames")
    for before, segment in zip(edges[:-1], segments, strict=True):
        if segment.start_frame != before or segment.end_frame <= segment.start_frame:
            raise ValueError(f"segment at frame {segment.start_frame} does not follow the one before")
    return truth


__all__ = [
    "SEQUENCES",
    "Segment",
    "SequenceTruth",
    "SequencesError",
    "read_sequences",
    "sequence_relpath",
    "sequence_temp",
    "truth_line",
    "write_lines",
    "write_sequence",
]
