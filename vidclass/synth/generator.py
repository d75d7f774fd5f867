"""The synthetic temporal benchmark: writing a generated set.

``generate`` is what ``vidclass synth`` runs. It writes ``OUT_DIR/<class>/<class>_<index>.mp4``
(H.264, through PyAV), ``OUT_DIR/synth.json`` (the settings and every video's parameters) and
``OUT_DIR/boxes.jsonl`` (where the target is in every frame; see ``vidclass.synth.boxes``).

Determinism. Video ``index`` of class ``label`` is drawn from its own
``numpy.random.Generator``, seeded by ``(seed, crc32(label), index)``: the same seed and
options give the same videos whatever other classes or how many videos are generated with
them, and in whatever order or number of worker processes. Rendering is numpy on fixed
parameters; RGB -> YUV is our own integer arithmetic; the encoder settings are pinned
(``ENCODER``: libx264, one thread, fixed CRF/preset/GOP, no macroblock-tree) and every byte
of every input frame is set. So files are byte-identical from run to run with the same
PyAV/FFmpeg build; a different x264 build may encode differently, which is why each record
also has ``frames_sha256``, the hash of the rendered RGB frames, independent of the encoder.

``generate_sequences`` (``--sequences``) and ``generate_multi_label`` (``--multi-label``)
write the other two kinds of set, with the same determinism (each video's generator is seeded
by its kind's name in place of the class: ``sequence``, ``multi``).

One video's parameters and frames are made in ``vidclass.synth.frames``; its file is encoded,
and many files in a process pool, in ``vidclass.synth.encode``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vidclass.errors import VidclassError
from vidclass.synth.boxes import BOXES, track_line, write_boxes
from vidclass.synth.classes import CLASSES, TWINS, motion_class
from vidclass.synth.encode import ENCODER, default_workers, encoder_info, make_one, make_videos, write_mp4
from vidclass.synth.frames import (
    Renderer,
    SynthOptions,
    check_options,
    render,
    render_video,
    resolve_options,
    sample_video,
    video_rng,
)
from vidclass.synth.multilabel import (
    FOLDER,
    LABELS,
    MULTI,
    TARGETS,
    check_multi_classes,
    label_pool,
    labels_lines,
    multi_temp,
    targets_line,
    write_multi,
)
from vidclass.synth.segments import SEQUENCES, sequence_temp, truth_line, write_lines, write_sequence
from vidclass.synth.sequences import SEGMENT_SECONDS, check_sequence_options

FORMAT_VERSION = 1
MANIFEST = "synth.json"
_VIDEO_NAME = re.compile(r"^[a-z0-9_]+_\d{5,}(_reversed)?\.mp4$")
_SEQUENCE_NAME = re.compile(r"^\.?sequence_\d{5,}\.mp4(\.tmp)?$")
_MULTI_NAME = re.compile(rf"^\.?{MULTI}_\d{{5,}}\.mp4(\.tmp)?$")


class OutputExistsError(VidclassError, FileExistsError):
    """The output folder is not empty and ``overwrite`` was not given.

    A ``VidclassError`` (exit 2), and still the ``FileExistsError`` it was before
    ``vidclass.errors`` existed, for callers that catch that or ``OSError``."""


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: not a directory")
    if not out.exists():
        out.mkdir(parents=True)
        return
    if not any(out.iterdir()):
        return
    if not overwrite:
        raise OutputExistsError(f"{out}: folder is not empty (use overwrite to replace a generated set)")
    # Remove what an earlier run wrote (its manifest, boxes, truth and videos), nothing else.
    for name in (MANIFEST, BOXES, SEQUENCES, LABELS, TARGETS):
        for file in (out / name, out / ("." + name + ".tmp")):
            if file.is_file():
                file.unlink()
    for entry in out.iterdir():
        if entry.is_file() and _SEQUENCE_NAME.match(entry.name):
            entry.unlink()
    multi = out / FOLDER
    if multi.is_dir():
        for entry in multi.iterdir():
            if entry.is_file() and _MULTI_NAME.match(entry.name):
                entry.unlink()
        if not any(multi.iterdir()):
            multi.rmdir()
    for name in CLASSES:
        folder = out / name
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            plain = entry.name[1:-4] if entry.name.startswith(".") and entry.name.endswith(".tmp") else entry.name
            if entry.is_file() and _VIDEO_NAME.match(plain):
                entry.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()


def generate(
    out_dir: str | os.PathLike[str],
    per_class: int = 10,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    *,
    options: SynthOptions | None = None,
    workers: int = 1,
    reverse: bool = False,
    overwrite: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Write ``per_class`` videos of each class to ``out_dir``; what ``vidclass synth`` runs.

    Files: ``out_dir/<class>/<class>_<index:05d>.mp4``, ``out_dir/synth.json`` and
    ``out_dir/boxes.jsonl`` (the target's box in every frame: ``read_boxes``). With
    ``reverse``, every video is played backwards and filed under its twin class, as
    ``out_dir/<twin>/<class>_<index:05d>_reversed.mp4`` (the frames of the forward video with
    the same seed, in reverse order). ``options`` / keyword overrides (``min_size=64``, ...)
    set the random ranges (see ``SynthOptions``). ``workers`` > 1 renders in that many
    processes; the output does not depend on it. ``progress`` is called with each video's
    record as it is finished (in completion order). Returns the records in class order, then
    index order, as in synth.json.

    Raises ``ValueError`` for bad arguments, ``OutputExistsError`` when ``out_dir`` is not
    empty and ``overwrite`` is false. With ``overwrite``, the videos, manifest and boxes an
    earlier run left there are removed first; other files are left alone.
    """
    opts = resolve_options(options, **overrides)
    if isinstance(classes, str):
        classes = [name.strip() for name in classes.split(",") if name.strip()]
    labels = list(CLASSES if classes is None else classes)
    for label in labels:
        motion_class(label)
    if len(set(labels)) != len(labels):
        raise ValueError("a class is listed twice")
    if not labels:
        raise ValueError("no classes")
    if per_class < 1:
        raise ValueError("per_class must be at least 1")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    labels.sort(key=CLASSES.index)
    out = Path(out_dir)
    _prepare(out, overwrite)

    tasks = [(str(out), label, i, seed, opts, reverse) for label in labels for i in range(per_class)]
    lines: dict[str, str] = {}  # path -> its line of boxes.jsonl

    def track_done(track: dict[str, Any]) -> None:
        lines[track["path"]] = track_line(track)

    records = make_videos(tasks, workers, progress, track_done)
    order = {(label, i): k for k, (_, label, i, *_rest) in enumerate(tasks)}
    records.sort(key=lambda r: order[(r["source_label"], r["index"])])
    write_boxes(out, [lines.pop(r["path"]) for r in records])

    manifest = {
        "generator": "vidclass synth",
        "format": FORMAT_VERSION,
        "seed": seed,
        "per_class": per_class,
        "classes": labels,
        "reversed": reverse,
        "twins": {label: TWINS[label] for label in labels},
        "options": opts.to_dict(),
        "encoder": encoder_info(),
        "videos": records,
    }
    tmp = out / ("." + MANIFEST + ".tmp")
    tmp.write_text(_manifest_text(manifest), encoding="utf-8")
    os.replace(tmp, out / MANIFEST)
    return records


def generate_sequences(
    out_dir: str | os.PathLike[str],
    count: int,
    segments: int = 4,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    *,
    segment_seconds: tuple[float, float] = SEGMENT_SECONDS,
    options: SynthOptions | None = None,
    workers: int = 1,
    overwrite: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Write ``count`` sequences of ``segments`` segments each to ``out_dir``; what ``vidclass
    synth --sequences`` runs (see ``vidclass.synth.sequences`` for what a sequence is).

    Files: ``out_dir/sequence_<index:05d>.mp4``, ``out_dir/sequences.jsonl`` (each video's
    segments: ``read_sequences``), ``out_dir/boxes.jsonl`` and ``out_dir/synth.json``.
    Segment classes are drawn from ``classes`` (default: all; at least two), each segment
    ``segment_seconds`` (min, max) long; the options' ``min_seconds``/``max_seconds`` do not
    apply. Otherwise as ``generate``: same seed and settings, same bytes, whatever
    ``workers``; raises ``ValueError`` for bad arguments and ``OutputExistsError``.
    """
    opts = resolve_options(options, **overrides)
    if isinstance(classes, str):
        classes = [name.strip() for name in classes.split(",") if name.strip()]
    labels = list(CLASSES if classes is None else classes)
    for label in labels:
        motion_class(label)
    if len(set(labels)) != len(labels):
        raise ValueError("a class is listed twice")
    labels.sort(key=CLASSES.index)
    seconds = (float(segment_seconds[0]), float(segment_seconds[1]))
    problem = check_sequence_options(labels, segments, seconds)
    if problem:
        raise ValueError(problem)
    if count < 1:
        raise ValueError("count must be at least 1")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    out = Path(out_dir)
    _prepare(out, overwrite)

    tasks = [(str(out), i, seed, opts, labels, segments, seconds) for i in range(count)]
    lines: dict[str, str] = {}

    def track_done(track: dict[str, Any]) -> None:
        lines[track["path"]] = track_line(track)

    records = make_videos(tasks, workers, progress, track_done, job=write_sequence, temp_of=sequence_temp)
    records.sort(key=lambda r: r["index"])
    write_boxes(out, [lines.pop(r["path"]) for r in records])
    write_lines(out / SEQUENCES, [truth_line(r) for r in records])
    manifest = {
        "generator": "vidclass synth",
        "format": FORMAT_VERSION,
        "kind": "sequences",
        "seed": seed,
        "sequences": count,
        "segments": segments,
        "segment_seconds": list(seconds),
        "classes": labels,
        "options": opts.to_dict(),
        "encoder": encoder_info(),
        "videos": records,
    }
    write_lines(out / MANIFEST, [_manifest_text(manifest)])
    return records


def generate_multi_label(
    out_dir: str | os.PathLike[str],
    count: int,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    *,
    options: SynthOptions | None = None,
    workers: int = 1,
    overwrite: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Write ``count`` multi-label videos to ``out_dir``; what ``vidclass synth --multi-label``
    runs (see ``vidclass.synth.multilabel``: each shows 2 or 3 targets of different classes).

    Files: ``out_dir/videos/multi_<index:05d>.mp4``, ``out_dir/labels.csv`` (``path,labels``,
    the label set of each video, sorted, ``;``-separated: what ``vidclass.data.load_dataset``
    reads as a multi-label dataset), ``out_dir/targets.jsonl`` (each target's box in every
    frame) and ``out_dir/synth.json``. Classes are drawn from ``classes`` (default: every
    class but ``static``, which cannot be one; at least 3). Otherwise as ``generate``: same
    seed and settings, same bytes, whatever ``workers``; raises ``ValueError`` for bad
    arguments and ``OutputExistsError``.
    """
    opts = resolve_options(options, **overrides)
    if isinstance(classes, str):
        classes = [name.strip() for name in classes.split(",") if name.strip()]
    for label in classes or ():
        motion_class(label)
    if classes is not None and len(set(classes)) != len(classes):
        raise ValueError("a class is listed twice")
    labels = label_pool(None if classes is None else list(classes))
    problem = check_multi_classes(labels)
    if problem:
        raise ValueError(problem)
    if count < 1:
        raise ValueError("count must be at least 1")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    out = Path(out_dir)
    _prepare(out, overwrite)

    tasks = [(str(out), i, seed, opts, labels) for i in range(count)]
    lines: dict[str, str] = {}

    def track_done(track: dict[str, Any]) -> None:
        lines[track["path"]] = targets_line(track)

    records = make_videos(tasks, workers, progress, track_done, job=write_multi, temp_of=multi_temp)
    records.sort(key=lambda r: r["index"])
    write_lines(out / TARGETS, [lines.pop(r["path"]) for r in records])
    write_lines(out / LABELS, labels_lines(records))
    manifest = {
        "generator": "vidclass synth",
        "format": FORMAT_VERSION,
        "kind": "multi_label",
        "seed": seed,
        "multi_label": count,
        "classes": labels,
        "options": opts.to_dict(),
        "encoder": encoder_info(),
        "videos": records,
    }
    write_lines(out / MANIFEST, [_manifest_text(manifest)])
    return records


def _manifest_text(manifest: dict[str, Any]) -> str:
    """Indented JSON, except each video's record: one line per video."""
    head = {k: v for k, v in manifest.items() if k != "videos"}
    text = json.dumps(head, indent=1)[:-2]  # without the closing "\n}"
    videos = ",\n".join("  " + json.dumps(record) for record in manifest["videos"])
    return text + ',\n "videos": [\n' + videos + "\n ]\n}\n"


def read_manifest(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``synth.json`` of a generated set."""
    return json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))


__all__ = [
    "BOXES",
    "ENCODER",
    "MANIFEST",
    "OutputExistsError",
    "Renderer",
    "SynthOptions",
    "check_options",
    "default_workers",
    "generate",
    "generate_multi_label",
    "generate_sequences",
    "make_one",
    "read_manifest",
    "render",
    "render_video",
    "resolve_options",
    "sample_video",
    "video_rng",
    "write_mp4",
]
