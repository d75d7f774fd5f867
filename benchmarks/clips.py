"""Test videos for the pipeline benchmarks, generated here and cached under the build folder.

``clip_folder`` writes ``count`` H.264 clips of one size and length into a folder named after
their parameters (``build/bench-clips/480p-854x480-10s-30fps-<key>/clip_0.mp4`` ...), so a
second run reuses them and a change of parameters makes a new folder. Each clip is a
``vidclass synth`` scene (a moving target among distractors, camera shake, light pixel noise)
rendered at the requested size and encoded with libx264 (CRF 23, preset superfast, a keyframe
every second), which gives bit rates in the range of ordinary camera or web video (about
8 Mbit/s at 1080p).

``long_video`` makes a long video out of a short one without encoding anything: the short
clip's packets are remuxed again and again (stream copy) with shifted timestamps, which takes
seconds even for an hour of 720p. Every copy starts on the short clip's first frame, a
keyframe, so the result is an ordinary, seekable H.264 file.
"""

from __future__ import annotations

import hashlib
import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

FORMAT = 1  # bump to invalidate every cached clip
SIZES = {  # name -> (width, height)
    "144p": (256, 144),
    "180p": (320, 180),
    "216p": (384, 216),
    "480p": (854, 480),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
}
ENCODER = {"codec": "libx264", "crf": 23, "preset": "superfast", "gop_seconds": 1, "pix_fmt": "yuv420p"}
NOISE_SIGMA = 2.0  # pixel-noise standard deviation, 0-255 scale
LABELS = ("moving_left", "rotating_cw", "growing", "moving_up")  # clip i shows LABELS[i % 4]


def _key(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]


def clip_folder(
    build: str | os.PathLike[str],
    size: str,
    seconds: float,
    count: int,
    fps: int = 30,
    seed: int = 0,
    processes: int = 1,
) -> list[Path]:
    """``count`` clips of ``size`` (a ``SIZES`` name) and ``seconds``, made once and cached;
    the missing ones are written by ``processes`` processes at a time (the bytes do not depend
    on it)."""
    width, height = SIZES[size]
    params = {
        "format": FORMAT,
        "width": width,
        "height": height,
        "seconds": seconds,
        "fps": fps,
        "seed": seed,
        "encoder": ENCODER,
        "noise": NOISE_SIGMA,
    }
    folder = Path(build) / "bench-clips" / f"{size}-{width}x{height}-{seconds:g}s-{fps}fps-{_key(params)}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"clip_{index}.mp4" for index in range(count)]
    missing = [(index, path) for index, path in enumerate(paths) if not path.is_file()]
    if processes > 1 and len(missing) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(processes, len(missing))) as pool:
            jobs = [pool.submit(_write_cached, p, width, height, seconds, fps, seed, i) for i, p in missing]
            for job in jobs:
                job.result()
    else:
        for index, path in missing:
            _write_cached(path, width, height, seconds, fps, seed, index)
    return paths


def _write_cached(path: Path, width: int, height: int, seconds: float, fps: int, seed: int, index: int) -> None:
    partial = path.with_name(path.name + ".part")
    _write_clip(partial, width, height, seconds, fps, seed, index)
    partial.replace(path)


def _write_clip(path: Path, width: int, height: int, seconds: float, fps: int, seed: int, index: int) -> None:
    import av

    from vidclass.synth.generator import Renderer, SynthOptions, sample_video

    short = min(width, height)
    options = SynthOptions(
        min_size=short,
        max_size=short,
        max_aspect=1.0,
        portrait=0.0,
        min_seconds=seconds,
        max_seconds=seconds,
        min_fps=fps,
        max_fps=fps,
    )
    spec = sample_video(LABELS[index % len(LABELS)], index=index, seed=seed, options=options)
    # sampled on a short x short frame: widen it (the scene is drawn for the whole frame, the
    # target keeps to the part it was sampled in) and set a fixed, light noise
    spec["width"], spec["height"] = width, height
    spec["params"]["noise"]["sigma"] = NOISE_SIGMA
    renderer = Renderer(spec)
    with av.open(os.fspath(path), mode="w", format="mp4") as container:
        stream = container.add_stream(ENCODER["codec"], rate=Fraction(fps))
        stream.width, stream.height = width, height
        stream.pix_fmt = ENCODER["pix_fmt"]
        stream.codec_context.gop_size = int(fps * ENCODER["gop_seconds"])
        stream.options = {"crf": str(ENCODER["crf"]), "preset": str(ENCODER["preset"])}
        for rgb in renderer.iter_frames():
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def long_video(segment: str | os.PathLike[str], seconds: float) -> Path:
    """A ``seconds``-long copy-loop of ``segment`` (stream copy, no encoding), cached beside it.

    ``seconds`` is rounded to a whole number of segments.
    """
    import av

    segment = Path(segment)
    with av.open(os.fspath(segment)) as source:
        stream = source.streams.video[0]
        packets = [p for p in source.demux(stream) if p.size > 0]
        time_base = stream.time_base
        length = sum(int(p.duration) for p in packets)  # the segment's duration, in time_base
        segment_seconds = float(length * time_base)
    copies = max(1, round(seconds / segment_seconds))
    path = segment.with_name(f"{segment.stem}-x{copies}.mp4")
    if path.is_file():
        return path
    partial = path.with_name(path.name + ".part")
    with av.open(os.fspath(partial), mode="w", format="mp4") as out:
        out_stream = None
        for copy in range(copies):
            # muxing consumes a packet: demux the segment afresh for every copy
            with av.open(os.fspath(segment)) as source:
                in_stream = source.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(in_stream)
                for packet in source.demux(in_stream):
                    if packet.size == 0:  # the demuxer's final flush packet
                        continue
                    packet.pts = int(packet.pts) + copy * length
                    packet.dts = int(packet.dts) + copy * length
                    packet.stream = out_stream
                    out.mux(packet)
    partial.replace(path)
    return path


def bitrate_mbps(path: str | os.PathLike[str], seconds: float) -> float:
    return os.path.getsize(path) * 8 / seconds / 1e6


__all__ = ["ENCODER", "SIZES", "bitrate_mbps", "clip_folder", "long_video"]
