"""Training and validation inputs: one clip per video, augmented as the ViViT recipe does.

Training: one random clip of F frames at stride s (or on the model's frame-rate grid), a
random short-side resize in a jittered range (256-320 for a 224 crop, scaled to the crop), a
random crop, an optional horizontal flip, RandAugment with one set of parameters for the
whole clip (torchvision v2 applies the same draw to every frame of a video tensor), and an
optional time reversal that gives the clip its twin's label (``vidclass.data.reversal``).
Validation: the centre clip and the centre crop at the model's own resize size.

Every random draw of a sample comes from a generator seeded with (seed, epoch, index), so a
sample is the same whichever worker loads it, and a resumed run sees exactly the batches an
uninterrupted run would.

A sample's target is its class index (single-label), or the class indices of its label set
(multi-label, possibly none): ``TrainClips`` and ``EvalClips`` given ``num_classes`` turn a label
set into a multi-hot float vector (K,) (``multi_hot``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TypeAlias, cast

import numpy as np
import torch
from torch.utils.data import Dataset

from vidclass.data.reversal import canonical_spec, draw_reversal, reversal_targets
from vidclass.protocol import Preprocessing, ViewProtocol

SHORT_SIDE_JITTER = (256 / 224, 320 / 224)  # the ViViT recipe's 256-320 range for 224 crops


@dataclass(frozen=True)
class Augment:
    """Training-time augmentation. ``hflip`` is off by default: it turns "moving left" into
    "moving right", so it is only right for classes that are mirror-symmetric.
    ``time_reversal`` is a SPEC of ``vidclass.data.reversal`` (empty: off), kept in its
    canonical form; a malformed one is a ValueError."""

    jitter: tuple[float, float] = SHORT_SIDE_JITTER
    hflip: bool = False
    randaugment: bool = True
    randaugment_ops: int = 2
    randaugment_magnitude: int = 9
    time_reversal: str = ""

    def __post_init__(self) -> None:
        if self.time_reversal:
            object.__setattr__(self, "time_reversal", canonical_spec(self.time_reversal))

    def to_dict(self) -> dict:
        return asdict(self)


def _sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


MAX_FALLBACKS = 16

Failure: TypeAlias = tuple[str, str]
"""A video that could not be decoded: (path, one-line reason)."""

Target: TypeAlias = int | tuple[int, ...]
"""A sample's target: its class index, or the class indices of its label set (multi-label)."""


def multi_hot(target: Target, num_classes: int) -> torch.Tensor:
    """The float32 vector (K,) with 1 at each class of ``target`` (an index or a set of them)."""
    vector = torch.zeros(num_classes, dtype=torch.float32)
    vector[list((target,) if isinstance(target, int) else target)] = 1.0
    return vector


def _encoded(target: Target, num_classes: int | None) -> int | torch.Tensor:
    return cast(int, target) if num_classes is None else multi_hot(target, num_classes)


def failure_reason(exc: BaseException) -> str:
    """The one-line reason a video failed, worded as predict words it: a ``VideoError``'s
    message, any other exception's type and message."""
    from vidclass.video import VideoError

    message = " ".join(str(exc).split())
    if isinstance(exc, VideoError):
        return message or "cannot read video"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class TrainClips(Dataset):
    """``(clip (3, T, crop, crop) float32, target, failures)`` per index: the class index, or
    with ``num_classes`` the multi-hot vector of the sample's label set.

    A video that cannot be decoded is replaced by the next one (deterministically), so batches
    stay full and distributed processes stay in step; ``failures`` lists each skipped file
    with its reason. After ``MAX_FALLBACKS`` failures in a row the clip is None.

    With ``augment.time_reversal``, a clip of a class it names is reversed in time (half of the
    draws) and its target is the twin's index: ``labels`` (the run's classes) resolves the names;
    a name not among them, or a multi-label run (``num_classes``), is a ValueError.
    """

    def __init__(
        self,
        samples: Sequence[tuple[str, Target]],
        prep: Preprocessing,
        augment: Augment,
        seed: int = 0,
        num_classes: int | None = None,
        labels: Sequence[str] | None = None,
    ):
        self.samples = list(samples)
        self.prep = prep
        self.augment = augment
        self.seed = seed
        self.num_classes = num_classes
        self.epoch = 0
        self.twins: dict[int, int] = {}
        if augment.time_reversal:
            if num_classes is not None:
                raise ValueError("time reversal is for single-label training: a reversed label set is ambiguous")
            if labels is None:
                raise ValueError("time reversal names classes: TrainClips needs the run's labels")
            self.twins = reversal_targets(augment.time_reversal, labels)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int | torch.Tensor, list[Failure]]:
        failures: list[Failure] = []
        for attempt in range(min(MAX_FALLBACKS, len(self.samples))):
            position = (index + attempt) % len(self.samples)
            path, label = self.samples[position]
            try:
                rng = _sample_rng(self.seed, self.epoch, position)
                clip = self._clip(path, rng)
                twin = draw_reversal(label, self.twins, rng) if self.twins else None  # after every other draw
                if twin is not None:
                    clip, label = clip.flip(1), twin  # (3, T, c, c): the frames in reverse order
                return clip, _encoded(label, self.num_classes), failures
            except Exception as exc:  # noqa: BLE001 - a bad training video is skipped and reported, not fatal
                failures.append((path, failure_reason(exc)))
        return None, _encoded(self.samples[index][1], self.num_classes), failures

    def _clip(self, path: str, rng: np.random.Generator) -> torch.Tensor:
        from vidclass.video import normalise, plan_training_clip, probe, read_frames, resized_hw

        prep, aug = self.prep, self.augment
        info = probe(path)
        clip = plan_training_clip(info, prep, float(rng.random()))
        short = max(prep.crop_size, math.floor(prep.crop_size * rng.uniform(*aug.jitter) + 0.5))
        height, width = resized_hw(info.height, info.width, short)
        wanted = sorted(set(clip.frame_indices))
        frames = read_frames(path, wanted, (height, width))  # (N, H, W, 3) uint8
        order = torch.tensor([wanted.index(i) for i in clip.frame_indices])
        top = int(rng.integers(0, height - prep.crop_size + 1))
        left = int(rng.integers(0, width - prep.crop_size + 1))
        video = frames[order, top : top + prep.crop_size, left : left + prep.crop_size]  # (T, c, c, 3)
        video = video.permute(0, 3, 1, 2)  # (T, 3, c, c): torchvision's video layout
        if aug.hflip and rng.random() < 0.5:
            video = video.flip(-1)
        if aug.randaugment:
            video = _randaugment(video, aug, int(rng.integers(2**31)))
        return normalise(video.permute(1, 0, 2, 3).unsqueeze(0), prep)[0]  # (3, T, c, c)


def _randaugment(video: torch.Tensor, aug: Augment, seed: int) -> torch.Tensor:
    """RandAugment with one draw of operations and magnitudes for every frame of ``video``."""
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    transform = v2.RandAugment(num_ops=aug.randaugment_ops, magnitude=aug.randaugment_magnitude)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return transform(tv_tensors.Video(video)).as_subclass(torch.Tensor)


class EvalClips(Dataset):
    """The centre clip through the centre crop: ``(clip, target, failures)`` (the target as
    ``TrainClips`` gives it); the clip is None, and ``failures`` names the video, when it cannot
    be decoded."""

    def __init__(self, samples: Sequence[tuple[str, Target]], prep: Preprocessing, num_classes: int | None = None):
        self.samples = list(samples)
        self.prep = prep
        self.num_classes = num_classes

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int | torch.Tensor, list[Failure]]:
        from vidclass.video import load_views

        path, label = self.samples[index]
        target = _encoded(label, self.num_classes)
        try:
            views, _, _ = load_views(path, self.prep, ViewProtocol(clips=1, crops=1))
        except Exception as exc:  # noqa: BLE001 - reported by the caller; the others go on
            return None, target, [(path, failure_reason(exc))]
        return views[0], target, []


def drop_failed(
    batch: list[tuple[torch.Tensor | None, int | torch.Tensor, list[Failure]]],
) -> tuple[torch.Tensor | None, torch.Tensor | None, list[Failure]]:
    """Collate ``(clip, target, failures)`` items, leaving out those whose clip is None; returns
    (clips, targets: class indices (B,) or multi-hot rows (B, K), every item's failures), with
    None for clips and targets when no item has a clip."""
    failures = [failure for item in batch for failure in item[2]]
    good = [item for item in batch if item[0] is not None]
    if not good:
        return None, None, failures
    clips = torch.stack([item[0] for item in good if item[0] is not None])
    targets = [item[1] for item in good]
    if isinstance(targets[0], torch.Tensor):
        return clips, torch.stack([t for t in targets if isinstance(t, torch.Tensor)]), failures
    return clips, torch.tensor(targets, dtype=torch.long), failures


def split_validation(labels: Sequence[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, val): a stratified, seeded ``fraction`` of the samples held out.

    ``round(fraction * N)`` samples (at least one) are held out, spread over the classes in
    proportion to their sizes (largest remainders first, ties broken by the seed), so a class
    too small for its share may have none in validation. A class's last sample is never held
    out; when every class has a single sample, nothing is (the caller decides what that means).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng([seed, 7919])
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    classes = sorted(by_class)
    orders = {c: [by_class[c][j] for j in rng.permutation(len(by_class[c]))] for c in classes}
    held = _held_per_class({c: len(by_class[c]) for c in classes}, fraction, seed)
    train, val = [], []
    for c in classes:
        val.extend(orders[c][: held[c]])
        train.extend(orders[c][held[c] :])
    return sorted(train), sorted(val)


def _held_per_class(sizes: dict[int, int], fraction: float, seed: int) -> dict[int, int]:
    """How many samples each class gives to validation (see ``split_validation``)."""
    total = sum(sizes.values())
    room = {c: n - 1 for c, n in sizes.items()}  # a class keeps at least one training sample
    wanted = min(max(1, math.floor(total * fraction + 0.5)), sum(room.values()))
    quota = {c: n * wanted / total for c, n in sizes.items()}
    held = {c: min(math.floor(quota[c]), room[c]) for c in sizes}
    tie = dict(zip(sizes, np.random.default_rng([seed, 7919, 1]).permutation(len(sizes)).tolist(), strict=True))
    order = sorted(sizes, key=lambda c: (math.floor(quota[c]) - quota[c], tie[c]))  # largest remainder first
    while sum(held.values()) < wanted:  # ends: wanted is at most the room there is
        for c in order:
            if sum(held.values()) < wanted and held[c] < room[c]:
                held[c] += 1
    return held
