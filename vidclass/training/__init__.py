"""Training and fine-tuning: ``vidclass train`` and its library mirror ``train``.

- ``options``: ``TrainOptions``, the validated recipe;
- ``surgery``: the model to train (a registry configuration, or a model to fine-tune with a new
  head, a TokenLearner, a tubelet kernel init);
- ``checkpoint``: the run's files, the per-epoch checkpoint and resuming from it;
- ``optim``: AdamW and the warm-up/cosine schedule;
- ``batches``: each process's share of the data, MixUp/CutMix, the validation pass;
- ``trainer``: ``Trainer`` (the loop) and ``train``.

Several processes under ``torchrun`` go through ``vidclass.distributed``.
"""

from vidclass.training.optim import lr_factor
from vidclass.training.options import KERNEL_INITS, TrainOptions
from vidclass.training.surgery import parse_tokenlearner, prepare_model
from vidclass.training.trainer import EpochRecord, Trainer, TrainResult, train

__all__ = [
    "KERNEL_INITS",
    "EpochRecord",
    "TrainOptions",
    "TrainResult",
    "Trainer",
    "lr_factor",
    "parse_tokenlearner",
    "prepare_model",
    "train",
]
