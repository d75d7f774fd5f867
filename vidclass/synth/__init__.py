"""A synthetic temporal benchmark: videos whose class only their motion tells.

``vidclass synth OUT_DIR`` runs ``generate``. Classes and their time-reversed twins are in
``CLASSES`` / ``TWINS`` (see ``vidclass.synth.classes``); ``render_video`` gives one video as
a numpy array without writing it; ``read_boxes`` reads where a written set's target is in
every frame (``OUT_DIR/boxes.jsonl``, see ``vidclass.synth.boxes``). ``generate_sequences``
writes videos whose target changes class at known frames (``vidclass.synth.sequences``) and
their truth, which ``read_sequences`` reads (``OUT_DIR/sequences.jsonl``, see
``vidclass.synth.segments``). ``generate_multi_label`` writes videos of 2 or 3 targets of
different classes and their label sets (``OUT_DIR/labels.csv``, a multi-label dataset; see
``vidclass.synth.multilabel``). Only numpy is imported here; PyAV is imported when a file
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
    generate_multi_label,
    generate_sequences,
    read_manifest,
    render,
    render_video,
    sample_video,
    write_mp4,
)
from .multilabel import LABELS, TARGETS, MultiRenderer, sample_multi
from .segments import SEQUENCES, Segment, SequencesError, SequenceTruth, read_sequences
from .sequences import SequenceRenderer, sample_sequence

__all__ = [
    "BOXES",
    "CLASSES",
    "CLASS_INFO",
    "ENCODER",
    "LABELS",
    "MANIFEST",
    "SEQUENCES",
    "SELF_TWINS",
    "TARGETS",
    "TWINS",
    "BoxesError",
    "MotionClass",
    "MultiRenderer",
    "ObjectTrack",
    "OutputExistsError",
    "Renderer",
    "Segment",
    "SequenceRenderer",
    "SequenceTruth",
    "SequencesError",
    "SynthOptions",
    "generate",
    "generate_multi_label",
    "generate_sequences",
    "read_boxes",
    "read_manifest",
    "read_sequences",
    "render",
    "render_video",
    "sample_multi",
    "sample_sequence",
    "sample_video",
    "write_mp4",
]
