"""A model's card from its path, for ``vidclass info MODEL``: what a model file says about itself,
or what a foreign checkpoint would convert to.

``model_format(path)`` says whether a path names a model at all, from its name, its file type
and a regular file's header alone (a FIFO or a device is never opened), so that ``info`` can
tell a model from a video before either is read. ``card_of(path, fmt)`` then gives its
``ModelCard``: a vidclass model file's header (no tensor is read), or the model a Hugging Face
ViViT directory, a scenic checkpoint or a pytorchvideo X3D checkpoint converts to, converted in memory (nothing is written:
``--model`` converts into the cache, ``vidclass convert`` writes a file).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from .classifier import VideoClassifier
from .convert.common import ConversionError
from .modelfile import FORMAT, SUFFIX, ModelCard, ModelFileError, read_model_card
from .sources import ConvertOptions, convert_huggingface, convert_scenic, convert_source, is_vidclass_file

HUGGINGFACE = "huggingface"
SCENIC = "scenic"
SCENIC_SUFFIX = ".msgpack"
PYTORCHVIDEO = "pytorchvideo"
PYTORCHVIDEO_SUFFIX = ".pyth"  # the hub's X3D_M.pyth


def model_format(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` holds, if it is a model: ``FORMAT`` for a vidclass model file (and for any
    other ``.safetensors`` file: its header then says what it lacks), ``"huggingface"`` for a
    directory with a ``config.json``, ``"scenic"`` for a file named ``checkpoint`` or
    ``checkpoint_<step>`` (as scenic writes them) or ``*.msgpack``; None for anything else (a
    video, a missing path, a pipe)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISDIR(mode):
        return HUGGINGFACE if (path / "config.json").is_file() else None
    if not stat.S_ISREG(mode):
        return None
    if path.suffix.lower() == SUFFIX or is_vidclass_file(path):
        return FORMAT
    name = path.name.lower()
    if name == "checkpoint" or name.startswith("checkpoint_") or path.suffix.lower() == SCENIC_SUFFIX:
        return SCENIC
    if path.suffix.lower() == PYTORCHVIDEO_SUFFIX:
        return PYTORCHVIDEO
    return None


def card_of(path: str | os.PathLike[str], fmt: str) -> ModelCard:
    """The card of the model at ``path``, of ``model_format`` ``fmt``; a model that cannot be
    read or converted raises ``ModelFileError`` (one line naming the file)."""
    if fmt == FORMAT:
        return read_model_card(path)
    converters: dict[str, Callable[[Path], VideoClassifier]] = {
        HUGGINGFACE: convert_huggingface,
        SCENIC: convert_scenic,
        PYTORCHVIDEO: _pytorchvideo,
    }
    convert = converters[fmt]
    try:
        return ModelCard.of(convert(Path(path)))
    except ConversionError as exc:
        raise ModelFileError(str(exc)) from None


def _pytorchvideo(path: Path) -> VideoClassifier:
    return convert_source(path, ConvertOptions())  # says what a .pyth file that is no X3D checkpoint is


__all__ = ["HUGGINGFACE", "PYTORCHVIDEO", "SCENIC", "card_of", "model_format"]
