"""Model files and where to find them."""

from __future__ import annotations

import os
from pathlib import Path

from ..models import list_models
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

DEFAULT_MODEL_NAME = "default"
MODEL_ENV = "VIDCLASS_MODEL"


def weights_dir() -> Path:
    """The ``weights/`` folder beside the package: bundled model files live there."""
    return Path(__file__).resolve().parents[2] / "weights"


def default_model() -> str | None:
    """``$VIDCLASS_MODEL`` if set, else the bundled ``weights/default.safetensors`` if present."""
    if os.environ.get(MODEL_ENV):
        return os.environ[MODEL_ENV]
    bundled = weights_dir() / f"{DEFAULT_MODEL_NAME}{SUFFIX}"
    return str(bundled) if bundled.is_file() else None


def bundled_models() -> list[Path]:
    folder = weights_dir()
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def resolve_model(path_or_name: str | os.PathLike[str]) -> Path:
    """A model file path for a path, or for the name of a file in ``weights/``."""
    candidate = Path(path_or_name)
    if candidate.is_file():
        return candidate
    name = str(path_or_name)
    bundled = weights_dir() / f"{name}{SUFFIX}"
    if os.sep not in name and bundled.is_file():
        return bundled
    if name in list_models():
        raise ModelFileError(
            f"{name!r} is a model configuration with no weights here; pass a model file, or make one "
            f"with vidclass.create_model({name!r}, labels=[...]) and vidclass.save_model"
        )
    raise ModelFileError(f"{name}: no such model file or bundled model")


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
    "bundled_models",
    "create_model",
    "default_model",
    "load_model",
    "read_model_card",
    "read_model_file",
    "resolve_model",
    "save_model",
    "weights_dir",
]
