"""Option defaults and choices that the library and the ``vidclass`` command share.

The command line declares its options (and renders ``--help``) from these values, so this
module imports nothing but the standard library: ``vidclass --help`` must not pay for
importing torch. Each value is defined here once and re-exported by the module that uses it
(``DEFAULT_BATCH_SIZE`` by ``vidclass.inference``, ``DECODERS`` by
``vidclass.video.decoders``, and so on).
"""

from __future__ import annotations

import os

# vidclass.inference
DEFAULT_BATCH_SIZE = 4  # views per forward pass (cut across consecutive videos)
DEFAULT_TOP_K = 5
DEVICES = ("auto", "cpu", "cuda")

# vidclass.precision
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# vidclass.inference.workers
DEFAULT_TIMEOUT = 120.0  # seconds per job
DECODE_WORKERS = 2  # at most this many decoding processes by default (predict, eval)

# vidclass.synth
SYNTH_WORKERS = 8  # at most this many rendering processes by default (synth)

# vidclass.video.decoders
DECODERS = ("auto", "decord", "pyav")

# vidclass.data.layouts
LAYOUTS = ("auto", "folders", "kinetics", "csv", "lines")

# vidclass.checkpoints.sources
MODEL_ENV = "VIDCLASS_MODEL"


def default_workers(cap: int = DECODE_WORKERS) -> int:
    """Worker processes to start when the user names no number: the CPUs this process may
    use, at least 1 and at most ``cap``.

    "The CPUs this process may use" is its CPU affinity (``os.sched_getaffinity``), not the
    machine's CPU count: under ``taskset``, a container's cpuset or a batch scheduler that
    count can be far larger than what the process gets, and every process past the allowed
    CPUs only contends. Where affinity is unknown (macOS, Windows), ``os.cpu_count()``.

    The cap depends on the work, so it is the caller's: ``DECODE_WORKERS`` (2, the default)
    for predict/eval, whose workers decode a few videos ahead of one model and each cost a
    process with torch loaded; ``SYNTH_WORKERS`` (8) for ``vidclass synth``, whose workers
    each encode a video on one thread with numpy alone, and so scale with the cores.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cap, cpus))


__all__ = [
    "DECODERS",
    "DECODE_WORKERS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOP_K",
    "DEVICES",
    "LAYOUTS",
    "MODEL_ENV",
    "PRECISIONS",
    "SYNTH_WORKERS",
    "default_workers",
]
