"""Inference: multi-view prediction over videos, shared by the command line and scripts."""

from vidclass.engine.inputs import VIDEO_EXTENSIONS, expand_paths, is_video_name
from vidclass.engine.predict import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_TOP_K,
    Prediction,
    Predictor,
    aggregate,
    predict,
    resolve_device,
)
from vidclass.engine.resolve import NoModelError, default_model, resolve_model
from vidclass.video.protocol import Aggregate

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_TOP_K",
    "VIDEO_EXTENSIONS",
    "Aggregate",
    "NoModelError",
    "Prediction",
    "Predictor",
    "aggregate",
    "default_model",
    "expand_paths",
    "is_video_name",
    "predict",
    "resolve_device",
    "resolve_model",
]
