"""Writing synthetic videos: the pinned H.264 encoder, one file, and many in a process pool.

``write_mp4`` encodes frames with the pinned ``ENCODER`` settings (RGB -> YUV in our own
integer arithmetic, every byte of every input frame set), so a file's bytes depend only on
its frames and the PyAV/FFmpeg build. ``write_one`` samples, renders and writes one video
and returns its record and its target's track (``make_one``: the record alone);
``make_videos`` runs many, here or in a pool of forked processes
that Ctrl-C or a failed video stops at once. PyAV is imported when a file is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vidclass import defaults
from vidclass.synth.classes import TWINS
from vidclass.synth.frames import Renderer, SynthOptions, sample_video

# Pinned encoder settings: changing any of them changes every file's bytes.
# mbtree=0: with macroblock-tree rate control, this x264 build gave different bytes from run
# to run for identical input (its assembly path; asm=0 was deterministic too, but slower).
ENCODER: dict[str, Any] = {
    "codec": "libx264",
    "pix_fmt": "yuv420p",
    "crf": 23,
    "preset": "veryfast",
    "x264-params": "mbtree=0",
    "threads": 1,
    "gop_seconds": 1,
}


def write_mp4(path: str | os.PathLike[str], frames: Iterable[np.ndarray], fps: int, width: int, height: int) -> str:
    """Encode ``frames`` (uint8 RGB, all ``height × width``) as H.264 MP4 with the pinned
    settings; returns the SHA-256 of the raw frames. PyAV is imported here, not before."""
    import av

    digest = hashlib.sha256()
    with av.open(os.fspath(path), mode="w", format="mp4") as container:
        stream = container.add_stream(ENCODER["codec"], rate=Fraction(fps))
        stream.width = width
        stream.height = height
        stream.pix_fmt = ENCODER["pix_fmt"]
        stream.codec_context.thread_count = ENCODER["threads"]
        stream.codec_context.gop_size = max(1, int(fps * ENCODER["gop_seconds"]))
        stream.options = {
            "crf": str(ENCODER["crf"]),
            "preset": ENCODER["preset"],
            "x264-params": ENCODER["x264-params"],
        }
        context = stream.codec_context
        # BT.601, limited range: what rgb_to_yuv420p computes, and what decoders assume anyway.
        context.colorspace = context.color_primaries = context.color_trc = 6  # SMPTE 170M
        context.color_range = 1  # MPEG (limited)
        for array in frames:
            digest.update(array.tobytes())
            frame = _yuv_frame(av, array)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return digest.hexdigest()


def rgb_to_yuv420p(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 RGB (H, W, 3), H and W even -> the Y (H, W), U and V (H/2, W/2) planes of YUV
    4:2:0, BT.601 limited range, in exact integer arithmetic (the same bytes everywhere)."""
    p = rgb.transpose(2, 0, 1).astype(np.int32)  # planar R, G, B
    y = (66 * p[0] + 129 * p[1] + 25 * p[2] + (16 << 8) + 128) >> 8
    q = p[:, 0::2, 0::2] + p[:, 1::2, 0::2] + p[:, 0::2, 1::2] + p[:, 1::2, 1::2]  # 2x2 block sums
    u = (-38 * q[0] - 74 * q[1] + 112 * q[2] + (128 << 10) + 512) >> 10
    v = (112 * q[0] - 94 * q[1] - 18 * q[2] + (128 << 10) + 512) >> 10
    return y.astype(np.uint8), u.astype(np.uint8), v.astype(np.uint8)


def _yuv_frame(av: Any, rgb: np.ndarray) -> Any:
    """An ``av.VideoFrame`` (yuv420p) of ``rgb`` whose every byte is set, row padding too.

    x264's output depends on the padding bytes past each row's end; ``from_ndarray`` leaves
    them as whatever the reused buffer held, which makes the files differ from run to run."""
    h, w = rgb.shape[:2]
    frame = av.VideoFrame(w, h, "yuv420p")
    for plane, data in zip(frame.planes, rgb_to_yuv420p(rgb), strict=True):
        rows = np.zeros((plane.height, plane.line_size), dtype=np.uint8)
        rows[:, : data.shape[1]] = data
        plane.update(rows)
    return frame


def _video_relpath(label: str, source: str, index: int, reverse: bool) -> str:
    suffix = "_reversed" if reverse else ""
    return f"{label}/{source}_{index:05d}{suffix}.mp4"


def make_one(
    out_dir: str | os.PathLike[str], source: str, index: int, seed: int, options: SynthOptions, reverse: bool = False
) -> dict[str, Any]:
    """Sample, render and write one video; returns its record (as in synth.json)."""
    return write_one(out_dir, source, index, seed, options, reverse)[0]


def write_one(
    out_dir: str | os.PathLike[str], source: str, index: int, seed: int, options: SynthOptions, reverse: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sample, render and write one video; returns its record (as in synth.json) and its
    target's track (a line of boxes.jsonl: path, fps, size and a box or None per frame)."""
    spec = sample_video(source, index, seed, options)
    label = TWINS[source] if reverse else source
    rel = _video_relpath(label, source, index, reverse)
    path = Path(out_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    renderer = Renderer(spec)
    try:
        sha = write_mp4(tmp, renderer.iter_frames(reverse), spec["fps"], spec["width"], spec["height"])
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    record = {
        "path": rel,
        "label": label,
        "source_label": source,
        "index": index,
        "reversed": reverse,
        "width": spec["width"],
        "height": spec["height"],
        "fps": spec["fps"],
        "frames": spec["frames"],
        "duration": spec["duration"],
        "frames_sha256": sha,
        "params": spec["params"],
    }
    track = {
        "path": rel,
        "fps": spec["fps"],
        "width": spec["width"],
        "height": spec["height"],
        "boxes": [None if box is None else list(box) for box in renderer.target_boxes(reverse)],
    }
    return record, track


def temp_path(path: Path) -> Path:
    """Where a video is written before it is renamed into place (hidden, ``.tmp``)."""
    return path.with_name("." + path.name + ".tmp")


def _class_video_temp(task: tuple[Any, ...]) -> Path:
    """The temporary file of ``write_one(*task)``."""
    out_dir, source, index, _seed, _options, reverse = task
    label = TWINS[source] if reverse else source
    return temp_path(Path(out_dir) / _video_relpath(label, source, index, reverse))


def _call(job: Job, task: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    return job(*task)


def encoder_info() -> dict[str, Any]:
    import av

    versions = {name: ".".join(map(str, v)) for name, v in sorted(av.library_versions.items())}
    return {**ENCODER, "pyav": av.__version__, "libraries": versions}


def default_workers() -> int:
    """Rendering processes when none are asked for: the CPUs this process may use, at most
    ``SYNTH_WORKERS`` (8); see ``vidclass.defaults.default_workers``."""
    return defaults.default_workers(defaults.SYNTH_WORKERS)


Progress = Callable[[dict[str, Any]], None]
Job = Callable[..., tuple[dict[str, Any], dict[str, Any]]]


def make_videos(
    tasks: list[tuple[Any, ...]],
    workers: int,
    progress: Progress | None,
    tracks: Progress | None = None,
    job: Job = write_one,
    temp_of: Callable[[tuple[Any, ...]], Path] = _class_video_temp,
) -> list[dict[str, Any]]:
    """Run ``job(*task)`` (by default ``write_one``: one class video) for each task: here, or
    in ``workers`` processes when there are several of both; ``progress`` gets each record and
    ``tracks`` each track as it is finished. Records come back in completion order.
    ``temp_of(task)``: the temporary file a task killed mid-way may leave (removed then).
    ``job`` must be a module-level function (the pool pickles it)."""
    records: list[dict[str, Any]] = []

    def finished(result: tuple[dict[str, Any], dict[str, Any]]) -> None:
        record, track = result
        records.append(record)
        if tracks:
            tracks(track)
        if progress:
            progress(record)

    if workers <= 1 or len(tasks) == 1:
        for task in tasks:
            finished(job(*task))
    else:
        _run_pool(tasks, workers, finished, job, temp_of)
    return records


def _run_pool(
    tasks: list[tuple[Any, ...]],
    workers: int,
    finished: Callable[[tuple[dict[str, Any], dict[str, Any]]], None],
    job: Job,
    temp_of: Callable[[tuple[Any, ...]], Path],
) -> None:
    import functools
    import multiprocessing

    # fork: workers start at once, without importing vidclass (and torch) again.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    pool = context.Pool(processes=min(workers, len(tasks)), initializer=_ignore_sigint)
    try:
        for result in pool.imap_unordered(functools.partial(_call, job), tasks, chunksize=1):
            finished(result)
        pool.close()
        pool.join()
    except BaseException:  # Ctrl-C or a failed video: stop the workers now
        # A second Ctrl-C in the middle of terminate() would leave idle workers that join()
        # then waits for forever: hold Ctrl-C off until the workers are gone.
        with _sigint_ignored():
            pool.terminate()
            pool.join()
            for task in tasks:  # killed mid-file
                temp_of(task).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent process, which stops the pool."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


__all__ = [
    "ENCODER",
    "default_workers",
    "encoder_info",
    "make_one",
    "make_videos",
    "rgb_to_yuv420p",
    "temp_path",
    "write_mp4",
    "write_one",
]
