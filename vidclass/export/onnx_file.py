"""``export_onnx``: a ``VideoClassifier`` as one ONNX file that says what it is.

The graph: input ``video`` (B, 3, T, H, W) float32, normalised as the card's preprocessing says,
T, H and W fixed at the preprocessing's frames and crop (the views predict takes); output
``logits`` (B, classes), no softmax or sigmoid. B is free (a dynamic axis). The file's
``metadata_props`` hold the model card as a model file's header holds it
(``checkpoints.modelfile.card_metadata``: name, family, config, labels, preprocessing, protocol,
provenance, multi_label), so ``read_onnx_card`` gives back the same ``ModelCard``.

The exporter is torch's ``torch.onnx.export(dynamo=True)`` (torch.export, then onnxscript):
on every model family and variant its graph matches torch within 1e-4 at fp32 on both ends of
the supported torch range. The TorchScript exporter (``dynamo=False``) emits ``movedim(-3, 0)``
(every attention block) as a Transpose with a negative permutation, which onnxruntime refuses;
docs/commands/export.md has the measurements. The exporter's progress lines and warnings are
kept off stdout and stderr; a failure is one ``ExportError`` line.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..checkpoints import ModelCard, ModelFileError, ModelSpec, VideoClassifier, load_classifier
from ..checkpoints.modelfile import card_from_metadata, card_metadata
from ..errors import VidclassError

if TYPE_CHECKING:  # imported when exporting: vidclass.export imports neither torch.onnx nor onnx_ir
    import onnx_ir
    from torch.onnx import ONNXProgram

INPUT_NAME = "video"
OUTPUT_NAME = "logits"
OPSET = 18  # the exporter's own opset (asking for another adds a version conversion pass)
EXPORT_EXTRA = "vidclass[export]"
_PACKAGES = ("onnx", "onnxscript")  # what torch.onnx.export(dynamo=True) imports
_EXAMPLE_BATCH = 2  # the traced example's batch: 0 and 1 would be specialised, 2 is not


class ExportError(VidclassError):
    """The model cannot be exported where asked (exit 2); the message is one line."""


def require_export_packages(more: tuple[str, ...] = ()) -> None:
    """``ExportError`` naming the extra when the packages the exporter needs (and ``more``) are missing."""
    missing = [name for name in (*_PACKAGES, *more) if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"ONNX export needs {' and '.join(missing)}, not installed: pip install '{EXPORT_EXTRA}'")


def export_onnx(model: ModelSpec, output: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write ``model`` (any model spec: a ``VideoClassifier``, a name or path, None for the
    default) to ``output`` as an ONNX file, atomically (a temporary file beside it, renamed).

    An existing ``output`` is refused unless ``overwrite``; the model's own file never is.
    Raises ``ExportError`` (and ``ModelFileError``/``NoModelError`` from loading the model).
    """
    require_export_packages()
    target = Path(output)
    check_output(target, overwrite)
    classifier = load_classifier(model)
    _check_not_source(target, classifier.source)
    program = _program(classifier)
    _describe(program.model, classifier)
    _write_atomically(program, target)
    return target


def read_onnx_card(path: str | os.PathLike[str]) -> ModelCard:
    """The model card in an exported file's metadata, validated as a model file's header is."""
    require_export_packages()
    import onnx

    path = Path(path)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except Exception as exc:  # onnx raises protobuf's DecodeError and others for a file that is no ONNX
        raise ModelFileError(f"{path}: not a readable ONNX file ({type(exc).__name__})") from None
    return card_from_metadata({entry.key: entry.value for entry in proto.metadata_props}, path)


def check_output(target: Path, overwrite: bool) -> None:
    """``ExportError`` unless ``target`` may be written: not a directory, in a folder that exists,
    and new unless ``overwrite``."""
    if target.is_dir():
        raise ExportError(f"{target}: is a directory; -o names the ONNX file to write")
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise ExportError(f"{target} already exists: pass --overwrite to replace it")
    if not target.parent.is_dir():
        raise ExportError(f"{target.parent}: no such directory")


def _check_not_source(target: Path, source: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        if os.path.samefile(target, source):
            raise ExportError(f"{target} is the model being exported: refusing to overwrite it")


def _program(classifier: VideoClassifier) -> ONNXProgram:
    import torch

    net = classifier.model
    if net.training or any(p.dtype != torch.float32 or p.device.type != "cpu" for p in net.parameters()):
        net = copy.deepcopy(net).float().cpu().eval()  # the caller's model stays as it is
    prep = classifier.preprocessing
    example = torch.zeros(_EXAMPLE_BATCH, 3, prep.num_frames, prep.crop_size, prep.crop_size)
    with _quiet():
        try:
            program = torch.onnx.export(
                net,
                (example,),
                None,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        except Exception as exc:  # the exporter's own errors are many and long: the first line
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise ExportError(f"{classifier.name}: the ONNX exporter failed ({type(exc).__name__}: {first})") from exc
    if program is None:  # dynamo=True always returns one; None is the TorchScript exporter's
        raise ExportError(f"{classifier.name}: the ONNX exporter returned no program")
    shape = program.model.graph.inputs[0].shape
    batch = shape[0] if shape is not None else None
    if batch is None or isinstance(batch, int):  # specialised: the file would run one batch size only
        raise ExportError(f"{classifier.name}: the exporter fixed the batch axis at {batch}")
    return program


def _describe(model: onnx_ir.Model, classifier: VideoClassifier) -> None:
    from importlib.metadata import PackageNotFoundError, version

    prep = classifier.preprocessing
    model.metadata_props.update(card_metadata(classifier))
    model.producer_name = "vidclass"
    with contextlib.suppress(PackageNotFoundError):
        model.producer_version = version("vidclass")
    model.doc_string = (
        f"vidclass model {classifier.name}: {INPUT_NAME} (B, 3, {prep.num_frames}, {prep.crop_size}, "
        f"{prep.crop_size}) float32 normalised as metadata 'preprocessing' says -> {OUTPUT_NAME} "
        f"(B, {len(classifier.labels)}); labels, protocol and multi_label in the metadata"
    )


def _write_atomically(program: ONNXProgram, target: Path) -> None:
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    partial = Path(name)
    try:
        with _quiet():
            program.save(str(partial))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)  # an ordinary file's mode; mkstemp leaves it 0600
        os.replace(partial, target)
    except OSError as exc:
        raise ExportError(f"{target}: cannot write ({exc.strerror or exc})") from None
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's progress lines (print) and warnings dropped: vidclass's stdout holds results only."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
