"""vidclass: label local video files with ViViT and TokenLearner models.

The library mirrors the command line: ``vidclass.predict`` is what ``vidclass predict`` runs.

The names below are imported on first use (PEP 562), so ``import vidclass`` does not import
torch: the command line starts without it, and ``vidclass.create_model`` imports it when
first called for. Subpackages (``vidclass.checkpoints``, ``vidclass.video``, ...) load the
same way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports these
    from . import checkpoints as checkpoints
    from . import cli as cli
    from . import data as data
    from . import defaults as defaults
    from . import errors as errors
    from . import evaluation as evaluation
    from . import explanation as explanation
    from . import export as export
    from . import inference as inference
    from . import models as models
    from . import scores as scores
    from . import synth as synth
    from . import timelines as timelines
    from . import video as video
    from .checkpoints import ModelFileError, VideoClassifier, create_model, load_model, save_model
    from .evaluation import evaluate as evaluate
    from .evaluation import report as report
    from .explanation import Explanation, explain
    from .export import export_onnx as export_onnx
    from .inference import Predictor, RunOptions, predict
    from .models import describe_models, list_models
    from .protocol import Aggregate, Preprocessing, ViewProtocol
    from .scores import Prediction
    from .timelines import timeline
    from .training import train as train

# name -> the module that defines it
_LAZY = {
    "ModelFileError": "vidclass.checkpoints",
    "VideoClassifier": "vidclass.checkpoints",
    "create_model": "vidclass.checkpoints",
    "load_model": "vidclass.checkpoints",
    "save_model": "vidclass.checkpoints",
    "describe_models": "vidclass.models",
    "list_models": "vidclass.models",
    "Aggregate": "vidclass.protocol",
    "Preprocessing": "vidclass.protocol",
    "ViewProtocol": "vidclass.protocol",
    "Prediction": "vidclass.scores",
    "Predictor": "vidclass.inference",
    "RunOptions": "vidclass.inference",
    "predict": "vidclass.inference",
    "evaluate": "vidclass.evaluation",
    "report": "vidclass.evaluation",
    "explain": "vidclass.explanation",
    "export_onnx": "vidclass.export",
    "timeline": "vidclass.timelines",
    "Explanation": "vidclass.explanation",
    "train": "vidclass.training",  # the training engine is imported only by scripts that train
}
_SUBMODULES = frozenset(
    {
        "checkpoints",
        "cli",
        "data",
        "defaults",
        "devices",
        "distributed",
        "errors",
        "evaluation",
        "explanation",
        "export",
        "inference",
        "models",
        "precision",
        "protocol",
        "scores",
        "synth",
        "timelines",
        "training",
        "video",
    }
)


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value: Any = version("vidclass")
        except PackageNotFoundError:  # running from a source tree without installing
            value = "0.0.0+unknown"
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups find it without coming here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBMODULES, "__version__"})


__all__ = [
    "Aggregate",
    "Explanation",
    "ModelFileError",
    "Prediction",
    "Predictor",
    "RunOptions",
    "Preprocessing",
    "VideoClassifier",
    "ViewProtocol",
    "__version__",
    "create_model",
    "describe_models",
    "explain",
    "export_onnx",
    "list_models",
    "load_model",
    "timeline",
    "predict",
    "save_model",
]
