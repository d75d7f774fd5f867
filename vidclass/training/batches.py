"""What each process trains and validates on: the training/validation split, its share of a
seeded shuffle, MixUp/CutMix, the validation pass over centre clips, summed across processes,
and the videos that fail to decode, each reported once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from vidclass.data.training import EvalClips, Failure, Target, drop_failed, split_validation
from vidclass.distributed import Group, Receiver
from vidclass.training.options import TrainOptions

Samples = list[tuple[str, Target]]


def stratum(target: Target) -> int:
    """The class a sample counts under when the validation split is stratified: its class, or
    the first (lowest-index) class of its label set; -1, a group of its own, for an empty set."""
    if isinstance(target, tuple):
        return min(target, default=-1)
    return target


def split_samples(
    samples: Sequence[tuple[str, Target]], val_samples: Sequence[tuple[str, Target]] | None, options: TrainOptions
) -> tuple[Samples, Samples, str]:
    """The training and validation samples, and a note saying how many of each and whence.

    Without ``val_samples``, ``options.val_fraction`` is held out (``split_validation``; a
    label set counts under its ``stratum``).
    ValueError, naming the remedy, for a hold-out that leaves validation empty (every class has
    a single video) or fewer training videos than one batch.
    """
    train, fraction = list(samples), options.val_fraction
    if val_samples is not None:
        val, whence = list(val_samples), "the validation set"
    elif fraction > 0:
        train_idx, val_idx = split_validation([stratum(label) for _, label in train], fraction, options.seed)
        val, train = [train[i] for i in val_idx], [train[i] for i in train_idx]
        whence = f"--val-fraction {fraction:g}"
        if not val:
            raise ValueError(
                f"{whence} holds out no video: every class has a single one, and a class's last video "
                "is never held out: pass --val-fraction 0 to train without validation, or --val DIR"
            )
    else:
        val, whence = [], "--val-fraction 0"
    note = f"{len(train)} videos for training, {len(val) or 'none'} for validation ({whence})"
    if len(train) < options.batch_size:
        remedy = "lower --batch-size"
        if val_samples is None and fraction > 0:
            remedy += ", or hold out none (--val-fraction 0) or give a validation set (--val DIR)"
        raise ValueError(f"{note}: fewer training videos than one batch of {options.batch_size}: {remedy}")
    return train, val, note


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


def epoch_batches(n: int, epoch: int, seed: int, group: Group, per_rank: int) -> list[list[int]]:
    """This process's batches of ``epoch`` (sample indices; an incomplete last batch is dropped)."""
    indices = epoch_indices(n, epoch, seed, group)
    return [indices[i : i + per_rank] for i in range(0, len(indices) - per_rank + 1, per_rank)]


def batch_loader(dataset: Dataset, batches: list[list[int]], workers: int) -> DataLoader:
    """The clips of ``batches`` (``drop_failed`` batches), decoded by ``workers`` processes."""
    return DataLoader(
        dataset, batch_sampler=batches, num_workers=workers, collate_fn=drop_failed, worker_init_fn=worker_init
    )


def evaluate_clips(
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
) -> tuple[float | None, float | None, float | None]:
    """Loss, top-1 and top-5 (None with 5 classes or fewer) on centre clips, across processes.
    A video that cannot be decoded is left out and passed to ``on_failure``."""
    if not samples:
        return None, None, None
    mine = list(samples)[group.rank :: group.world]
    loader = DataLoader(
        EvalClips(mine, prep),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=drop_failed,
        worker_init_fn=worker_init,
    )
    totals = [0.0, 0.0, 0.0, 0.0]  # loss sum, top-1 hits, top-5 hits, count
    model.eval()
    with torch.inference_mode():
        for clips, labels, failures in loader:
            if failures and on_failure is not None:
                on_failure(failures)
            if clips is None or labels is None:
                continue
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


class FailedVideos:
    """The videos of a run that fail to decode, each reported once, the first time it fails.

    ``report`` hands a new failure to ``on_failure(path, reason)`` on rank 0; another torchrun
    process sends it to rank 0 (``Group.send``), whose receiver (``start``) reports it there.
    ``finish`` waits for every process and gives every process the complete list.
    """

    def __init__(self, group: Group, on_failure: Callable[[str, str], None] | None) -> None:
        self.group = group
        self.on_failure = on_failure
        self.seen: dict[str, str] = {}  # path -> reason, in the order they were reported
        self._lock = threading.Lock()  # rank 0's receiver thread reports too
        self._receiver: Receiver | None = None

    def start(self) -> None:
        if self.group.main and self.group.world > 1:
            self._receiver = self.group.receive(self._from_other_rank)

    def _from_other_rank(self, record: dict[str, Any]) -> None:
        self.report([(str(record["path"]), str(record["error"]))])

    def report(self, failures: Sequence[Failure]) -> None:
        for path, reason in failures:
            with self._lock:
                if path in self.seen:
                    continue
                self.seen[path] = reason
            if not self.group.main:
                self.group.send({"path": path, "error": reason})
            elif self.on_failure is not None:
                self.on_failure(path, reason)

    def finish(self) -> dict[str, str]:
        """Every process's failures (collective: every process calls it, after its last batch)."""
        if self.group.world == 1:
            return dict(self.seen)
        if self.group.main:
            if self._receiver is not None:
                self._receiver.wait()
        else:
            self.group.send(None)
        return dict(self.group.broadcast(self.seen))


__all__ = ["FailedVideos", "epoch_indices", "evaluate_clips", "make_mixer", "mix", "split_samples", "worker_init"]
