"""What each process trains and validates on: its share of a seeded shuffle, MixUp/CutMix, and
the validation pass over centre clips, summed across processes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from vidclass.data.training import EvalClips, drop_failed
from vidclass.distributed import Group
from vidclass.training.options import TrainOptions


def epoch_indices(n: int, epoch: int, seed: int, group: Group) -> list[int]:
    """This process's share of a seeded shuffle; every process gets the same count."""
    order = np.random.default_rng([seed, epoch, 104729]).permutation(n)
    per_rank = n // group.world
    return order[group.rank :: group.world][:per_rank].tolist()


def make_mixer(options: TrainOptions, num_classes: int) -> Callable | None:
    """MixUp, CutMix, or a random choice of the two (torchvision v2); None when both are off."""
    from torchvision.transforms import v2

    choices = []
    if options.mixup > 0:
        choices.append(v2.MixUp(alpha=options.mixup, num_classes=num_classes))
    if options.cutmix > 0:
        choices.append(v2.CutMix(alpha=options.cutmix, num_classes=num_classes))
    if not choices:
        return None
    return choices[0] if len(choices) == 1 else v2.RandomChoice(choices)


def mix(mixer: Callable, clips: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixed clips (B, C, T, H, W) and their soft labels (B, K)."""
    from torchvision import tv_tensors

    video = tv_tensors.Video(clips.transpose(1, 2))  # (B, T, C, H, W): torchvision's video layout
    mixed, soft = mixer(video, labels)
    return mixed.as_subclass(torch.Tensor).transpose(1, 2).contiguous(), soft  # back to (B, C, T, H, W)


def worker_init(_: int) -> None:
    torch.set_num_threads(1)  # workers decode; many threads each would oversubscribe the cores


def evaluate_clips(
    model: torch.nn.Module,
    samples: Sequence[tuple[str, int]],
    prep,
    batch_size: int,
    workers: int,
    device: torch.device,
    amp: torch.dtype | None,
    group: Group,
    num_classes: int,
) -> tuple[float | None, float | None, float | None]:
    """Loss, top-1 and top-5 (None with 5 classes or fewer) on centre clips, across processes."""
    if not samples:
        return None, None, None
    mine = list(samples)[group.rank :: group.world]
    loader = DataLoader(
        EvalClips(mine, prep),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=drop_failed,
        worker_init_fn=worker_init,
    )  # unreadable videos are left out
    totals = [0.0, 0.0, 0.0, 0.0]  # loss sum, top-1 hits, top-5 hits, count
    model.eval()
    with torch.inference_mode():
        for batch in loader:
            if batch is None or batch[0].numel() == 0:
                continue
            clips, labels, _ = batch
            clips, labels = clips.to(device), labels.to(device)
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                logits = model(clips).float()
            totals[0] += F.cross_entropy(logits, labels, reduction="sum").item()
            ranked = logits.topk(min(5, num_classes), dim=1).indices
            totals[1] += (ranked[:, 0] == labels).sum().item()
            totals[2] += (ranked == labels[:, None]).any(1).sum().item()
            totals[3] += len(labels)
    loss, top1, top5, count = group.all_sum(totals)
    if not count:
        return None, None, None
    return loss / count, top1 / count, (top5 / count if num_classes > 5 else None)


__all__ = ["epoch_indices", "evaluate_clips", "make_mixer", "mix", "worker_init"]
