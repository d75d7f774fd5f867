"""``VideoClassifier``: a network of any model family (ViViT, X3D) with its labels, preprocessing and
view protocol.

Every classifier is assembled by ``VideoClassifier.build``: a random one (``create_model``), one
read from a model file, one converted from a foreign checkpoint, one initialised from an image
ViT, and one prepared for training. ``Provenance`` lists the keys a classifier's provenance may
hold; a model file stores them as written, so the keys of older files stay as they were.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypedDict

import torch

from ..models import ModelConfig, Network, build_network, family_of, get_entry
from ..protocol import Preprocessing, ViewProtocol

JSON: TypeAlias = str | int | float | bool | None | list["JSON"] | dict[str, "JSON"]
"""A value that ``json.dumps`` writes and ``json.loads`` gives back."""


class Provenance(TypedDict, total=False):
    """Where a classifier's weights come from: the one set of provenance keys.

    Each writer fills the keys that apply to it; none is required, and a model file's
    provenance is read back as written (unknown keys included).

    - ``weights``: what the weights are, in words: ``"random init"``, ``"fine-tuned"``,
      ``"image ViT init, not trained on video"``.
    - ``seed``: the seed of a random initialisation (None: not seeded).
    - ``created_from``: ``create_model``: the registry configuration.
    - ``source``: a conversion or image-ViT initialisation: the foreign checkpoint (path or hub id).
    - ``format``: its format: ``"huggingface"``, ``"scenic"``, ``"pytorchvideo"`` or ``"image_vit"``.
    - ``url``, ``sha256``: a downloaded checkpoint (``pytorchvideo:x3d_m``): where it came from,
      and the SHA-256 of the file converted.
    - ``conversion``: the ``ConvertOptions`` fields that were set.
    - ``initialised_as``: an image-ViT initialisation: the registry configuration it became.
    - ``kernel_init``: how the tubelet kernel was initialised (``central_frame``, ``inflate``,
      ``random``, ``difference``).
    - ``init``: training: the ``--model`` the run started from.
    - ``newly_initialised``: training: the tensors that were not carried over from it.
    - ``recipe``, ``epochs_trained``, ``metrics``: training: the options, the epochs run and
      the last epoch's metrics.
    - ``dataset``, ``classes``, ``videos``: training from the command line: the dataset folder,
      its class count and its video count.
    """

    weights: str
    seed: int | None
    created_from: str
    source: str
    format: str
    url: str
    sha256: str
    conversion: dict[str, JSON]
    initialised_as: str
    kernel_init: str
    init: str
    newly_initialised: list[str]
    recipe: dict[str, JSON]
    epochs_trained: int
    metrics: dict[str, JSON] | None
    dataset: str
    classes: int
    videos: int


@dataclass(eq=False)
class VideoClassifier:
    """A network with what it needs to be used: labels, preprocessing, view protocol.

    ``model`` is a network of any family in ``vidclass.models.FAMILIES`` (a ``ViViT`` or an
    ``X3D``); it takes float (B, C, T, H, W) normalised as ``preprocessing`` says and returns
    logits (B, len(labels)). ``name`` is the model's name (a model file's ``name`` entry);
    ``source`` where it was loaded or converted from. Make one with ``VideoClassifier.build``.
    """

    model: Network
    labels: tuple[str, ...]
    preprocessing: Preprocessing
    protocol: ViewProtocol
    name: str
    provenance: Provenance = field(default_factory=Provenance)
    source: str = ""
    multi_label: bool = False  # a sigmoid per class (label sets) instead of one softmax

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        check_fit(self.config, self.labels, self.preprocessing)
        self.multi_label = bool(self.multi_label)
        self.protocol.aggregate.check(self.multi_label)

    @classmethod
    def build(
        cls,
        model: Network,
        labels: Sequence[str],
        preprocessing: Preprocessing,
        protocol: ViewProtocol,
        *,
        name: str,
        source: str,
        provenance: Provenance | None = None,
        multi_label: bool = False,
    ) -> VideoClassifier:
        """The one way to assemble a classifier: ``model`` as given (its train/eval mode kept),
        the labels as a tuple, a copy of ``provenance`` (keys: see ``Provenance``).
        ``multi_label``: the head's scores are a sigmoid per class (a video may have several
        labels, or none) instead of one softmax; the protocol must then not aggregate
        ``softmax`` (``ViewProtocol.for_head`` makes it fit).

        Raises ``ValueError`` when the labels, preprocessing, protocol and model do not fit together.
        """
        return cls(
            model=model,
            labels=tuple(labels),
            preprocessing=preprocessing,
            protocol=protocol,
            name=name,
            provenance=provenance.copy() if provenance else Provenance(),
            source=source,
            multi_label=multi_label,
        )

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def family(self) -> str:
        """The model family's name (``vivit``, ``x3d``): see ``vidclass.models.FAMILIES``."""
        return family_of(self.config).name


def single_line(text: str) -> bool:
    """Whether ``text`` has no control character or line break (it prints on one line)."""
    return not any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in text)


def check_labels(labels: Sequence[object]) -> None:
    """``ValueError`` unless ``labels`` are distinct, non-empty strings on one line each (a label
    is printed in tables, CSV and ``error:`` lines, where a line break would forge a line)."""
    seen: set[str] = set()
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            raise ValueError(f"label {i} must be a string, got {type(label).__name__}")
        if not label.strip():
            raise ValueError(f"label {i} is empty")
        if not single_line(label):
            raise ValueError(f"label {i} ({label[:40]!r}) holds a control character or line break")
        if label in seen:
            raise ValueError(f"label {label[:40]!r} appears more than once")
        seen.add(label)


def check_fit(config: ModelConfig, labels: Sequence[object], preprocessing: Preprocessing) -> None:
    """``ValueError`` unless the labels, the preprocessing and the model config fit together.
    What input fits is the family's rule (``Family.check_input``): ViViT takes exactly its
    frames and crop; X3D its frames and a crop at least its config's (the 3-crop test size)."""
    check_labels(labels)
    if len(labels) != config.num_classes:
        raise ValueError(f"{len(labels)} labels for a model with {config.num_classes} classes")
    family_of(config).check_input(config, preprocessing)
    if config.in_channels != 3:
        raise ValueError(f"the model takes {config.in_channels} channels; video frames are RGB (in_channels 3)")


def create_model(
    name: str,
    labels: Sequence[str] | None = None,
    *,
    seed: int | None = None,
    multi_label: bool = False,
    **config_changes: object,
) -> VideoClassifier:
    """A randomly initialised model of the registered configuration ``name``.

    ``labels`` sets the classes (default: ``class_0`` ... for the config's class count);
    ``config_changes`` override config fields (e.g. ``drop_path=0.1``); ``seed`` makes the
    initialisation reproducible; ``multi_label`` gives it a sigmoid per class.
    """
    entry = get_entry(name)
    changes: dict[str, Any] = dict(config_changes)
    if labels is not None:
        labels = [str(label) for label in labels]
        if not labels:
            raise ValueError("labels must not be empty")
        changes["num_classes"] = len(labels)
    cfg = dataclasses.replace(entry.config, **changes)
    if labels is None:
        labels = [f"class_{i}" for i in range(cfg.num_classes)]
    generator_state = torch.random.get_rng_state() if seed is not None else None
    try:
        if seed is not None:
            torch.manual_seed(seed)
        model = build_network(cfg)
    finally:
        if generator_state is not None:
            torch.random.set_rng_state(generator_state)
    return VideoClassifier.build(
        model.eval(),
        labels,
        entry.preprocessing,
        entry.protocol.for_head(multi_label),
        name=name,
        source=name,
        provenance={"created_from": name, "weights": "random init", "seed": seed},
        multi_label=multi_label,
    )


__all__ = ["JSON", "Provenance", "VideoClassifier", "check_fit", "check_labels", "create_model", "single_line"]
