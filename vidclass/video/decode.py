"""Reading videos: the names this module has always offered, now defined elsewhere in video/.

``probe`` and ``read_frames`` are decord's (``vidclass.video.decord_decoder``),
``probe_pyav`` and ``read_frames_pyav`` PyAV's (``vidclass.video.pyav_decoder``); the file
checks live in ``vidclass.video.containers``, ``VideoInfo`` and ``VideoError`` in
``vidclass.video.base``, and the decoder registry and the ``"auto"`` fallback order in
``vidclass.video.decoders``. New code should import from those modules.
"""

from __future__ import annotations

from vidclass.video.base import VideoError, VideoInfo
from vidclass.video.containers import check_container, check_iso_boxes
from vidclass.video.decoders import DECODERS
from vidclass.video.decord_decoder import probe, read_frames
from vidclass.video.pyav_decoder import probe as probe_pyav
from vidclass.video.pyav_decoder import read_frames as read_frames_pyav

__all__ = [
    "DECODERS",
    "VideoError",
    "VideoInfo",
    "check_container",
    "check_iso_boxes",
    "probe",
    "probe_pyav",
    "read_frames",
    "read_frames_pyav",
]
