"""Test videos, written by the tests themselves with PyAV.

``write_video`` encodes real H.264 (or other codec) files. The default pattern paints frame
``i`` with a grey level that encodes ``i``, so decoded frames can be identified even after
lossy compression: ``frame_id(frame)`` reads it back.
"""

from __future__ import annotations

import struct
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


def tile_pattern(seed: int) -> Callable[[int, int, int], np.ndarray]:
    """Frames that differ from video to video (a random 8x8 tile per ``seed``, so predictions
    differ) and move over time (the tile rolls a column a frame)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)

    def frame(i: int, height: int, width: int) -> np.ndarray:
        tile = np.roll(base, i, axis=1).repeat(height // 8, axis=0).repeat(width // 8, axis=1)
        return np.ascontiguousarray(tile[:height, :width])

    return frame


def level_pattern(level: int) -> Callable[[int, int, int], np.ndarray]:
    """Frames of one grey ``level`` with a line of the opposite level moving down (so frames differ)."""

    def frame(i: int, height: int, width: int) -> np.ndarray:
        image = np.full((height, width, 3), level, dtype=np.uint8)
        image[(i * 3) % height, :, :] = 255 - level
        return image

    return frame


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


def set_rotation(path: str | Path, degrees: int) -> Path:
    """Make ``path`` (an MP4) display rotated ``degrees`` clockwise, as phones record portrait
    video: landscape frames plus a display matrix in the track header (``tkhd``)."""
    one, w = 0x00010000, 0x40000000
    matrix = {
        0: (one, 0, 0, 0, one, 0, 0, 0, w),
        90: (0, one, 0, -one, 0, 0, 0, 0, w),
        180: (-one, 0, 0, 0, -one, 0, 0, 0, w),
        270: (0, -one, 0, one, 0, 0, 0, 0, w),
    }[degrees]
    path = Path(path)
    data = bytearray(path.read_bytes())
    box = data.index(b"tkhd")
    times = 8 + 8 + 4 + 4 + 8 if data[box + 4] == 1 else 4 + 4 + 4 + 4 + 4  # version 1 or 0
    offset = box + 4 + 4 + times + 8 + 2 + 2 + 2 + 2  # reserved, layer, group, volume, reserved
    data[offset : offset + 36] = struct.pack(">9i", *matrix)
    path.write_bytes(bytes(data))
    return path
