"""Multi-label videos: two or three targets in one video, each with its own motion class.

``sample_multi`` draws one video: a frame rate, duration, frame size, camera shake, noise and
background as a class video draws them (``sample_video``), then how many targets (2 or 3,
equally likely) and which classes (a uniformly random set of that many different classes of
the pool: ``--classes`` without ``static``, since a still target looks just like the static
distractors), then each target, then the distractors. The draws depend only on (seed, index,
classes, options), not on the other videos.

Placement. The frame is cut into a grid of equal cells (``grid``: the one, of those with
enough cells, whose cells have the longest short side; e.g. two halves, three strips or 2×2),
each target gets a cell of its own, at random, and is drawn exactly as the target of a class
video whose frame is that cell (``classes.sample_target``: its size, travel, speed and
position are relative to the cell, and it stays inside it, ``margin`` px from its edges). So
targets never overlap one another, whatever their motion; the static distractors lie
anywhere, behind them, as in class videos.

The label set is the set of the targets' classes, written sorted by name (``a;b``), and the
targets are listed (``params.targets``, ``targets.jsonl``) in that same order.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from vidclass.synth.classes import CLASSES, motion_class, sample_target, target_states
from vidclass.synth.encode import temp_path, write_mp4
from vidclass.synth.frames import (
    MIN_FRAMES,
    Renderer,
    SynthOptions,
    sample_distractors,
    sample_frame_size,
    sample_scene,
    video_rng,
)
from vidclass.synth.looks import sample_look, sample_palette

MULTI = "multi"  # the rng label of multi-label videos, and their file names' stem
FOLDER = "videos"  # where they are written, below OUT_DIR
LABELS = "labels.csv"  # the dataset: path,labels
TARGETS = "targets.jsonl"  # each target's box in every frame
SET_SIZES = (2, 3)  # targets (labels) per video
NOT_A_LABEL = "static"  # a still target looks like a distractor


def label_pool(classes: list[str] | None) -> list[str]:
    """The classes a multi-label video's targets are drawn from, in ``CLASSES`` order."""
    names = [c for c in CLASSES if c != NOT_A_LABEL] if classes is None else list(classes)
    return sorted(names, key=CLASSES.index)


def check_multi_classes(classes: list[str], cli: bool = False) -> str | None:
    """The first problem with this class pool for multi-label videos, as one line, or None."""
    name = "--classes" if cli else "classes"
    if NOT_A_LABEL in classes:
        return (
            f"{name}: {NOT_A_LABEL} cannot be a label of a multi-label video (a still target looks like a distractor)"
        )
    if len(set(classes)) < max(SET_SIZES):
        return (
            f"multi-label videos need at least {max(SET_SIZES)} classes (each shows {SET_SIZES[0]} or"
            f" {SET_SIZES[-1]} different motions); {name} gives {len(set(classes))}"
        )
    return None


def grid(width: int, height: int, count: int) -> tuple[int, int]:
    """``(columns, rows)`` of the cells ``count`` targets are placed in: the grid with at
    least ``count`` cells whose cells' short side is longest (fewer cells on a tie)."""
    best: tuple[float, int, int, int] | None = None
    for columns in range(1, count + 1):
        for rows in range(1, count + 1):
            if columns * rows < count or (columns - 1) * rows >= count or columns * (rows - 1) >= count:
                continue
            key = (min(width / columns, height / rows), -columns * rows, columns, rows)
            if best is None or key[:2] > best[:2]:
                best = key
    assert best is not None
    return best[2], best[3]


def sample_multi(index: int, seed: int, options: SynthOptions, classes: list[str]) -> dict[str, Any]:
    """Every parameter of multi-label video ``index`` (JSON-serialisable); ``MultiRenderer``
    draws it. ``classes``: the pool (``label_pool``); its order matters to the draws."""
    problem = check_multi_classes(classes)
    if problem:
        raise ValueError(problem)
    for label in classes:
        motion_class(label)
    rng = video_rng(seed, MULTI, index)
    fps = int(rng.integers(options.min_fps, options.max_fps + 1))
    seconds = float(rng.uniform(options.min_seconds, options.max_seconds))
    frames = max(MIN_FRAMES, round(seconds * fps))
    width, height = sample_frame_size(rng, options)
    span = (frames - 1) / fps
    camera, noise, background = sample_scene(rng, options, min(width, height))
    bg_colours = [background["colour0"], background["colour1"]]

    count = SET_SIZES[int(rng.integers(len(SET_SIZES)))]
    labels = [classes[int(k)] for k in rng.permutation(len(classes))[:count]]
    columns, rows = grid(width, height, count)
    cells = rng.permutation(columns * rows)[:count]
    cell_w, cell_h = width // columns, height // rows
    targets = []
    for label, cell in zip(labels, cells, strict=True):
        x0, y0 = int(cell % columns) * cell_w, int(cell // columns) * cell_h
        target = sample_target(label, rng, cell_w, cell_h, span, margin=camera["jitter"] + 1.0)
        target["x"] += x0
        target["y"] += y0
        target["look"] = sample_look(rng, bg_colours)
        palette_b = sample_palette(rng, bg_colours + [target["look"]["palette"]["colour1"]])
        if motion_class(label).kind == "blink":
            target["palette_b"] = palette_b
        targets.append({"label": label, "cell": [x0, y0, x0 + cell_w, y0 + cell_h], **target})
    targets.sort(key=lambda t: t["label"])
    distractors = sample_distractors(rng, options, width, height, bg_colours)
    return {
        "label": MULTI,
        "labels": [t["label"] for t in targets],
        "index": index,
        "seed": seed,
        "width": width,
        "height": height,
        "fps": fps,
        "frames": frames,
        "duration": frames / fps,
        "params": {
            "camera": camera,
            "noise": noise,
            "background": background,
            "targets": targets,
            "distractors": distractors,
        },
    }


class MultiRenderer(Renderer):
    """Renders a sampled multi-label video (``sample_multi``): every target moves by its own
    class (``classes.target_states``); ``target_box(i, k)`` is target ``k``'s box."""

    def target_tracks(self, times: np.ndarray, span: float) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        return [(t, target_states(t["label"], t, times, span)) for t in self.spec["params"]["targets"]]


def multi_relpath(index: int) -> str:
    return f"{FOLDER}/{MULTI}_{index:05d}.mp4"


def write_multi(
    out_dir: str | os.PathLike[str], index: int, seed: int, options: SynthOptions, classes: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sample, render and write multi-label video ``index``; returns its record (as in
    synth.json) and its targets' tracks (a line of targets.jsonl)."""
    spec = sample_multi(index, seed, options, classes)
    rel = multi_relpath(index)
    path = Path(out_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    renderer = MultiRenderer(spec)
    try:
        sha = write_mp4(tmp, renderer.iter_frames(), spec["fps"], spec["width"], spec["height"])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    keys = ("labels", "index", "width", "height", "fps", "frames", "duration")
    record = {"path": rel, **{key: spec[key] for key in keys}, "frames_sha256": sha, "params": spec["params"]}
    track = {
        "path": rel,
        "fps": spec["fps"],
        "width": spec["width"],
        "height": spec["height"],
        "targets": [
            {"label": label, "boxes": [None if box is None else list(box) for box in renderer.target_boxes(target=k)]}
            for k, label in enumerate(spec["labels"])
        ],
    }
    return record, track


def multi_temp(task: tuple[Any, ...]) -> Path:
    """The temporary file of ``write_multi(*task)``."""
    return temp_path(Path(task[0]) / multi_relpath(task[1]))


def targets_line(track: dict[str, Any]) -> str:
    return json.dumps(track, separators=(",", ":")) + "\n"


def labels_lines(records: list[dict[str, Any]]) -> list[str]:
    """labels.csv: the header and one ``path,a;b`` row per video (names hold no comma)."""
    return ["path,labels\n"] + [f"{r['path']},{';'.join(r['labels'])}\n" for r in records]


__all__ = [
    "FOLDER",
    "LABELS",
    "MULTI",
    "NOT_A_LABEL",
    "SET_SIZES",
    "TARGETS",
    "MultiRenderer",
    "check_multi_classes",
    "grid",
    "label_pool",
    "labels_lines",
    "multi_relpath",
    "multi_temp",
    "sample_multi",
    "targets_line",
    "write_multi",
]
