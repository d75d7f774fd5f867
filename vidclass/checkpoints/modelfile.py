"""vidclass model files: one ``.safetensors`` file with everything needed to run the model.

Layout: the ViViT state dict as tensors; the header metadata (string -> string) holds
``format`` (``vidclass.model/1``), ``name``, and JSON for ``config``, ``labels``,
``preprocessing``, ``protocol`` and ``provenance``. Metadata is parsed as JSON and validated
field by field, never evaluated. No pickles anywhere.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import VidclassError
from ..models import ViViT, ViViTConfig
from ..protocol import Preprocessing, ViewProtocol
from .classifier import Provenance, VideoClassifier

T = TypeVar("T")

FORMAT = "vidclass.model/1"
SUFFIX = ".safetensors"


class ModelFileError(VidclassError):
    """A model file that cannot be used; the message is one line naming the problem."""


class NoModelError(VidclassError, LookupError):
    """No model was named and no default model exists (``$VIDCLASS_MODEL``, the bundled one)."""


def save_model(classifier: VideoClassifier, path: str | os.PathLike[str]) -> Path:
    """Write ``classifier`` to ``path`` (a ``.safetensors`` file), atomically."""
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in classifier.model.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "name": classifier.name,
        "config": json.dumps(classifier.config.to_dict()),
        "labels": json.dumps(list(classifier.labels), ensure_ascii=False),
        "preprocessing": json.dumps(classifier.preprocessing.to_dict()),
        "protocol": json.dumps(classifier.protocol.to_dict()),
        "provenance": json.dumps(classifier.provenance, ensure_ascii=False, default=str),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial, 0o666 & ~umask)  # an ordinary file's mode; the writer leaves it 0600
    os.replace(partial, path)
    return path


def _parse_json(metadata: dict[str, str], key: str, path: Path, kind: type[T]) -> T:
    if key not in metadata:
        raise ModelFileError(f"{path}: metadata has no {key!r} entry (not a vidclass model file?)")
    try:
        value = json.loads(metadata[key])
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: metadata {key!r} is not valid JSON ({exc.msg})") from None
    if not isinstance(value, kind):
        raise ModelFileError(f"{path}: metadata {key!r} must be a JSON {kind.__name__}")
    return value


@dataclass(frozen=True)
class ModelCard:
    """What a model file's header says, read and validated without loading any tensor."""

    name: str
    config: ViViTConfig
    labels: tuple[str, ...]
    preprocessing: Preprocessing
    protocol: ViewProtocol
    provenance: Provenance


def _open_error(path: Path, exc: Exception) -> ModelFileError:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelFileError(f"{path}: not a readable safetensors file ({first_line})")


def _card_from_metadata(metadata: dict[str, str], path: Path) -> ModelCard:
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path}: metadata 'format' is {metadata.get('format')!r}, expected {FORMAT!r} "
            "(convert foreign checkpoints first)"
        )
    try:
        config = ViViTConfig.from_dict(_parse_json(metadata, "config", path, dict))
        labels = _parse_json(metadata, "labels", path, list)
        if not all(isinstance(label, str) for label in labels):
            raise ValueError("labels must be strings")
        preprocessing = Preprocessing.from_dict(_parse_json(metadata, "preprocessing", path, dict))
        protocol = ViewProtocol.from_dict(_parse_json(metadata, "protocol", path, dict))
        provenance = Provenance()
        if "provenance" in metadata:  # kept as written, unknown keys too: see Provenance
            provenance = cast(Provenance, _parse_json(metadata, "provenance", path, dict))
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: invalid metadata: {exc}") from None
    if len(labels) != config.num_classes:
        raise ModelFileError(
            f"{path}: inconsistent metadata: {len(labels)} labels for a model with {config.num_classes} classes"
        )
    return ModelCard(metadata.get("name", path.stem), config, tuple(labels), preprocessing, protocol, provenance)


def read_model_card(path: str | os.PathLike[str]) -> ModelCard:
    """The validated header of a model file (cheap: no tensor is read)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as f:
            return _card_from_metadata(f.metadata() or {}, path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise _open_error(path, exc) from None


def read_model_file(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> VideoClassifier:
    """Load and validate a vidclass model file; any problem raises ``ModelFileError``."""
    path = Path(path)
    card = read_model_card(path)
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _open_error(path, exc) from None
    with torch.device("meta"):
        model = ViViT(card.config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensor(s) {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected tensor(s) {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
        raise ModelFileError(f"{path}: tensors do not match the config: {'; '.join(parts)}")
    for key, ref in expected.items():
        if tuple(tensors[key].shape) != tuple(ref.shape):
            raise ModelFileError(
                f"{path}: tensor {key} has shape {tuple(tensors[key].shape)}, the config needs {tuple(ref.shape)}"
            )
        if not tensors[key].is_floating_point():
            raise ModelFileError(f"{path}: tensor {key} has dtype {tensors[key].dtype}, expected floating point")
    model.load_state_dict(tensors, assign=True)
    try:
        return VideoClassifier.build(
            model.eval(),
            card.labels,
            card.preprocessing,
            card.protocol,
            name=card.name,
            source=str(path),
            provenance=card.provenance,
        )
    except ValueError as exc:
        raise ModelFileError(f"{path}: inconsistent metadata: {exc}") from None
