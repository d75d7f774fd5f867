"""The training recipe, validated: ``TrainOptions``, and the choices its fields take."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from vidclass.data.training import Augment
from vidclass.defaults import (
    KERNEL_INITS,
    TRAIN_ACCUMULATE,
    TRAIN_BATCH_SIZE,
    TRAIN_CLIP_GRAD,
    TRAIN_CUTMIX,
    TRAIN_EPOCHS,
    TRAIN_KERNEL_INIT,
    TRAIN_LABEL_SMOOTHING,
    TRAIN_LR,
    TRAIN_MIN_LR,
    TRAIN_MIXUP,
    TRAIN_PRECISE_BN,
    TRAIN_PRECISION,
    TRAIN_SEED,
    TRAIN_VAL_FRACTION,
    TRAIN_WARMUP_EPOCHS,
    TRAIN_WEIGHT_DECAY,
    TRAIN_WORKERS,
)
from vidclass.defaults import TRAIN_PRECISIONS as PRECISIONS

# PRECISIONS (the precisions training runs in: no fp16) and KERNEL_INITS (how a new model's
# tubelet kernel starts) are defined, with their reasons, in vidclass.defaults, where
# ``vidclass train --help`` reads them without importing torch; they are re-exported here.


@dataclass(frozen=True)
class TrainOptions:
    """The training recipe. It is stored in the final model file's provenance.

    The field defaults are defined in ``vidclass.defaults`` (``TRAIN_*``), the one place that
    ``vidclass train`` also takes its option defaults from.
    """

    epochs: int = TRAIN_EPOCHS
    batch_size: int = TRAIN_BATCH_SIZE  # global: split across processes under torchrun
    lr: float = TRAIN_LR  # peak
    min_lr: float = TRAIN_MIN_LR
    weight_decay: float = TRAIN_WEIGHT_DECAY
    warmup_epochs: float = TRAIN_WARMUP_EPOCHS
    accumulate: int = TRAIN_ACCUMULATE  # gradient accumulation steps per optimiser step
    clip_grad: float = TRAIN_CLIP_GRAD  # max gradient norm; 0 = off
    label_smoothing: float = TRAIN_LABEL_SMOOTHING
    mixup: float = TRAIN_MIXUP  # MixUp alpha; 0 = off
    cutmix: float = TRAIN_CUTMIX  # CutMix alpha; 0 = off
    drop_path: float | None = None  # None keeps the model's own
    dropout: float | None = None
    precision: str = TRAIN_PRECISION  # auto: bf16 where the device computes it natively, else fp32
    seed: int = TRAIN_SEED
    workers: int = TRAIN_WORKERS  # DataLoader processes per training process
    val_fraction: float = TRAIN_VAL_FRACTION  # held out when no validation set is given; 0 = none
    kernel_init: str = TRAIN_KERNEL_INIT  # tubelet kernel of a new model: one of KERNEL_INITS
    precise_bn: int = TRAIN_PRECISE_BN  # batches to recompute BatchNorm statistics on; 0 = off
    # A multi-label model: a sigmoid per class, trained with BCE on label sets (multi-hot targets);
    # see vidclass.training.multilabel for the loss, smoothing and mixing rules.
    multi_label: bool = False
    augment: Augment = field(default_factory=Augment)

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1, "batch size must be >= 1"),
            (self.lr > 0, "learning rate must be > 0"),
            (self.accumulate >= 1, "accumulate must be >= 1"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
            (0 <= self.val_fraction < 1, "validation fraction must be in [0, 1)"),
            (self.workers >= 0, "workers must be >= 0"),
            (self.precise_bn >= 0, "precise BN batches must be >= 0"),
            (self.kernel_init in KERNEL_INITS, f"kernel init must be one of {', '.join(KERNEL_INITS)}"),
            (
                not (self.multi_label and self.augment.time_reversal),
                "time reversal is for single-label training: a multi-label video's reversed label set is ambiguous "
                "(each label's twin need not be what the reversed video shows): leave it out, or train single-label",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainOptions:
        data = dict(data)
        data["augment"] = Augment(
            **{**data.get("augment", {}), "jitter": tuple(data.get("augment", {}).get("jitter", Augment().jitter))}
        )
        return cls(**data)


__all__ = ["KERNEL_INITS", "PRECISIONS", "TrainOptions"]
