"""The model to train: a new one from a registry configuration, or one to fine-tune, adapted
to the dataset's classes (a new head), the options' regularisation and an optional TokenLearner.

Both families train. ViViT takes ``--tokenlearner 8at6`` (a ``TokenLearnerConfig``: tokens
before an encoder layer; a CLS token gives way to average pooling), stochastic depth and the
tubelet kernel's init. X3D takes ``--tokenlearner 8at4`` (a ``TokenLearnerBottleneckConfig``:
the TokenLearner-Transformer-TokenFuser block after a stage, which starts as the identity) and
head dropout; it has no stochastic depth or tubelet kernel, and asking for them is an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

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
    build_network,
    family_of,
    get_entry,
    list_models,
)
from vidclass.models.tokenlearner_block import BottleneckAttention, TokenLearnerBottleneckConfig
from vidclass.models.x3d import STAGE_DEPTHS, TOKENLEARNER_AFTER
from vidclass.training.options import TrainOptions

TokenLearnerSpec: TypeAlias = TokenLearnerConfig | TokenLearnerBottleneckConfig | str
"""What ``--tokenlearner`` inserts: a ViViT ``TokenLearnerConfig``, an X3D block (after the last
stage), or a spec string read for the model's family (``parse_tokenlearner``, ``parse_x3d_tokenlearner``)."""


def _tokens_at(spec: str, text: str, example: str) -> tuple[int, int]:
    try:
        tokens, location = (int(part) for part in text.split("at"))
    except ValueError:
        raise ValueError(f"TokenLearner spec {spec!r}: expected TOKENSat{example}") from None
    return tokens, location


def parse_tokenlearner(spec: str) -> TokenLearnerConfig:
    """ViViT: ``8at6``, ``8at6+fuser``, ``16at12,v1.0``: tokens, layer, fuser and version."""
    text = spec.strip().lower()
    version = "v1.1"
    if "," in text:
        text, version = (part.strip() for part in text.split(",", 1))
    fuse = text.endswith("+fuser")
    text = text.removesuffix("+fuser")
    tokens, location = _tokens_at(spec, text, "LAYER, e.g. 8at6 or 8at6+fuser,v1.0")
    return TokenLearnerConfig(num_tokens=tokens, location=location, version=TokenLearnerVersion(version), fuse=fuse)


def parse_x3d_tokenlearner(spec: str) -> tuple[TokenLearnerBottleneckConfig, int]:
    """X3D: ``TOKENSatSTAGE[,OPTION...]``: S tokens a frame after stage 1-4, then options in any
    order: ``vector`` (the default) or ``mhsa`` attention, ``v1.0`` (the default) or ``v1.1``
    learner, ``layers=N`` Transformer layers (1). ``+fuser`` may be written: the block always
    ends in a TokenFuser. Returns the block's config and the stage it follows."""
    head, *options = (part.strip() for part in spec.strip().lower().split(","))
    tokens, stage = _tokens_at(
        spec, head.removesuffix("+fuser"), "STAGE[,mhsa|vector][,v1.0|v1.1][,layers=N], e.g. 8at4"
    )
    if not 1 <= stage <= len(STAGE_DEPTHS):
        raise ValueError(f"TokenLearner spec {spec!r}: X3D has stages 1-{len(STAGE_DEPTHS)}, not {stage}")
    fields: dict[str, Any] = {"num_tokens": tokens}
    for option in options:
        if option in {a.value for a in BottleneckAttention}:
            fields["attention"] = option
        elif option in {v.value for v in TokenLearnerVersion}:
            fields["learner"] = option
        elif option.startswith("layers=") and option[7:].isdigit():
            fields["layers"] = int(option[7:])
        else:
            raise ValueError(
                f"TokenLearner spec {spec!r}: unknown option {option!r} (mhsa, vector, v1.0, v1.1, layers=N)"
            )
    return TokenLearnerBottleneckConfig(**fields), stage


def tokenlearner_changes(cfg: ModelConfig, tokenlearner: TokenLearnerSpec) -> dict[str, Any]:
    """The config changes that insert ``tokenlearner`` into a model of ``cfg``'s family."""
    family = family_of(cfg).name
    if isinstance(cfg, ViViTConfig):
        learner = parse_tokenlearner(tokenlearner) if isinstance(tokenlearner, str) else tokenlearner
        if not isinstance(learner, TokenLearnerConfig):
            raise ValueError(f"a {family} model takes a TokenLearnerConfig, not a {type(learner).__name__}")
        return {"tokenlearner": learner, "classifier": Classifier.GAP}
    if isinstance(tokenlearner, str):
        block, stage = parse_x3d_tokenlearner(tokenlearner)
    elif isinstance(tokenlearner, TokenLearnerBottleneckConfig):
        block, stage = tokenlearner, TOKENLEARNER_AFTER
    else:
        raise ValueError(f"a {family} model takes a TokenLearnerBottleneckConfig, not a {type(tokenlearner).__name__}")
    return {"tokenlearner": block, "tokenlearner_after": stage}


def config_changes(
    cfg: ModelConfig, spec: str, options: TrainOptions, tokenlearner: TokenLearnerSpec | None
) -> dict[str, Any]:
    """What the options change in the config of the model to train (``spec``, config ``cfg``);
    ``VidclassError`` for an option the model's family does not have."""
    family = family_of(cfg).name
    changes: dict[str, Any] = {} if options.dropout is None else {"dropout": options.dropout}
    if not isinstance(cfg, ViViTConfig):
        for given, option, what in (
            (options.drop_path is not None, "--drop-path", "stochastic depth"),
            (options.kernel_init != "random", "--kernel-init", "tubelet kernel"),
        ):
            if given:
                raise VidclassError(f"{option}: {spec} is an {family} model, which has no {what}")
    elif options.drop_path is not None:
        changes["drop_path"] = options.drop_path
    if tokenlearner is not None:
        changes.update(tokenlearner_changes(cfg, tokenlearner))
    return changes


def transplant(
    source: VideoClassifier, cfg: ModelConfig, labels: Sequence[str], seed: int, multi_label: bool | None = None
) -> tuple[VideoClassifier, list[str]]:
    """A new model of ``cfg`` holding every tensor of ``source`` that still fits; returns it and
    the names of the tensors that are newly initialised. ``multi_label`` sets the new model's
    head kind (a sigmoid per class or one softmax; None keeps the source's), and its protocol
    follows (``ViewProtocol.for_head``)."""
    if multi_label is None:
        multi_label = source.multi_label
    torch.manual_seed(seed)
    model = build_network(cfg)
    head = family_of(cfg).head_prefix(cfg)  # the class-specific tensors
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
            and not (key.startswith(head) and tuple(labels) != source.labels)
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


def prepare_model(
    spec: str, labels: Sequence[str], options: TrainOptions, tokenlearner: TokenLearnerSpec | None = None
) -> tuple[VideoClassifier, dict[str, Any]]:
    """The model to train, and a note of where it came from.

    ``spec`` is a registry configuration (random init), or a model file or other ``--model``
    source to fine-tune (a new head when its labels differ from ``labels``). ``tokenlearner``
    inserts a TokenLearner (new modules; see ``TokenLearnerSpec``). The model is multi-label (a
    sigmoid per class) when ``options.multi_label`` is, whatever ``spec`` was.
    """
    if spec in list_models() and not Path(spec).exists():
        changes = config_changes(get_entry(spec).config, spec, options, tokenlearner)
        classifier = create_model(spec, labels=labels, seed=options.seed, multi_label=options.multi_label, **changes)
        init_kernel(classifier, options)
        return classifier, {"init": spec, "weights": "random init", "kernel_init": options.kernel_init}
    if options.kernel_init != "random":
        raise ValueError("--kernel-init applies to a new model (a registry configuration), not to fine-tuning")
    source = load_model(spec)
    changes = config_changes(source.config, spec, options, tokenlearner)
    cfg = dataclasses.replace(source.config, num_classes=len(labels), **changes)
    classifier, fresh = transplant(source, cfg, labels, options.seed, options.multi_label)
    return classifier, {"init": str(spec), "weights": "fine-tuned", "newly_initialised": fresh}


def init_kernel(classifier: VideoClassifier, options: TrainOptions) -> None:
    """Start a new model's tubelet kernel as ``options.kernel_init`` says (see ``KERNEL_INITS``)."""
    if options.kernel_init == "difference":
        generator = torch.Generator().manual_seed(options.seed)
        model = classifier.model
        assert isinstance(model, ViViT)  # config_changes refused the other families
        model.patch_embed.init_temporal_difference_(generator=generator)


__all__ = [
    "TokenLearnerSpec",
    "config_changes",
    "init_kernel",
    "parse_tokenlearner",
    "parse_x3d_tokenlearner",
    "prepare_model",
    "tokenlearner_changes",
    "transplant",
]
