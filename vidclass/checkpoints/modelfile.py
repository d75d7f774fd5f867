"""vidclass model files: one ``.safetensors`` file with everything needed to run the model.

Layout: the network's state dict as tensors; the header metadata (string -> string) holds
``format`` (``vidclass.model/1``), ``name``, ``family`` (the model family, ``x3d``; absent for
ViViT, which every file written before X3D is, so ViViT files are written as before), and JSON
for ``config`` (the family's config), ``labels``,
``preprocessing``, ``protocol``, ``provenance`` and ``multi_label`` (``true``: a sigmoid per
class; absent in files written before it existed, which are single-label). Metadata is parsed as JSON and validated
field by field, never evaluated. No pickles anywhere.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import VidclassError
from ..models import DEFAULT_FAMILY, ModelConfig, Network, build_network, family_of, get_family
from ..protocol import Preprocessing, ViewProtocol
from .classifier import Provenance, VideoClassifier, check_fit, check_labels, single_line

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
    metadata = card_metadata(classifier)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial, 0o666 & ~umask)  # an ordinary file's mode; the writer leaves it 0600
    os.replace(partial, path)
    return path


def card_metadata(classifier: VideoClassifier) -> dict[str, str]:
    """The card of ``classifier`` as a model file's header holds it (string -> string): also
    what ``vidclass export`` writes into an ONNX file's metadata; ``card_from_metadata`` reads it."""
    family = family_of(classifier.config).name
    return {
        "format": FORMAT,
        "name": classifier.name,
        **({"family": family} if family != DEFAULT_FAMILY else {}),
        "config": json.dumps(classifier.config.to_dict()),
        "labels": json.dumps(list(classifier.labels), ensure_ascii=False),
        "preprocessing": json.dumps(classifier.preprocessing.to_dict()),
        "protocol": json.dumps(classifier.protocol.to_dict()),
        "provenance": json.dumps(classifier.provenance, ensure_ascii=False, default=str),
        "multi_label": json.dumps(classifier.multi_label),
    }


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
    config: ModelConfig  # its class says the family
    labels: tuple[str, ...]
    preprocessing: Preprocessing
    protocol: ViewProtocol
    provenance: Provenance
    multi_label: bool = False

    @classmethod
    def of(cls, classifier: VideoClassifier) -> ModelCard:
        """The card of a classifier in memory (one converted from a foreign checkpoint, say)."""
        c = classifier
        return cls(c.name, c.config, tuple(c.labels), c.preprocessing, c.protocol, c.provenance, c.multi_label)

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON: what the header holds, with the parameter count and the GFLOPs of
        one view (multiply-adds x 2, as ``vidclass models`` counts them) worked out from the config."""
        family = family_of(self.config)
        return {
            "name": self.name,
            "family": family.name,
            "params": family.params(self.config),
            "gflops": round(family.gflops(self.config), 3),
            "labels": list(self.labels),
            "multi_label": self.multi_label,
            "config": self.config.to_dict(),
            "preprocessing": self.preprocessing.to_dict(),
            "protocol": self.protocol.to_dict(),
            "provenance": dict(self.provenance),
        }


def _open_error(path: Path, exc: Exception) -> ModelFileError:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelFileError(f"{path}: not a readable safetensors file ({first_line})")


def _section(metadata: dict[str, str], key: str, path: Path, read: Callable[[Any], T], kind: type = dict) -> T:
    """Metadata entry ``key`` parsed as JSON of type ``kind`` and validated by ``read``; any
    problem is a ``ModelFileError`` naming the file and the entry (and ``read``'s field)."""
    value: Any = _parse_json(metadata, key, path, kind)
    try:
        return read(value)
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: invalid metadata: {key}: {exc}") from None


def card_from_metadata(metadata: dict[str, str], path: Path) -> ModelCard:
    """The validated card in ``metadata`` (``card_metadata``'s entries) of the file at ``path``;
    any problem is a ``ModelFileError`` naming the file."""
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path}: metadata 'format' is {metadata.get('format')!r:.60}, expected {FORMAT!r} "
            "(convert foreign checkpoints first)"
        )
    try:
        family = get_family(metadata.get("family", DEFAULT_FAMILY))
    except ValueError as exc:
        raise ModelFileError(f"{path}: invalid metadata: family: {exc}") from None
    config = _section(metadata, "config", path, family.config.from_dict)
    labels = _section(metadata, "labels", path, _labels, list)
    preprocessing = _section(metadata, "preprocessing", path, Preprocessing.from_dict)
    protocol = _section(metadata, "protocol", path, ViewProtocol.from_dict)
    provenance = Provenance()
    if "provenance" in metadata:  # kept as written, unknown keys too: see Provenance
        provenance = cast(Provenance, _parse_json(metadata, "provenance", path, dict))
    multi_label = False
    if "multi_label" in metadata:
        multi_label = _parse_json(metadata, "multi_label", path, bool)
    try:
        protocol.aggregate.check(multi_label)
    except ValueError as exc:
        raise ModelFileError(f"{path}: inconsistent metadata: {exc}") from None
    name = metadata.get("name") or path.stem
    if not single_line(name):
        raise ModelFileError(f"{path}: invalid metadata: name holds a control character or line break")
    try:
        check_fit(config, labels, preprocessing)
    except ValueError as exc:
        raise ModelFileError(f"{path}: inconsistent metadata: {exc}") from None
    return ModelCard(name, config, labels, preprocessing, protocol, provenance, multi_label)


def _labels(value: list[Any]) -> tuple[str, ...]:
    check_labels(value)
    return tuple(value)


def _regular_file(path: Path) -> Path:
    """``path`` if it is a regular file (after symlinks); checked before it is opened, so a
    FIFO, a device such as /dev/zero or a directory is refused without reading from it."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise ModelFileError(f"{path}: no such model file") from None
        raise ModelFileError(f"{path}: cannot read model file ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise ModelFileError(f"{path}: not a regular file")
    return path


def read_model_card(path: str | os.PathLike[str]) -> ModelCard:
    """The validated header of a model file (cheap: no tensor is read)."""
    path = _regular_file(Path(path))
    try:
        with safe_open(str(path), framework="pt") as f:
            return card_from_metadata(f.metadata() or {}, path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise _open_error(path, exc) from None


_INTEGERS = ("I64", "I32", "I16", "I8", "U8")  # safetensors' names


def _is_float(dtype: str) -> bool:
    return dtype.startswith("F") or dtype == "BF16"  # safetensors' names: F16, BF16, F32, F64, F8_*


def _empty_model(path: Path, card: ModelCard, shapes: dict[str, tuple[int, ...]], dtypes: dict[str, str]) -> Network:
    """The network of ``card.config`` on the meta device (no memory), once the file's tensors,
    from its header alone, are what it needs: first the parameter budget (before the network is
    built: a config may not imply more than twice the parameters the file stores), then names,
    shapes and dtypes (floating point, but for integer buffers such as BatchNorm's
    ``num_batches_tracked``, which must be integers)."""
    stored = sum(math.prod(shape) for shape in shapes.values())
    needed = family_of(card.config).params(card.config)
    if needed > 2 * stored:
        raise ModelFileError(
            f"{path}: the config implies {needed:,} parameters, the file stores {stored:,}: refused before building it"
        )
    with torch.device("meta"):
        model = build_network(card.config)
    state = model.state_dict()
    expected = {key: tuple(ref.shape) for key, ref in state.items()}
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensor(s) {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected tensor(s) {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
        raise ModelFileError(f"{path}: tensors do not match the config: {'; '.join(parts)}")
    for key, shape in expected.items():
        if shapes[key] != shape:
            raise ModelFileError(f"{path}: tensor {key} has shape {shapes[key]}, the config needs {shape}")
        if not state[key].is_floating_point():
            if dtypes[key] not in _INTEGERS:
                raise ModelFileError(f"{path}: tensor {key} has dtype {dtypes[key]}, expected an integer")
        elif not _is_float(dtypes[key]):
            raise ModelFileError(f"{path}: tensor {key} has dtype {dtypes[key]}, expected floating point")
    return model


def read_model_file(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> VideoClassifier:
    """Load and validate a vidclass model file; any problem raises ``ModelFileError``.

    The header is checked whole (metadata, then every tensor's name, shape and dtype against
    the config) before any tensor is read or the network is built; then every value must be
    finite."""
    card = read_model_card(path)
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            slices = {key: f.get_slice(key) for key in f.keys()}
            shapes = {key: tuple(s.get_shape()) for key, s in slices.items()}
            model = _empty_model(path, card, shapes, {key: s.get_dtype() for key, s in slices.items()})
            tensors = {key: f.get_tensor(key) for key in shapes}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise _open_error(path, exc) from None
    for key, tensor in tensors.items():
        if not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(f"{path}: tensor {key} holds NaN or infinite values")
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
            multi_label=card.multi_label,
        )
    except ValueError as exc:
        raise ModelFileError(f"{path}: inconsistent metadata: {exc}") from None
