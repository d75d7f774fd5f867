"""From a model spec to a loaded ``VideoClassifier``: the one loader the engine and CLI use.

A spec is what ``--model`` accepts (``locate_model`` finds its file, converting a foreign
checkpoint once into the cache) or None for the default model: ``$VIDCLASS_MODEL``, then the
bundled ``weights/default.safetensors``.
"""

from __future__ import annotations

import os
from typing import TypeAlias

from ..defaults import MODEL_ENV
from . import sources
from .classifier import VideoClassifier
from .hints import from_environment
from .modelfile import ModelFileError, NoModelError, read_model_file

# What ``model=`` accepts across the library (and ``--model`` on the command line, as a string).
ModelSpec: TypeAlias = "VideoClassifier | str | os.PathLike[str] | None"


def load_model(path_or_name: str | os.PathLike[str], device: str = "cpu") -> VideoClassifier:
    """Load a model file by path, or a bundled model by name."""
    return read_model_file(sources.locate_model(path_or_name), device=device)


def load_classifier(spec: ModelSpec = None) -> VideoClassifier:
    """A ``VideoClassifier`` from a model spec (a registry-bundled name, a model file, a foreign
    checkpoint), from None (the default model), or a classifier already loaded (returned as is).

    Raises ``NoModelError`` when None is given and there is no default model; loading errors
    (``ModelFileError``) propagate, naming ``$VIDCLASS_MODEL`` when the model came from it.
    """
    if spec is None:
        spec = sources.default_model()
        if spec is None:
            raise NoModelError(
                f"no model given, ${MODEL_ENV} is not set and there is no bundled {sources.bundled_default()}; "
                "pass --model NAME_OR_FILE"
            )
        if os.environ.get(MODEL_ENV):
            try:
                return load_model(spec)
            except ModelFileError as exc:
                raise from_environment(exc) from None
    if isinstance(spec, (str, os.PathLike)):
        return load_model(os.fspath(spec))
    return spec


__all__ = ["NoModelError", "load_classifier", "load_model"]
