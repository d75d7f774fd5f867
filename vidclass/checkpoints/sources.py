"""Where a model comes from: a vidclass file, a bundled name, or a foreign checkpoint.

``locate_model(spec)`` gives the path of a vidclass model file for any source ``--model``
accepts, converting foreign checkpoints once into the cache (``$VIDCLASS_CACHE``, default
``~/.cache/vidclass``): a Hugging Face ViViT directory, a Hugging Face hub id (with the
optional ``huggingface_hub``), a scenic Flax ``checkpoint`` file, a pytorchvideo X3D
checkpoint (``X3D_M.pyth``), or the name of a published one (``pytorchvideo:x3d_m``);
``downloads`` fetches the last two kinds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from ..defaults import MODEL_ENV
from ..models import list_models
from ..models.config import Variant, ViViTConfig
from ..protocol import Preprocessing, ViewProtocol
from .classifier import VideoClassifier, check_fit, check_labels
from .convert.common import ConversionError, sniff_format
from .downloads import download_hub, download_pytorchvideo, is_pytorchvideo_name
from .hints import MODEL_SUFFIXES, configuration_without_weights, unknown_model
from .modelfile import FORMAT, SUFFIX, ModelFileError, save_model

log = logging.getLogger(__name__)

CACHE_ENV = "VIDCLASS_CACHE"
CACHE_VERSION = 1  # bump when a converter's output changes, to invalidate cached files
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
KINETICS = {400: "kinetics400", 600: "kinetics600"}
MODEL_SOURCES = (
    "vidclass reads vidclass model files (.safetensors) and converts Hugging Face ViViT folders and hub ids, "
    "scenic Flax checkpoints and pytorchvideo X3D checkpoints"
)
NOT_A_MODEL = {  # what a file that is no model source is, from convert.common.sniff_format
    "text": "a text file, not a model",
    "pytorch": "a PyTorch weights file: for a Hugging Face ViViT, pass the folder that holds it and config.json",
    "safetensors": "a safetensors file with no vidclass metadata: for a Hugging Face ViViT, pass the folder "
    "that holds it and config.json",
    "unknown": "not a model file",
}


@dataclass(frozen=True)
class ConvertOptions:
    """What a checkpoint does not say about itself, and explicit changes to it."""

    variant: str | None = None  # scenic Model 4 has Model 1's parameters; pytorchvideo: the X3D variant
    tokenlearner_location: int | None = None  # scenic TokenLearner without fuser
    source_image_size: int | None = None  # scenic: the image size the checkpoint was trained at (224)
    labels: str | None = None  # a file with one label per line
    num_frames: int | None = None  # run at another frame count (needs resample)
    image_size: int | None = None  # run at another resolution (needs resample)
    resample: bool = False  # allow num_frames / image_size to differ: interpolate position embeddings


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vidclass"


def refuse_special_file(path: Path, error: type[Exception]) -> None:
    """``error`` when ``path`` exists but is neither a regular file nor a directory: a FIFO, a
    device such as /dev/zero, a socket. Checked before anything opens it, since reading one
    can block forever or never end. A missing path passes: the caller says what it missed."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise error(f"{path}: not a regular file or directory (a pipe, device or socket)")


def read_labels_file(path: str | Path) -> list[str]:
    """One label per line (blank lines skipped); they must be distinct."""
    refuse_special_file(Path(path), ConversionError)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConversionError(f"{path}: cannot read labels ({exc})") from None
    labels = [line.strip() for line in lines if line.strip()]
    if not labels:
        raise ConversionError(f"{path}: no labels")
    try:
        check_labels(labels)
    except ValueError as exc:
        raise ConversionError(f"{path}: {exc}") from None
    return labels


def kinetics_labels(num_classes: int) -> list[str] | None:
    """The Kinetics-400/600 class names (alphabetical: the datasets' class indices)."""
    name = KINETICS.get(num_classes)
    if name is None:
        return None
    text = resources.files("vidclass.checkpoints").joinpath(f"labels/{name}.txt").read_text(encoding="utf-8")
    return text.splitlines()


def is_vidclass_file(path: Path) -> bool:
    """Whether ``path`` is a safetensors file whose metadata names our format."""
    try:
        with path.open("rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 2 <= size <= 100_000_000:
                return False
            header = json.loads(f.read(size))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and (header.get("__metadata__") or {}).get("format") == FORMAT


def looks_like_hub_id(spec: str) -> bool:
    """``org/name`` (or ``hf:org/name``) that is not a path with a model-file suffix."""
    if spec.startswith("hf:"):
        return True
    return bool(HUB_ID.match(spec)) and Path(spec).suffix not in MODEL_SUFFIXES


# --- conversion ------------------------------------------------------------------------------


def default_preprocessing(cfg: ViViTConfig) -> Preprocessing:
    """ViViT's Kinetics protocol scaled to the model: 2-frame stride, short side 256/224 x crop."""
    return Preprocessing(
        num_frames=cfg.num_frames,
        frame_stride=2,
        resize_size=round(cfg.image_size * 256 / 224),
        crop_size=cfg.image_size,
    )


def _retarget(cfg: ViViTConfig, state: dict, options: ConvertOptions, origin: str) -> tuple[ViViTConfig, dict]:
    """Apply ``num_frames`` / ``image_size`` changes, interpolating position embeddings."""
    frames = options.num_frames or cfg.num_frames
    size = options.image_size or cfg.image_size
    if (frames, size) == (cfg.num_frames, cfg.image_size):
        return cfg, state
    if not options.resample:
        raise ConversionError(
            f"{origin}: the checkpoint is for {cfg.num_frames} frames at {cfg.image_size}px; running it at {frames} "
            f"frames and {size}px interpolates its position embeddings: pass --resample-posemb to allow that"
        )
    from .convert.posemb import resample_pos_embed

    new = cfg.replace(num_frames=frames, image_size=size)
    state = dict(state)
    cls = int(cfg.has_cls_token)
    if cfg.variant is Variant.FACTORIZED_ENCODER:
        state["backbone.spatial.pos_embed"] = resample_pos_embed(
            state["backbone.spatial.pos_embed"], cfg.grid[1:], new.grid[1:], cls
        )
        state["backbone.temporal.pos_embed"] = resample_pos_embed(
            state["backbone.temporal.pos_embed"], cfg.grid[:1], new.grid[:1], cls
        )
    else:
        state["backbone.encoder.pos_embed"] = resample_pos_embed(
            state["backbone.encoder.pos_embed"], cfg.grid, new.grid, cls
        )
    log.warning(
        "%s: position embeddings interpolated from grid %s to %s (%d frames at %dpx)",
        origin,
        cfg.grid,
        new.grid,
        frames,
        size,
    )
    return new, state


def _classifier(
    cfg: ViViTConfig, state: dict, labels: list[str], origin: str, fmt: str, options: ConvertOptions
) -> VideoClassifier:
    from ..models import ViViT

    if options.labels:
        labels = read_labels_file(options.labels)
    try:
        cfg, state = _retarget(cfg, state, options, origin)
        check_fit(cfg, labels, default_preprocessing(cfg))  # before anything is built
        return VideoClassifier.build(
            ViViT.from_state_dict(cfg, state),
            labels,
            default_preprocessing(cfg),
            ViewProtocol(),
            name=Path(origin).name or origin,
            source=origin,
            provenance={"source": origin, "format": fmt, "conversion": {k: v for k, v in asdict(options).items() if v}},
        )
    except ConversionError:
        raise
    except ValueError as exc:  # the checkpoint's config, labels or preprocessing do not fit together
        raise ConversionError(f"{origin}: {exc}") from None


def convert_huggingface(folder: str | Path, options: ConvertOptions = ConvertOptions()) -> VideoClassifier:
    from .convert import huggingface

    cfg, labels, state = huggingface.convert_directory(folder)
    return _classifier(cfg, state, labels, str(folder), "huggingface", options)


def convert_scenic(path: str | Path, options: ConvertOptions = ConvertOptions()) -> VideoClassifier:
    from .convert import flax_msgpack, scenic

    origin = str(path)
    params = flax_msgpack.model_params(flax_msgpack.read_tree(path), origin)
    try:
        cfg = scenic.infer_config(
            params,
            variant=options.variant,
            image_size=options.source_image_size,
            tokenlearner_location=options.tokenlearner_location,
        )
        state = scenic.convert_params(params, cfg, origin)
    except ConversionError as exc:
        raise ConversionError(str(exc) if str(exc).startswith(origin) else f"{origin}: {exc}") from None
    except (KeyError, IndexError, ValueError) as exc:  # parameters of unexpected ranks or sizes
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise ConversionError(f"{origin}: the parameters do not have the shapes of a ViViT ({reason})") from None
    labels = kinetics_labels(cfg.num_classes)
    if labels is None and not options.labels:
        log.warning("%s: %d classes and no --labels file: naming them class_0..", path, cfg.num_classes)
        labels = [f"class_{i}" for i in range(cfg.num_classes)]
    return _classifier(cfg, state, labels or [], str(path), "scenic", options)


def convert_source(spec: str | os.PathLike[str], options: ConvertOptions = ConvertOptions()) -> VideoClassifier:
    """Convert any foreign source ``--model`` accepts into a ``VideoClassifier``."""
    if is_pytorchvideo_name(spec):  # a name, never a path (./pytorchvideo:x3d_m is the file)
        from .pytorchvideo_source import convert_named

        return convert_named(str(spec), options)
    path = Path(spec)
    refuse_special_file(path, ConversionError)
    if path.is_dir():
        return convert_huggingface(path, options)
    if path.is_file():
        if is_vidclass_file(path):
            raise ConversionError(f"{path} is already a vidclass model file")
        kind = sniff_format(path)
        from .pytorchvideo_source import convert_pytorchvideo  # None: a PyTorch file of another kind

        converted = convert_pytorchvideo(path, options) if kind == "pytorch" else None
        if converted is not None:
            return converted
        if kind != "msgpack":  # a scenic checkpoint is a msgpack map
            raise ConversionError(f"{path}: {NOT_A_MODEL[kind]}; {MODEL_SOURCES}")
        return convert_scenic(path, options)
    if looks_like_hub_id(str(spec)):
        return convert_huggingface(download_hub(str(spec)), options)
    raise ConversionError(f"{spec}: no such file, directory or hub id")


def _cache_key(path: Path, options: ConvertOptions) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    stamp = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    blob = json.dumps([CACHE_VERSION, str(path.resolve()), stamp, asdict(options)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def cached_conversion(spec: str | os.PathLike[str], options: ConvertOptions = ConvertOptions()) -> Path:
    """The cached vidclass file for a foreign source, converting it the first time."""
    path, named = Path(spec), is_pytorchvideo_name(spec)
    if named:  # the download is cached too: the key below is its file's
        path = download_pytorchvideo(str(spec), cache_dir())
    elif not path.exists() and looks_like_hub_id(str(spec)):
        path = download_hub(str(spec))
    target = cache_dir() / f"{path.name or 'model'}-{_cache_key(path, options)}{SUFFIX}"
    if not target.is_file():
        log.info("converting %s into %s", spec, target)
        save_model(convert_source(spec if named else path, options), target)
    return target


DEFAULT_MODEL_NAME = "default"
BUNDLED_PACKAGE = "vidclass.weights"


def weights_dir() -> Path:
    """The folder of the bundled model files: the package ``vidclass.weights``.

    Found through the import system, so it is the wheel's copy in an installed package and the
    repository's ``weights/`` in an editable install (``pyproject.toml`` maps one to the other).
    """
    try:
        return Path(str(resources.files(BUNDLED_PACKAGE)))
    except ModuleNotFoundError:  # a source tree run without installing it: nothing is bundled
        return Path(__file__).resolve().parents[1] / "weights"


def bundled_default() -> Path:
    """Where the bundled default model is, if it is there: ``weights/default.safetensors``."""
    return weights_dir() / f"{DEFAULT_MODEL_NAME}{SUFFIX}"


def default_model() -> str | None:
    """``$VIDCLASS_MODEL`` if set, else the bundled ``weights/default.safetensors`` if present."""
    if os.environ.get(MODEL_ENV):
        return os.environ[MODEL_ENV]
    bundled = bundled_default()
    return str(bundled) if bundled.is_file() else None


def bundled_models() -> list[Path]:
    folder = weights_dir()
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def locate_model(spec: str | os.PathLike[str]) -> Path:
    """A vidclass model file for ``spec``: a model file, a bundled name, or a foreign source."""
    path = Path(spec)
    name = str(spec)
    if is_pytorchvideo_name(spec):  # a name, never a path (./pytorchvideo:x3d_m is the file)
        return _converted_model(spec)
    refuse_special_file(path, ModelFileError)
    if path.is_file() and (path.suffix == SUFFIX or is_vidclass_file(path)):
        return path  # ours, or a .safetensors file that is not: reading it gives the precise error
    bundled = weights_dir() / f"{name}{SUFFIX}"
    if not path.exists() and os.sep not in name and bundled.is_file():
        return bundled
    if not path.exists() and name in list_models():
        raise configuration_without_weights(name, bundled_models(), DEFAULT_MODEL_NAME)
    if path.exists() or (looks_like_hub_id(name) and not Path(name + SUFFIX).is_file()):
        return _converted_model(spec)
    raise unknown_model(name, bundled_models())


def _converted_model(spec: str | os.PathLike[str]) -> Path:
    try:
        return cached_conversion(spec)
    except ConversionError as exc:
        raise ModelFileError(str(exc)) from None


def init_from_image_vit(
    source: str | os.PathLike[str],
    target: str,
    labels: list[str],
    *,
    kernel_init: str = "central_frame",
    seed: int | None = 0,
) -> VideoClassifier:
    """A video model of the registered configuration ``target`` initialised from an image ViT
    (timm or Hugging Face weights): the starting point for training on ``labels``."""
    from ..models import ViViT, get_entry
    from .convert import image_vit

    entry = get_entry(target)
    if not isinstance(entry.config, ViViTConfig):  # an image ViT's tensors make a ViViT, not an X3D
        raise ConversionError(f"--init {target}: an image ViT initialises ViViT configurations only")
    try:
        cfg = entry.config.replace(num_classes=len(labels))
        check_fit(cfg, labels, entry.preprocessing)
    except ValueError as exc:
        raise ConversionError(f"labels for {target}: {exc}") from None
    refuse_special_file(Path(source), ConversionError)
    tensors = image_vit.load_image_vit(source)
    state = image_vit.convert_image_vit(
        tensors,
        cfg,
        kernel_init=kernel_init,
        seed=seed,
        num_heads=image_vit.image_vit_num_heads(source),
        origin=str(source),
    )
    return VideoClassifier.build(
        ViViT.from_state_dict(cfg, state),
        labels,
        entry.preprocessing,
        entry.protocol,
        name=target,
        source=str(source),
        provenance={
            "source": str(source),
            "format": "image_vit",
            "initialised_as": target,
            "kernel_init": kernel_init,
            "seed": seed,
            "weights": "image ViT init, not trained on video",
        },
    )
