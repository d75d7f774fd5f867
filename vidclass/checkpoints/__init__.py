"""Model files and where to find them."""

from __future__ import annotations

from .classifier import Provenance, VideoClassifier, create_model
from .loading import ModelSpec, load_classifier, load_model
from .modelfile import (
    FORMAT,
    SUFFIX,
    ModelCard,
    ModelFileError,
    NoModelError,
    read_model_card,
    read_model_file,
    save_model,
)
from .sources import (
    DEFAULT_MODEL_NAME,
    MODEL_ENV,
    ConvertOptions,
    bundled_models,
    cache_dir,
    convert_source,
    default_model,
    locate_model,
    weights_dir,
)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "FORMAT",
    "MODEL_ENV",
    "SUFFIX",
    "ModelCard",
    "ModelFileError",
    "NoModelError",
    "ModelSpec",
    "Provenance",
    "VideoClassifier",
    "ConvertOptions",
    "bundled_models",
    "cache_dir",
    "convert_source",
    "create_model",
    "default_model",
    "load_classifier",
    "load_model",
    "locate_model",
    "read_model_card",
    "read_model_file",
    "save_model",
    "weights_dir",
]
