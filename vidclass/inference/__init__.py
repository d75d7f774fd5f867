"""Inference: a video's views through the model, into scores.

- ``RunOptions`` (``options.py``): every run setting, one frozen, validated record.
- ``DecodeQueue`` (``decode_queue.py``): the one decode queue, which owns the worker pool
  (``workers.py``), prefetch, the per-file timeout and the decord -> PyAV fallback.
- ``Predictor`` (``predictor.py``): runs the model on batches cut across videos
  (``batching.py``), at a precision (``precision.py``), optionally compiled
  (``compiling.py``), and aggregates each video's views into a ``Prediction``.
- ``predict`` (``api.py``): the library mirror of ``vidclass predict``.
"""

from vidclass.inference.api import predict
from vidclass.inference.compiling import CompileError
from vidclass.inference.decode_queue import DecodeQueue
from vidclass.inference.options import OptionsError, RunOptions
from vidclass.inference.predictor import Predictor, resolve_device

__all__ = ["CompileError", "DecodeQueue", "OptionsError", "Predictor", "RunOptions", "predict", "resolve_device"]
