"""A pytorchvideo X3D checkpoint (``X3D_M.pyth``) -> a ``VideoClassifier``: the tensors through
``convert.pytorchvideo``, with the variant's own preprocessing and view protocol
(``models.X3D_CONFIGS``: PySlowFast's 10x3 test views) and Kinetics-400's labels for a
400-class head. ``sources.convert_source`` calls it for any PyTorch file.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..models import X3D, X3D_CONFIGS
from .classifier import VideoClassifier
from .convert import pytorchvideo
from .convert.common import ConversionError
from .sources import ConvertOptions, kinetics_labels, log, read_labels_file

VIVIT_ONLY = ("num_frames", "image_size", "resample", "tokenlearner_location", "source_image_size")


def convert_pytorchvideo(path: str | Path, options: ConvertOptions) -> VideoClassifier | None:
    """A pytorchvideo X3D checkpoint as a classifier with its variant's preprocessing and protocol
    (``models.X3D_CONFIGS``); None when ``path`` is some other PyTorch file."""
    state = pytorchvideo.read_model_state(path)
    if state is None:
        return None
    if any(getattr(options, field) for field in VIVIT_ONLY):
        raise ConversionError(f"{path}: a pytorchvideo X3D checkpoint runs at its variant's clip and crop only")
    variant, cfg, state = pytorchvideo.convert_pytorchvideo_state(state, path, options.variant)
    labels = read_labels_file(options.labels) if options.labels else kinetics_labels(cfg.num_classes)
    if labels is None:
        log.warning("%s: %d classes and no --labels file: naming them class_0..", path, cfg.num_classes)
    _, prep, protocol = X3D_CONFIGS[variant]
    conversion = {"variant": variant, **{k: v for k, v in asdict(options).items() if v}}
    try:
        return VideoClassifier.build(
            X3D.from_state_dict(cfg, state),
            labels or [f"class_{i}" for i in range(cfg.num_classes)],
            prep,
            protocol,
            name=Path(path).name,
            source=str(path),
            provenance={"source": str(path), "format": "pytorchvideo", "conversion": conversion},
        )
    except ValueError as exc:  # the labels file does not fit the head
        raise ConversionError(f"{path}: {exc}") from None


__all__ = ["convert_pytorchvideo"]
