"""A synthetic temporal benchmark: videos whose class only their motion tells.

``vidclass synth OUT_DIR`` runs ``generate``. Classes and their time-reversed twins are in
``CLASSES`` / ``TWINS`` (see ``vidclass.synth.classes``); ``render_video`` gives one video as
a numpy array without writing it. Only numpy is imported here; PyAV is imported when a file
is written.
"""

from __future__ import annotations

from .classes import CLASS_INFO, CLASSES, SELF_TWINS, TWINS, MotionClass
from .generator import (
    ENCODER,
    MANIFEST,
    OutputExistsError,
    Renderer,
    SynthOptions,
    generate,
    read_manifest,
    render,
    render_video,
    sample_video,
    write_mp4,
)

__all__ = [
    "CLASSES",
    "CLASS_INFO",
    "ENCODER",
    "MANIFEST",
    "SELF_TWINS",
    "TWINS",
    "MotionClass",
    "OutputExistsError",
    "Renderer",
    "SynthOptions",
    "generate",
    "read_manifest",
    "render",
    "render_video",
    "sample_video",
    "write_mp4",
]
