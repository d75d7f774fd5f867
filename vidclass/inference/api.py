"""``predict``: the library mirror of ``vidclass predict``.

::

    for p in vidclass.predict(["clips/"], model="weights/default.safetensors"):
        print(p.path, p.label, p.score)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from vidclass.checkpoints import ModelSpec, load_classifier
from vidclass.data.files import expand_paths
from vidclass.inference.decode_queue import prestart
from vidclass.inference.options import RunOptions
from vidclass.inference.predictor import Predictor
from vidclass.scores import Prediction


def predict(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    model: ModelSpec = None,
    *,
    recursive: bool = False,
    options: RunOptions | None = None,
    **changes: Any,
) -> Iterator[Prediction]:
    """Yield one ``Prediction`` per video, as ``vidclass predict`` prints them.

    ``paths``: files and directories (videos directly inside, or all below with
    ``recursive=True``), like the command's arguments. ``model``: a loaded classifier, a
    registry name or a model file; None uses the same default as the command
    (``$VIDCLASS_MODEL``, then the bundled model). ``options`` is a ``RunOptions``; keywords
    (``device="cpu"``, ``workers=2``, ``precision="bf16"``, ...) build or change one.
    The model is loaded and the options checked before this returns (errors raise here);
    videos are then processed lazily, in input order. Worker processes, if any, end when the
    iterator is exhausted or closed; they start while the model loads.
    """
    options = RunOptions.build(options, **changes)
    prestart(options)
    predictor = Predictor(load_classifier(model), options)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return _closing(predictor, predictor.predict_many(expand_paths(paths, recursive=recursive)))


def _closing(predictor: Predictor, results: Iterator[Prediction]) -> Iterator[Prediction]:
    try:
        yield from results
    finally:
        predictor.close()


__all__ = ["predict"]
