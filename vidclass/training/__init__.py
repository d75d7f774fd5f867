"""Training and fine-tuning: ``vidclass train`` and its library mirror ``train``.

- ``options``: ``TrainOptions``, the validated recipe;
- ``surgery``: the model to train (a registry configuration, or a model to fine-tune with a new
  head, a TokenLearner, a tubelet kernel init), for either model family;
- ``checkpoint``: the run's files, the per-epoch checkpoint and resuming from it;
- ``optim``: AdamW and the warm-up/cosine schedule;
- ``batches``: each process's share of the data, MixUp/CutMix, the validation pass;
- ``records``: what a run reports: ``StepRecord``, ``EpochRecord``, ``TrainResult``;
- ``trainer``: ``Trainer`` (the loop) and ``train``.

Several processes under ``torchrun`` go through ``vidclass.distributed``.
"""

from vidclass.training.optim import lr_factor
from vidclass.training.options import KERNEL_INITS, TrainOptions
from vidclass.training.records import EpochRecord, StepRecord, TrainResult
from vidclass.training.surgery import TokenLearnerSpec, parse_tokenlearner, parse_x3d_tokenlearner, prepare_model
from vidclass.training.trainer import Trainer, train

__all__ = [
    "KERNEL_INITS",
    "EpochRecord",
    "StepRecord",
    "TrainOptions",
    "TrainResult",
    "TokenLearnerSpec",
    "Trainer",
    "lr_factor",
    "parse_tokenlearner",
    "parse_x3d_tokenlearner",
    "prepare_model",
    "train",
]
