"""What changes when a run trains a multi-label model (a sigmoid per class, label sets as targets).

- the loss: binary cross-entropy with logits against multi-hot targets (K,), the mean over the
  batch's videos and the classes (``bce_loss``);
- label smoothing for BCE: each class is a two-way problem, so ``ε`` moves its target towards
  ``1/2``: ``y · (1 - ε) + ε / 2`` (what cross-entropy's smoothing ``y · (1 - ε) + ε / K`` is for
  K = 2 outcomes);
- MixUp/CutMix (``LabelSetMix``): torchvision's mixers take class indices, so the clips and their
  multi-hot targets are mixed here, both with the one λ drawn for the batch (CutMix: λ is what
  is left of the clip outside the pasted box, as in torchvision);
- validation (``evaluate_label_sets``): the BCE and the mean average precision over the classes
  that have a positive video (``mean_average_precision``, exact, ties grouped).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from vidclass.data.training import EvalClips, Failure, Target, drop_failed
from vidclass.distributed import Group
from vidclass.scores.ranking import mean_average_precision
from vidclass.training.batches import make_mixer, mix, worker_init
from vidclass.training.options import TrainOptions


def targets_for(samples: Sequence[tuple[str, Target]], multi_label: bool) -> list[tuple[str, Target]]:
    """The samples with their targets as a run takes them: a multi-label run's as tuples of
    class indices (a class index is a set of one); a single-label run's as given, where a label
    set is a ValueError naming the video."""
    if not multi_label:
        for path, target in samples:
            if isinstance(target, (tuple, list)):
                raise ValueError(
                    f"{path}: a label set of {len(target)} in a single-label run: a video of a single-label "
                    "run has one class index (TrainOptions(multi_label=True) trains on label sets)"
                )
        return list(samples)
    return [(path, tuple(target) if isinstance(target, (tuple, list)) else (target,)) for path, target in samples]


def smooth(targets: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Multi-hot (or mixed) targets smoothed for BCE: ``y · (1 - ε) + ε / 2`` per class."""
    return targets if epsilon == 0 else targets * (1 - epsilon) + epsilon / 2


def bce_loss(logits: torch.Tensor, targets: torch.Tensor, epsilon: float = 0.0) -> torch.Tensor:
    """Binary cross-entropy with logits, the mean over videos and classes, ``smooth``ed targets."""
    return F.binary_cross_entropy_with_logits(logits, smooth(targets, epsilon))


@dataclass(frozen=True)
class Mixed:
    """One mixed batch: each video i is mixed with video i - 1 (the batch rolled by one, as
    torchvision does); ``box`` (top, bottom, left, right) is CutMix's pasted region, None for MixUp."""

    clips: torch.Tensor
    targets: torch.Tensor
    lam: float
    box: tuple[int, int, int, int] | None


class LabelSetMix:
    """MixUp (alpha ``mixup``) and CutMix (alpha ``cutmix``) of clips (B, C, T, H, W) and their
    multi-hot targets (B, K): one of the two per batch (chosen at random when both are on),
    λ ~ Beta(alpha, alpha) from torch's generator, and the targets mixed with the clips' λ:
    ``λ · y_a + (1 - λ) · y_b``."""

    def __init__(self, mixup: float, cutmix: float) -> None:
        self.kinds = [(alpha, cut) for alpha, cut in ((mixup, False), (cutmix, True)) if alpha > 0]
        if not self.kinds:
            raise ValueError("LabelSetMix needs a MixUp or a CutMix alpha above 0")

    def __call__(self, clips: torch.Tensor, targets: torch.Tensor) -> Mixed:
        pick = int(torch.randint(len(self.kinds), ())) if len(self.kinds) > 1 else 0
        alpha, cut = self.kinds[pick]
        lam = float(torch.distributions.Beta(torch.tensor(alpha), torch.tensor(alpha)).sample())
        partner = clips.roll(1, 0)
        box = None
        if cut:
            height, width = clips.shape[-2:]
            cy, cx = int(torch.randint(height, ())), int(torch.randint(width, ()))
            half = 0.5 * math.sqrt(1.0 - lam)
            half_h, half_w = int(half * height), int(half * width)
            box = (max(cy - half_h, 0), min(cy + half_h, height), max(cx - half_w, 0), min(cx + half_w, width))
            top, bottom, left, right = box
            mixed = clips.clone()
            mixed[..., top:bottom, left:right] = partner[..., top:bottom, left:right]
            lam = 1.0 - (bottom - top) * (right - left) / (height * width)
        else:
            mixed = clips * lam + partner * (1.0 - lam)
        return Mixed(mixed, targets * lam + targets.roll(1, 0) * (1.0 - lam), lam, box)


def batch_mixer(
    options: TrainOptions, num_classes: int
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None:
    """The run's MixUp/CutMix of a batch (clips, targets) -> (mixed clips, soft targets); None
    when both are off. A single-label run's is torchvision's (``make_mixer``: class indices in,
    soft labels out); a multi-label run's is ``LabelSetMix`` (multi-hot targets, one λ)."""
    if not options.multi_label:
        mixer = make_mixer(options, num_classes)
        return None if mixer is None else lambda clips, targets: mix(mixer, clips, targets)
    if not (options.mixup or options.cutmix):
        return None
    label_sets = LabelSetMix(options.mixup, options.cutmix)

    def mix_label_sets(clips: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mixed = label_sets(clips, targets)
        return mixed.clips, mixed.targets

    return mix_label_sets


def evaluate_label_sets(
    model: torch.nn.Module,
    samples: Sequence[tuple[str, Target]],
    prep,
    batch_size: int,
    workers: int,
    device: torch.device,
    amp: torch.dtype | None,
    group: Group,
    num_classes: int,
    on_failure: Callable[[list[Failure]], None] | None = None,
) -> tuple[float | None, float | None]:
    """BCE (no smoothing) and mAP on centre clips, over every process's share (the scores are
    summed into one table, so mAP ranks every video). A video that cannot be decoded is left out
    and passed to ``on_failure``."""
    if not samples:
        return None, None
    mine = list(samples)[group.rank :: group.world]
    loader = DataLoader(
        EvalClips(mine, prep, num_classes),
        batch_size=1,  # one video per item, so each row's place in the table is known
        num_workers=workers,
        collate_fn=drop_failed,
        worker_init_fn=worker_init,
    )
    # Every process fills its rows of one table (scores K, targets K, present 1), then they sum.
    table = np.zeros((len(samples), 2 * num_classes + 1))
    model.eval()
    pending: list[tuple[int, torch.Tensor, torch.Tensor]] = []

    def flush() -> None:
        if not pending:
            return
        rows = [row for row, _, _ in pending]
        clips = torch.stack([clip for _, clip, _ in pending]).to(device)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            logits = model(clips).float().cpu().numpy()
        for i, row in enumerate(rows):
            table[row, :num_classes] = logits[i]
            table[row, num_classes:-1] = pending[i][2].numpy()
            table[row, -1] = 1.0
        pending.clear()

    with torch.inference_mode():
        for j, (clips, targets, failures) in enumerate(loader):
            if failures and on_failure is not None:
                on_failure(failures)
            if clips is None or targets is None:
                continue
            pending.append((group.rank + group.world * j, clips[0], targets[0]))
            if len(pending) == batch_size:
                flush()
        flush()
    if group.world > 1:
        table[:] = np.asarray(group.all_sum(table.ravel().tolist())).reshape(table.shape)
    present = table[:, -1] > 0
    if not present.any():
        return None, None
    logits_all = torch.from_numpy(table[present, :num_classes]).float()
    targets_all = torch.from_numpy(table[present, num_classes:-1]).float()
    loss = float(F.binary_cross_entropy_with_logits(logits_all, targets_all))
    return loss, mean_average_precision(logits_all.numpy().astype(np.float64), targets_all.numpy() > 0)


__all__ = [
    "LabelSetMix",
    "Mixed",
    "batch_mixer",
    "bce_loss",
    "evaluate_label_sets",
    "smooth",
    "targets_for",
]
