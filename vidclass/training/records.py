"""What a training run reports: ``StepRecord`` after each batch, ``EpochRecord`` after each
epoch (a line of ``OUT/metrics.jsonl``), and ``TrainResult`` at the end."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vidclass.checkpoints import VideoClassifier


@dataclass
class EpochRecord:
    """One epoch. A multi-label run's losses are BCE and it has ``val_map`` (the validation mAP
    over the classes with a positive video) instead of top-1 and top-5, which are None."""

    epoch: int
    step: int
    lr: float
    train_loss: float
    train_top1: float | None
    val_loss: float | None
    val_top1: float | None
    val_top5: float | None
    clips_per_second: float
    seconds: float
    failed: int  # training videos that failed to decode (each was replaced by the next one)
    val_failed: int = 0  # validation videos that failed to decode (left out)
    val_map: float | None = None  # multi-label runs: validation mean average precision

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StepRecord:
    """Progress within an epoch, after each batch (reported by the first process)."""

    epoch: int  # from 1, as in EpochRecord
    batch: int  # batches done in this epoch
    batches: int  # batches in an epoch
    step: int  # optimiser steps since the run began
    train_loss: float  # the mean loss over this epoch's batches so far (the first process's)
    clips_per_second: float  # this epoch so far, every process together (the first process's rate x processes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """The final model file, one record per epoch, the model, and the videos that failed to
    decode in this run (path -> reason; every process's, on every process)."""

    model_path: Path
    records: list[EpochRecord]
    classifier: VideoClassifier
    failed: dict[str, str]


__all__ = ["EpochRecord", "StepRecord", "TrainResult"]
