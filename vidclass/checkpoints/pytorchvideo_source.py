"""A pytorchvideo X3D checkpoint (``X3D_M.pyth``) -> a ``VideoClassifier``: the tensors through
``convert.pytorchvideo``, with the variant's own preprocessing and view protocol
(``models.X3D_CONFIGS``: PySlowFast's 10x3 test views) and Kinetics-400's labels for a
400-class head. ``sources.convert_source`` calls it for any PyTorch file, and ``convert_named``
for a published checkpoint's name (``pytorchvideo:x3d_m``), downloaded by ``downloads``.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

from ..models import X3D, X3D_CONFIGS
from .classifier import Provenance, VideoClassifier
from .convert import pytorchvideo
from .convert.common import ConversionError
from .downloads import download_pytorchvideo, pytorchvideo_checkpoint, pytorchvideo_url, sha256_of
from .sources import ConvertOptions, cache_dir, kinetics_labels, log, read_labels_file

VIVIT_ONLY = ("num_frames", "image_size", "resample", "tokenlearner_location", "source_image_size")


def convert_pytorchvideo(
    path: str | Path, options: ConvertOptions, *, source: str | None = None, provenance: Provenance | None = None
) -> VideoClassifier | None:
    """A pytorchvideo X3D checkpoint as a classifier with its variant's preprocessing and protocol
    (``models.X3D_CONFIGS``); None when ``path`` is some other PyTorch file. ``source`` names
    where the file came from (``pytorchvideo:x3d_m``; default: ``path``), and ``provenance``
    adds to the provenance (the URL and the file's sha256)."""
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
            name=source or Path(path).name,
            source=source or str(path),
            provenance={
                "source": source or str(path),
                "format": "pytorchvideo",
                **(provenance or {}),
                "conversion": conversion,
            },
        )
    except ValueError as exc:  # the labels file does not fit the head
        raise ConversionError(f"{path}: {exc}") from None


def convert_named(spec: str, options: ConvertOptions) -> VideoClassifier:
    """A published checkpoint (``pytorchvideo:x3d_m``): its file, downloaded once into the cache,
    converted as the variant the name says, its provenance naming the URL and the file's sha256."""
    _, variant = pytorchvideo_checkpoint(spec)
    if options.variant not in (None, variant):
        raise ConversionError(f"{spec} is an {variant}: --variant {options.variant} does not apply to it")
    if any(getattr(options, field) for field in VIVIT_ONLY):  # refused before anything is downloaded
        raise ConversionError(f"{spec}: a pytorchvideo X3D checkpoint runs at its variant's clip and crop only")
    path = download_pytorchvideo(spec, cache_dir())
    url = pytorchvideo_url(spec)
    extra: Provenance = {"url": url, "sha256": sha256_of(path)}
    converted = convert_pytorchvideo(path, replace(options, variant=variant), source=spec, provenance=extra)
    if converted is None:  # not worth keeping: the next use downloads it again
        path.unlink(missing_ok=True)
        raise ConversionError(f"{spec}: {url} holds no pytorchvideo checkpoint (no 'model_state')")
    return converted


__all__ = ["convert_named", "convert_pytorchvideo"]
