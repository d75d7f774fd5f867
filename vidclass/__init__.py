"""vidclass: label local video files with ViViT and TokenLearner models.

The library mirrors the command line: ``vidclass.predict`` is what ``vidclass predict`` runs.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

# torch before decord: decord imported first can deadlock DataLoader workers (decord #251).
import torch  # noqa: F401

from .checkpoints import ModelFileError, VideoClassifier, create_model, load_model, save_model
from .models import describe_models, list_models
from .video.protocol import Aggregate, Preprocessing, ViewProtocol

try:
    __version__ = version("vidclass")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"


def __getattr__(name: str):
    # The engine pulls in the video pipeline; import it only when a script asks for it.
    if name == "train":  # the training engine is imported only by scripts that train
        from .engine.train import train

        return train
    if name in ("evaluate", "report"):
        from .engine import evaluate as module

        return getattr(module, name)
    if name in ("predict", "Predictor", "Prediction"):
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'vidclass' has no attribute {name!r}")


__all__ = [
    "Aggregate",
    "ModelFileError",
    "Prediction",
    "Predictor",
    "Preprocessing",
    "VideoClassifier",
    "ViewProtocol",
    "__version__",
    "create_model",
    "describe_models",
    "list_models",
    "load_model",
    "predict",
    "save_model",
]
