"""Moved to ``vidclass.training`` (and the distributed layer to ``vidclass.distributed``).

This module only re-exports the names that callers import from here, under their old names.
"""

from vidclass.data.training import Augment
from vidclass.distributed import Group as Dist
from vidclass.engine.precision import autocast_dtype
from vidclass.training.batches import epoch_indices as _epoch_indices
from vidclass.training.batches import evaluate_clips
from vidclass.training.checkpoint import CHECKPOINT, FINAL, METRICS
from vidclass.training.optim import lr_factor, make_optimizer
from vidclass.training.options import KERNEL_INITS, PRECISIONS, TrainOptions
from vidclass.training.surgery import parse_tokenlearner, prepare_model
from vidclass.training.trainer import EpochRecord, Trainer, TrainResult, train

__all__ = [
    "CHECKPOINT",
    "FINAL",
    "KERNEL_INITS",
    "METRICS",
    "PRECISIONS",
    "Augment",
    "Dist",
    "EpochRecord",
    "TrainOptions",
    "TrainResult",
    "Trainer",
    "_epoch_indices",
    "autocast_dtype",
    "evaluate_clips",
    "lr_factor",
    "make_optimizer",
    "parse_tokenlearner",
    "prepare_model",
    "train",
]
