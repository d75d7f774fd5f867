"""Model files and where to find them."""

from __future__ import annotations

import os

from .modelfile import (
    FORMAT,
    SUFFIX,
    ModelCard,
    ModelFileError,
    VideoClassifier,
    create_model,
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
    resolve_model,
    weights_dir,
)


def load_model(path_or_name: str | os.PathLike[str], device: str = "cpu") -> VideoClassifier:
    """Load a model file by path, or a bundled model by name."""
    return read_model_file(resolve_model(path_or_name), device=device)


__all__ = [
    "DEFAULT_MODEL_NAME",
    "FORMAT",
    "MODEL_ENV",
    "SUFFIX",
    "ModelCard",
    "ModelFileError",
    "VideoClassifier",
    "ConvertOptions",
    "bundled_models",
    "cache_dir",
    "convert_source",
    "create_model",
    "default_model",
    "load_model",
    "read_model_card",
    "read_model_file",
    "resolve_model",
    "save_model",
    "weights_dir",
]
