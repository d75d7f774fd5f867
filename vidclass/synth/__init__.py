"""A synthetic temporal benchmark: videos whose class only their motion tells.

``vidclass synth OUT_DIR`` runs ``generate``. Classes and their time-reversed twins are in
``CLASSES`` / ``TWINS`` (see ``vidclass.synth.classes``); ``render_video`` gives one video as
a numpy array without writing it; ``read_boxes`` reads where a written set's target is in
every frame (``OUT_DIR/boxes.jsonl``, see ``vidclass.synth.boxes``). Only numpy is imported here; PyAV is imported when a file
is written.
"""

from __future__ import annotations

from .boxes import BOXES, BoxesError, ObjectTrack, read_boxes
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
    "BOXES",
    "CLASSES",
    "CLASS_INFO",
    "ENCODER",
    "MANIFEST",
    "SELF_TWINS",
    "TWINS",
    "BoxesError",
    "MotionClass",
    "ObjectTrack",
    "OutputExistsError",
    "Renderer",
    "SynthOptions",
    "generate",
    "read_boxes",
    "read_manifest",
    "render",
    "render_video",
    "sample_video",
    "write_mp4",
]
