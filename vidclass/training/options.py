"""The training recipe, validated: ``TrainOptions``, and the choices its fields take."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from vidclass.data.training import Augment
from vidclass.defaults import PRECISIONS as ALL_PRECISIONS

PRECISIONS = tuple(p for p in ALL_PRECISIONS if p != "fp16")
"""The precisions training runs in: fp16 would need loss scaling (a GradScaler), which the
loop does not have, so it is left out; bf16 needs none."""

KERNEL_INITS = ("random", "difference")
"""How a model trained from a registry configuration starts its tubelet kernel: ``random``
(the configuration's own init) or ``difference`` (``TubeletEmbedding.init_temporal_difference_``:
most channels start as temporal-difference filters, a strong start for motion-only classes)."""


@dataclass(frozen=True)
class TrainOptions:
    """The training recipe. It is stored in the final model file's provenance."""

    epochs: int = 30
    batch_size: int = 16  # global: split across processes under torchrun
    lr: float = 5e-4
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    accumulate: int = 1  # gradient accumulation steps per optimiser step
    clip_grad: float = 1.0  # max gradient norm; 0 = off
    label_smoothing: float = 0.1
    mixup: float = 0.0  # MixUp alpha; 0 = off
    cutmix: float = 0.0  # CutMix alpha; 0 = off
    drop_path: float | None = None  # None keeps the model's own
    dropout: float | None = None
    precision: str = "auto"  # auto: bf16 where the device computes it natively, else fp32
    seed: int = 0
    workers: int = 0  # DataLoader processes per training process
    val_fraction: float = 0.1  # held out when no validation set is given; 0 = none
    kernel_init: str = "random"  # tubelet kernel of a new model: random, or difference (see KERNEL_INITS)
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
            (self.kernel_init in KERNEL_INITS, f"kernel init must be one of {', '.join(KERNEL_INITS)}"),
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
