"""Which classifier to run: a loaded one, a registry name / model file, or the default.

The default model (``$VIDCLASS_MODEL``, then the bundled ``weights/default.safetensors``)
is decided by ``vidclass.checkpoints.default_model``; the command line and the library both
come through here, so ``vidclass predict x.mp4`` and ``vidclass.predict(["x.mp4"])`` run the
same model.
"""

from __future__ import annotations

import os
from typing import Any

from vidclass.checkpoints import (
    DEFAULT_MODEL_NAME,
    MODEL_ENV,
    SUFFIX,
    default_model,
    load_model,
    weights_dir,
)


class NoModelError(LookupError):
    """No model was named and no default model exists."""


def resolve_model(model: Any = None) -> Any:
    """A ``VideoClassifier`` from a classifier, a registry name, a model file path or None.

    None means ``vidclass.checkpoints.default_model()``; raises ``NoModelError`` when there is
    none. Loading errors (``vidclass.checkpoints.ModelFileError``) propagate.
    """
    if model is None:
        model = default_model()
        if model is None:
            bundled = weights_dir() / f"{DEFAULT_MODEL_NAME}{SUFFIX}"
            raise NoModelError(
                f"no model given, ${MODEL_ENV} is not set and there is no bundled {bundled}; pass --model NAME_OR_FILE"
            )
    if isinstance(model, (str, os.PathLike)):
        return load_model(os.fspath(model))
    return model


__all__ = ["NoModelError", "resolve_model"]
