"""What a ``--model`` that names no model was probably meant to be: the messages ``locate_model``
gives for a mistyped name or path, and for the name of a configuration that has no weights.

A mistyped spec gets one "did you mean" suggestion, from, in this order: the spec with the model
file suffix added (``weights/default`` for ``weights/default.safetensors``), a model file or
folder near the name in the spec's own folder (``weights/mymodle.safetensors``), then the names
of the registered configurations and of the bundled models, matched with or without the suffix
(``vivit-tiyn``, ``defualt``, ``defualt.safetensors``).
"""

from __future__ import annotations

import difflib
import itertools
import os
from pathlib import Path

from ..defaults import MODEL_ENV
from ..models import list_models
from .modelfile import SUFFIX, ModelFileError, read_model_card

# What a model file or foreign checkpoint may be called (a folder is a Hugging Face model).
MODEL_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".msgpack", ".json", ".ckpt"}
MAX_LISTED = 10_000  # entries of a folder looked through for a near name


def unknown_model(spec: str, bundled: list[Path]) -> ModelFileError:
    """The error for ``spec`` when it is no file, folder, hub id, bundled model or configuration."""
    close = suggestion(spec, bundled)
    hint = f" (did you mean {close}?)" if close else ""
    return ModelFileError(f"{spec}: no such model file, bundled model, directory or hub id{hint}")


def suggestion(spec: str, bundled: list[Path]) -> str | None:
    """The likeliest model ``spec`` was a typo of (see the module docstring), or None."""
    path = Path(spec)
    if spec and not spec.endswith(SUFFIX) and Path(spec + SUFFIX).is_file():
        return spec + SUFFIX
    if path.name and path.parent.is_dir() and (os.sep in spec or path.suffix in MODEL_SUFFIXES):
        entries = {Path(name).stem: name for name in _model_entries(path.parent)}  # the suffix is no likeness
        near = difflib.get_close_matches(path.stem, entries, n=1, cutoff=0.75)
        if near:
            return str(path.parent / entries[near[0]]) if os.sep in spec else entries[near[0]]
    names = [*list_models(), *(p.stem for p in bundled)]
    stem = spec.removesuffix(SUFFIX)
    close = difflib.get_close_matches(stem, names, n=1) or difflib.get_close_matches(stem.lower(), names, n=1)
    return close[0] if close else None


def _model_entries(folder: Path) -> list[str]:
    """Names in ``folder`` that can be a model: model-file names and folders (not hidden)."""
    try:
        with os.scandir(folder) as entries:
            return [
                e.name
                for e in itertools.islice(entries, MAX_LISTED)
                if not e.name.startswith(".") and (e.is_dir() or Path(e.name).suffix in MODEL_SUFFIXES)
            ]
    except OSError:
        return []


def configuration_without_weights(name: str, bundled: list[Path], default_name: str) -> ModelFileError:
    """The error for the name of a registered configuration: a configuration is no model.

    When a bundled model is a trained model of that configuration (its file names it), the
    message points at the bundled model; else at making or converting a model file.
    """
    holders = [p.stem for p in bundled if _card_name(p) == name]
    if holders:
        stem = default_name if default_name in holders else holders[0]
        default = stem == default_name and not os.environ.get(MODEL_ENV)
        return ModelFileError(
            f"{name!r} is a model configuration, not a model; the bundled model {stem!r} is a trained {name}: "
            f"pass --model {stem}" + (" (or no --model: it is the default)" if default else "")
        )
    return ModelFileError(
        f"{name!r} is a model configuration with no weights here; pass a model file, or make one "
        f"with vidclass.create_model({name!r}, labels=[...]) and vidclass.save_model"
    )


def _card_name(path: Path) -> str | None:
    try:
        return read_model_card(path).name
    except ModelFileError:  # a damaged bundled file: it suggests nothing
        return None


def from_environment(error: ModelFileError) -> ModelFileError:
    """``error``, about the model ``$VIDCLASS_MODEL`` names, saying where that name came from."""
    return ModelFileError(f"${MODEL_ENV}: {error}; set ${MODEL_ENV} to a model file or name, or unset it")


__all__ = ["configuration_without_weights", "from_environment", "suggestion", "unknown_model"]
