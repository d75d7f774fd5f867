"""Option defaults and choices that the library and the ``vidclass`` command share.

The command line declares its options (and renders ``--help``) from these values, so this
module imports nothing but the standard library: ``vidclass --help`` must not pay for
importing torch. Each value is defined here once and re-exported by the module that uses it
(``DEFAULT_BATCH_SIZE`` by ``vidclass.inference``, ``DECODERS`` by
``vidclass.video.decoders``, the ``TRAIN_*`` values as ``TrainOptions``' field defaults, and so on).
"""

from __future__ import annotations

import os

# vidclass.inference
DEFAULT_BATCH_SIZE = 4  # views per forward pass (cut across consecutive videos)
DEFAULT_TOP_K = 5
# A multi-label model's records list every label whose probability is at least this (and eval's
# F1 and example-based precision/recall count such labels as predicted).
DEFAULT_THRESHOLD = 0.5
DEVICES = ("auto", "cpu", "cuda")

# Upper bounds of the run settings (``RunOptions`` checks them; the command line's option types
# show and enforce them). They refuse values that cannot be meant, before any video is read:
# a clip count far past any test protocol (views are held per video, so memory grows with it),
# a timeout that is not a number of seconds a run could wait.
MAX_CLIPS = 32  # temporal clips per video (test protocols use 1 to 10)
CROPS = (1, 3)  # spatial crops per clip: the centre, or left, centre and right
MAX_BATCH_SIZE = 256  # views per forward pass
MAX_TOP_K = 1000  # labels reported per video
MAX_WORKERS = 64  # decode worker processes (predict), videos at once (eval)
MAX_TIMEOUT = 86400.0  # seconds one video may take to decode: a day

# vidclass.video.windows and the decode queue's window stream (vidclass timeline)
# A plan holds every window's frame indices; 100,000 windows is a day-long video at one window
# a second (a few tens of MB of plan), far past any real use, and refuses a stride so short
# that planning alone would exhaust memory.
MAX_WINDOWS = 100_000
# Windows per decode job: as many as fit in WINDOW_CHUNK_BYTES of views (chunk x crops x one
# view), at least 1 and at most WINDOW_CHUNK. Each job opens the file again, and decord's open
# indexes the whole file (0.05 s for 10 minutes of 25 fps, 0.33 s for 60 minutes): small chunks
# made an hour cost 9x ten minutes instead of 6x. (workers + 1) chunks are held at a time.
WINDOW_CHUNK = 256
WINDOW_CHUNK_BYTES = 64 * 2**20

# vidclass.explanation: auto picks tokens for a TokenLearner model, else rollout
EXPLAIN_METHODS = ("auto", "tokens", "rollout")

# vidclass.precision
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# What runs the model: torch, or onnxruntime on the model exported to ONNX (vidclass[export];
# CPU, fp32; see docs/commands/export.md)
RUNTIMES = ("torch", "onnxruntime")

# vidclass.inference.workers
DEFAULT_TIMEOUT = 120.0  # seconds per job
DECODE_WORKERS = 2  # at most this many decoding processes by default (predict, eval)

# vidclass.synth
SYNTH_WORKERS = 8  # at most this many rendering processes by default (synth)

# vidclass.training: TrainOptions' field defaults (vidclass train shows them in --help)
TRAIN_EPOCHS = 30
TRAIN_BATCH_SIZE = 16  # global: split across processes under torchrun
TRAIN_LR = 5e-4  # peak learning rate
TRAIN_MIN_LR = 1e-6  # where the cosine schedule ends
TRAIN_WEIGHT_DECAY = 0.05
TRAIN_WARMUP_EPOCHS = 2.0
TRAIN_ACCUMULATE = 1  # gradient accumulation steps per optimiser step
TRAIN_CLIP_GRAD = 1.0  # max gradient norm; 0 = off
TRAIN_LABEL_SMOOTHING = 0.1
TRAIN_MIXUP = 0.0  # MixUp alpha; 0 = off
TRAIN_CUTMIX = 0.0  # CutMix alpha; 0 = off
TRAIN_PRECISION = "auto"  # auto: bf16 where the device computes it natively, else fp32
TRAIN_SEED = 0
TRAIN_WORKERS = 0  # DataLoader processes per training process
TRAIN_VAL_FRACTION = 0.1  # held out when no validation set is given; 0 = none
TRAIN_KERNEL_INIT = "random"
# Batches over which BatchNorm statistics are recomputed after each epoch (X3D; ViViT has none):
# PySlowFast's BN.NUM_BATCHES_PRECISE in its Kinetics recipes. vidclass.training.precise_bn says why.
TRAIN_PRECISE_BN = 200
# The precisions training runs in: fp16 would need loss scaling (a GradScaler), which the loop
# does not have, so it is left out; bf16 needs none.
TRAIN_PRECISIONS = tuple(p for p in PRECISIONS if p != "fp16")
# How a model trained from a registry configuration starts its tubelet kernel: random (the
# configuration's own init) or difference (TubeletEmbedding.init_temporal_difference_: most
# channels start as temporal-difference filters, a strong start for motion-only classes).
KERNEL_INITS = ("random", "difference")

# vidclass.video.decoders
DECODERS = ("auto", "decord", "pyav")

# vidclass.data.layouts
LAYOUTS = ("auto", "folders", "kinetics", "charades", "csv", "lines")

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
    "DEFAULT_THRESHOLD",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOP_K",
    "CROPS",
    "DEVICES",
    "KERNEL_INITS",
    "LAYOUTS",
    "MAX_BATCH_SIZE",
    "MAX_CLIPS",
    "MAX_TIMEOUT",
    "MAX_TOP_K",
    "MAX_WINDOWS",
    "MAX_WORKERS",
    "MODEL_ENV",
    "PRECISIONS",
    "SYNTH_WORKERS",
    "TRAIN_ACCUMULATE",
    "TRAIN_BATCH_SIZE",
    "TRAIN_CLIP_GRAD",
    "TRAIN_CUTMIX",
    "TRAIN_EPOCHS",
    "TRAIN_KERNEL_INIT",
    "TRAIN_LABEL_SMOOTHING",
    "TRAIN_LR",
    "TRAIN_MIN_LR",
    "TRAIN_MIXUP",
    "TRAIN_PRECISE_BN",
    "TRAIN_PRECISION",
    "TRAIN_PRECISIONS",
    "TRAIN_SEED",
    "TRAIN_VAL_FRACTION",
    "TRAIN_WARMUP_EPOCHS",
    "TRAIN_WEIGHT_DECAY",
    "TRAIN_WORKERS",
    "WINDOW_CHUNK",
    "WINDOW_CHUNK_BYTES",
    "default_workers",
]
