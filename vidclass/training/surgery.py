"""The model to train: a new one from a registry configuration, or one to fine-tune, adapted
to the dataset's classes (a new head), the options' regularisation and an optional TokenLearner.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from vidclass.checkpoints import VideoClassifier, create_model, load_model
from vidclass.errors import VidclassError
from vidclass.models import (
    Classifier,
    ModelConfig,
    TokenLearnerConfig,
    TokenLearnerVersion,
    ViViT,
    ViViTConfig,
    family_of,
    get_entry,
    list_models,
)
from vidclass.training.options import TrainOptions


def parse_tokenlearner(spec: str) -> TokenLearnerConfig:
    """``8at6``, ``8at6+fuser``, ``16at12,v1.0``: tokens, layer, fuser and version."""
    text = spec.strip().lower()
    version = "v1.1"
    if "," in text:
        text, version = (part.strip() for part in text.split(",", 1))
    fuse = text.endswith("+fuser")
    text = text.removesuffix("+fuser")
    try:
        tokens, location = (int(part) for part in text.split("at"))
    except ValueError:
        raise ValueError(f"TokenLearner spec {spec!r}: expected TOKENSatLAYER, e.g. 8at6 or 8at6+fuser,v1.0") from None
    return TokenLearnerConfig(num_tokens=tokens, location=location, version=TokenLearnerVersion(version), fuse=fuse)


def transplant(
    source: VideoClassifier, cfg, labels: Sequence[str], seed: int, multi_label: bool | None = None
) -> tuple[VideoClassifier, list[str]]:
    """A new model of ``cfg`` holding every tensor of ``source`` that still fits; returns it and
    the names of the tensors that are newly initialised. ``multi_label`` sets the new model's
    head kind (a sigmoid per class or one softmax; None keeps the source's), and its protocol
    follows (``ViewProtocol.for_head``)."""
    if multi_label is None:
        multi_label = source.multi_label
    torch.manual_seed(seed)
    model = ViViT(cfg)
    old = source.model.state_dict()
    new = model.state_dict()
    fresh = []
    for key, value in new.items():
        theirs = old.get(key)
        if theirs is not None and key.endswith("pos_embed") and theirs.shape[1] == value.shape[1] + 1:
            # (1, 1 + N, D) -> (1, N, D): a CLS token was dropped (TokenLearner pools), so is its position row
            theirs = theirs[:, 1:]
        if (
            theirs is not None
            and theirs.shape == value.shape
            and not (key.startswith("head.") and tuple(labels) != source.labels)
        ):
            new[key] = theirs.clone()
        else:
            fresh.append(key)
    model.load_state_dict(new)
    classifier = VideoClassifier.build(
        model,
        labels,
        source.preprocessing,
        source.protocol.for_head(multi_label),
        name=source.name,
        source=source.source,
        provenance=source.provenance,
        multi_label=multi_label,
    )
    return classifier, fresh


def check_trainable(cfg: ModelConfig, spec: str, tokenlearner: TokenLearnerConfig | None) -> None:
    """``VidclassError`` unless the model of ``spec`` (config ``cfg``) can be trained here: the
    surgery (new head, TokenLearner insertion, regularisation, kernel init) is ViViT's."""
    if isinstance(cfg, ViViTConfig):
        return
    family = family_of(cfg).name
    if tokenlearner is not None:
        raise VidclassError(
            f"--tokenlearner inserts a ViViT TokenLearner, and {spec} is an {family} model "
            f"(a TokenLearner in {family} is not supported yet)"
        )
    raise VidclassError(f"{spec} is an {family} model: train supports ViViT models only (not supported yet)")


def prepare_model(
    spec: str, labels: Sequence[str], options: TrainOptions, tokenlearner: TokenLearnerConfig | None = None
) -> tuple[VideoClassifier, dict[str, Any]]:
    """The model to train, and a note of where it came from.

    ``spec`` is a registry configuration (random init), or a model file or other ``--model``
    source to fine-tune (a new head when its labels differ from ``labels``). ``tokenlearner``
    inserts a TokenLearner (new modules; a CLS token gives way to average pooling). The model is
    multi-label (a sigmoid per class) when ``options.multi_label`` is, whatever ``spec`` was.
    """
    changes: dict[str, Any] = {
        k: v for k, v in (("drop_path", options.drop_path), ("dropout", options.dropout)) if v is not None
    }
    if spec in list_models() and not Path(spec).exists():
        check_trainable(get_entry(spec).config, spec, tokenlearner)
        if tokenlearner is not None:
            changes.update(tokenlearner=tokenlearner, classifier=Classifier.GAP)
        classifier = create_model(spec, labels=labels, seed=options.seed, multi_label=options.multi_label, **changes)
        init_kernel(classifier, options)
        return classifier, {"init": spec, "weights": "random init", "kernel_init": options.kernel_init}
    if options.kernel_init != "random":
        raise ValueError("--kernel-init applies to a new model (a registry configuration), not to fine-tuning")
    source = load_model(spec)
    check_trainable(source.config, spec, tokenlearner)
    assert isinstance(source.config, ViViTConfig)
    cfg = source.config.replace(num_classes=len(labels), **changes)
    if tokenlearner is not None:
        cfg = cfg.replace(tokenlearner=tokenlearner, classifier=Classifier.GAP)
    classifier, fresh = transplant(source, cfg, labels, options.seed, options.multi_label)
    return classifier, {"init": str(spec), "weights": "fine-tuned", "newly_initialised": fresh}


def init_kernel(classifier: VideoClassifier, options: TrainOptions) -> None:
    """Start a new model's tubelet kernel as ``options.kernel_init`` says (see ``KERNEL_INITS``)."""
    if options.kernel_init == "difference":
        generator = torch.Generator().manual_seed(options.seed)
        model = classifier.model
        assert isinstance(model, ViViT)  # check_trainable refused the other families
        model.patch_embed.init_temporal_difference_(generator=generator)


__all__ = ["init_kernel", "parse_tokenlearner", "prepare_model", "transplant"]
