"""Option defaults and choices that the library and the ``vidclass`` command share.

The command line declares its options (and renders ``--help``) from these values, so this
module imports nothing: ``vidclass --help`` must not pay for importing torch. Each value is
defined here once and re-exported by the module that uses it (``DEFAULT_BATCH_SIZE`` by
``vidclass.engine.predict``, ``DECODERS`` by ``vidclass.video.decode``, and so on).
"""

from __future__ import annotations

# vidclass.engine.predict
DEFAULT_BATCH_SIZE = 4  # views per forward pass (cut across consecutive videos)
DEFAULT_TOP_K = 5
DEVICES = ("auto", "cpu", "cuda")

# vidclass.engine.precision
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# vidclass.engine.workers
DEFAULT_TIMEOUT = 120.0  # seconds per job

# vidclass.video.decode
DECODERS = ("auto", "decord", "pyav")

# vidclass.data.layouts
LAYOUTS = ("auto", "folders", "kinetics", "csv", "lines")

# vidclass.checkpoints.sources
MODEL_ENV = "VIDCLASS_MODEL"

__all__ = [
    "DECODERS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOP_K",
    "DEVICES",
    "LAYOUTS",
    "MODEL_ENV",
    "PRECISIONS",
]
