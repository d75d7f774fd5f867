"""Test videos, written by the tests themselves with PyAV.

``write_video`` encodes real H.264 (or other codec) files. The default pattern paints frame
``i`` with a grey level that encodes ``i``, so decoded frames can be identified even after
lossy compression: ``frame_id(frame)`` reads it back.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ID_STEP = 8  # grey levels between consecutive frame ids; survives H.264 at default quality


def id_pattern(index: int, height: int, width: int) -> np.ndarray:
    """A flat frame whose grey level encodes ``index`` (mod 32)."""
    level = (index % 32) * ID_STEP
    return np.full((height, width, 3), level, dtype=np.uint8)


def frame_id(frame: np.ndarray) -> int:
    """Inverse of ``id_pattern`` on a decoded (possibly resized) frame."""
    return int(round(float(np.asarray(frame, dtype=np.float64).mean()) / ID_STEP)) % 32


def write_video(
    path: str | Path,
    num_frames: int = 40,
    fps: int | Fraction = 25,
    width: int = 64,
    height: int = 48,
    codec: str = "libx264",
    pattern: Callable[[int, int, int], np.ndarray] = id_pattern,
) -> Path:
    """Write ``num_frames`` frames of ``pattern(i, height, width)`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "10", "preset": "ultrafast"}
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, height, width), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
