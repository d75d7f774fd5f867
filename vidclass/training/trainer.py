"""The training loop: ``Trainer`` (``fit`` = set up, then ``train_epoch`` and ``validate`` per
epoch, a checkpoint after each) and ``train``, the library mirror of ``vidclass train``.

AdamW with linear warm-up and cosine decay (per optimiser step), gradient clipping, gradient
accumulation, label smoothing, optional MixUp/CutMix (torchvision v2), bf16 autocast where the
hardware has it, and DistributedDataParallel under ``torchrun`` (``vidclass.distributed``).
``TrainOptions.multi_label`` trains a multi-label model on label sets: BCE, its smoothing and
mixing, and validation mAP (``vidclass.training.multilabel``).
Every epoch ends with a checkpoint (``vidclass.training.checkpoint``), so ``resume=True``
continues exactly where it stopped: per-sample random draws are seeded by (seed, epoch, index)
and the torch RNG is reseeded at each epoch start, so the resumed run takes the same batches,
augmentations and dropout masks as an uninterrupted one. A resumed run may change ``epochs``
only (to no fewer than it has trained): the cosine schedule is then recomputed for the new
total and picks up at the saved step, so raising the epochs of a finished run lifts the
learning rate from its floor to where the longer schedule has it at that step.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from vidclass.checkpoints import Provenance, save_model
from vidclass.data.training import MAX_FALLBACKS, Failure, Target, TrainClips
from vidclass.devices import resolve_device
from vidclass.distributed import Group, launched
from vidclass.errors import VidclassError
from vidclass.models import family_of
from vidclass.precision import autocast_dtype
from vidclass.training.batches import FailedVideos, batch_loader, epoch_batches, evaluate_clips, split_samples
from vidclass.training.checkpoint import FINAL, METRICS, refuse_existing_run, resume_checkpoint, save_checkpoint
from vidclass.training.multilabel import batch_mixer, bce_loss, evaluate_label_sets, targets_for
from vidclass.training.optim import make_optimizer, make_scheduler
from vidclass.training.options import TrainOptions
from vidclass.training.precise_bn import update_bn_stats
from vidclass.training.records import EpochRecord, StepRecord, TrainResult
from vidclass.training.surgery import TokenLearnerSpec, prepare_model

DEFAULT_OPTIONS = TrainOptions()  # frozen: one default shared by every call


class UndecodableDataError(VidclassError):
    """Training cannot go on: a whole batch of videos in a row could not be decoded."""


class Trainer:
    """One training run; ``fit`` runs it (see ``train`` for the arguments)."""

    def __init__(
        self,
        train_samples: Sequence[tuple[str, Target]],
        labels: Sequence[str],
        out_dir: str | os.PathLike[str],
        model: str,
        options: TrainOptions = DEFAULT_OPTIONS,
        *,
        val_samples: Sequence[tuple[str, Target]] | None = None,
        tokenlearner: TokenLearnerSpec | None = None,
        resume: bool = False,
        device: str = "auto",
        provenance: dict[str, Any] | None = None,
        on_step: Callable[[StepRecord], None] | None = None,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        log: Callable[[str], None] | None = None,
        on_failure: Callable[[str, str], None] | None = None,
    ) -> None:
        self.train_samples = train_samples
        self.labels = labels
        self.out = Path(out_dir)
        self.model_spec = model
        self.options = options
        self.val_samples = val_samples
        self.tokenlearner = tokenlearner
        self.resume = resume
        self.device_spec = device
        self.provenance = provenance
        self.on_step = on_step
        self.on_epoch = on_epoch
        self.log = log
        self.on_failure = on_failure

    # ------------------------------------------------------------------------------- the run

    def fit(self) -> TrainResult:
        """Train every remaining epoch; write ``OUT/model.safetensors`` (first process only)."""
        dev = resolve_device(self.device_spec)
        # Group.from_env opens the channel that sends each process's failed videos to rank 0.
        self.group = Group.from_env(dev) if launched() else Group.solo(dev)
        self.failures = FailedVideos(self.group, self.on_failure)
        try:
            self.failures.start()
            self._setup()
            for epoch in range(self.start_epoch, self.options.epochs):
                sums, elapsed = self.train_epoch(epoch)
                record = self._record(epoch, sums, elapsed, self.validate())
                self.records.append(record)
                if self.group.main:
                    self._write_epoch(epoch, record)
                if self.on_epoch is not None and self.group.main:
                    self.on_epoch(record)
            failed = self.failures.finish()
            final = self.out / FINAL
            if self.group.main:
                self.classifier.provenance = self._provenance(
                    self.options.epochs, self.records[-1].to_dict() if self.records else None
                )
                save_model(self.classifier, final)
            self.group.barrier()
            return TrainResult(final, self.records, self.classifier, failed)
        finally:
            self.group.close()

    def _say(self, message: str) -> None:
        if self.log is not None and self.group.main:
            self.log(message)

    def _setup(self) -> None:
        options, group, out = self.options, self.group, self.out
        self.device = group.device
        if options.batch_size % group.world:
            raise ValueError(f"batch size {options.batch_size} does not split across {group.world} processes")
        self.multi = options.multi_label
        # The model first: a model or --tokenlearner the options do not fit is a usage error.
        self.classifier, self.origin = prepare_model(self.model_spec, self.labels, options, self.tokenlearner)
        given_val = None if self.val_samples is None else targets_for(self.val_samples, self.multi)
        samples, self.val, split = split_samples(targets_for(self.train_samples, self.multi), given_val, options)
        self.num_classes = len(self.labels) if self.multi else None  # multi-hot targets over the classes
        config = self.classifier.config
        crops = family_of(config).train_input(config, self.classifier.preprocessing)  # X3D: its training crop
        # Built here, before anything is said or written: a --time-reversal class it lacks is a usage error.
        self.dataset = TrainClips(
            samples, crops, options.augment, options.seed, num_classes=self.num_classes, labels=self.labels
        )
        notes = [split]  # said once every check has passed

        fresh = self.origin.get("newly_initialised")
        if fresh:
            notes.append(f"newly initialised: {', '.join(fresh[:8])}{' ...' if len(fresh) > 8 else ''}")
        self.net = self.classifier.model.to(self.device)
        self.optimizer = make_optimizer(self.net, options)
        self.per_rank = options.batch_size // group.world
        steps_per_epoch = math.ceil(len(samples) // group.world // self.per_rank / options.accumulate)
        self.start_epoch, self.step = 0, 0
        self.records: list[EpochRecord] = []
        if self.resume:
            loaded, state = resume_checkpoint(out, self.optimizer, self.labels, options)
            self.net.load_state_dict(loaded.model.state_dict())
            self.start_epoch, self.step = state["epoch"] + 1, state["step"]
            self.records = [EpochRecord(**r) for r in state["records"]]
            self.origin = state["origin"]
            notes.append(f"resuming after epoch {state['epoch'] + 1} (step {self.step})")
            if state["options"]["epochs"] != options.epochs:
                notes.append(
                    f"--epochs {state['options']['epochs']} -> {options.epochs}: the learning rate follows "
                    f"the cosine schedule for {options.epochs} epochs from step {self.step}"
                )
        elif group.main:
            refuse_existing_run(out)
        for note in notes:
            self._say(note)
        self.scheduler = make_scheduler(
            self.optimizer,
            options,
            steps_per_epoch * options.epochs,
            round(options.warmup_epochs * steps_per_epoch),
            self.step,
        )
        if group.world > 1:
            dev = self.device
            self.ddp: torch.nn.Module = DistributedDataParallel(
                self.net, device_ids=[dev.index] if dev.type == "cuda" else None
            )
        else:
            self.ddp = self.net
        if options.workers and self.device.type == "cpu":  # decoding processes take cores: leave them theirs
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // group.world - options.workers))
        self.amp = autocast_dtype(options.precision, self.device)
        self.mixer = batch_mixer(options, len(self.labels))
        if group.main:
            out.mkdir(parents=True, exist_ok=True)
            if not self.resume:
                (out / METRICS).write_text("")

    # ------------------------------------------------------------------------------- one epoch

    def train_epoch(self, epoch: int) -> tuple[list[float], float]:
        """One pass over this process's share; returns the sums over every process (loss sum,
        top-1 hits, clips, failed videos) and this process's seconds."""
        options, group, dev = self.options, self.group, self.device
        torch.manual_seed(options.seed * 100_003 + epoch * 1_009 + group.rank)
        self.dataset.set_epoch(epoch)
        batches = epoch_batches(len(self.dataset), epoch, options.seed, group, self.per_rank)
        loader = batch_loader(self.dataset, batches, options.workers)
        self.ddp.train()
        started = time.perf_counter()
        sums = [0.0, 0.0, 0.0, 0.0]  # loss sum, top-1 hits, clips, failed
        self.optimizer.zero_grad(set_to_none=True)
        for i, (clips, targets, failures) in enumerate(loader):
            sums[3] += len(failures)
            self.failures.report(failures)
            if clips is None or targets is None:
                raise UndecodableDataError(
                    f"training stopped: no video of a batch could be decoded, nor up to {MAX_FALLBACKS} "
                    f"videos after each (from {failures[0][0]} on): check the dataset"
                )
            clips, targets = clips.to(dev), targets.to(dev)
            hard = targets
            if self.mixer is not None:
                clips, targets = self.mixer(clips, targets)
            last = (i + 1) % options.accumulate == 0 or i + 1 == len(batches)
            ddp = self.ddp
            sync = ddp.no_sync() if isinstance(ddp, DistributedDataParallel) and not last else contextlib.nullcontext()
            with sync:
                with torch.autocast(dev.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
                    logits = self.ddp(clips).float()
                if self.multi:
                    loss = bce_loss(logits, targets, options.label_smoothing)
                else:
                    loss = F.cross_entropy(logits, targets, label_smoothing=options.label_smoothing)
                (loss / options.accumulate).backward()
            if last:
                self._optimizer_step()
            sums[0] += loss.item() * len(hard)
            if not self.multi:
                sums[1] += (logits.argmax(1) == hard).sum().item()
            sums[2] += len(hard)
            if self.on_step is not None and group.main:
                seconds = time.perf_counter() - started
                rate = sums[2] * group.world / seconds if seconds else 0.0
                self.on_step(StepRecord(epoch + 1, i + 1, len(batches), self.step, sums[0] / max(sums[2], 1), rate))
        elapsed = time.perf_counter() - started  # training only: the statistics pass below is not
        loader = batch_loader(self.dataset, batches, options.workers)  # the epoch's clips again
        update_bn_stats(self.net, loader, options.precise_bn, dev, self.amp, group, self.failures.report)
        return group.all_sum(sums), elapsed

    def _optimizer_step(self) -> None:
        if self.options.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.options.clip_grad)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1

    def validate(self) -> dict[str, Any]:
        """The epoch record's validation fields over every process: ``val_loss``, ``val_top1``
        and ``val_top5`` (single-label) or ``val_map`` (multi-label; the loss is then BCE), None
        without a validation set, and ``val_failed``, the validation videos that failed to decode."""
        failed: list[Failure] = []

        def on_failure(failures: list[Failure]) -> None:
            failed.extend(failures)
            self.failures.report(failures)

        args = (
            self.net,
            self.val,
            self.classifier.preprocessing,
            self.per_rank,
            self.options.workers,
            self.device,
            self.amp,
            self.group,
            len(self.labels),
            on_failure,
        )
        fields: dict[str, Any] = {}
        if self.multi:
            fields["val_loss"], fields["val_map"] = evaluate_label_sets(*args)
        else:
            fields["val_loss"], fields["val_top1"], fields["val_top5"] = evaluate_clips(*args)
        fields["val_failed"] = int(self.group.all_sum([float(len(failed))])[0])
        return fields

    # ------------------------------------------------------------------------------- records

    def _record(self, epoch: int, sums: list[float], elapsed: float, val: dict[str, Any]) -> EpochRecord:
        loss_sum, hits, count, failed = sums
        return EpochRecord(
            epoch=epoch + 1,
            step=self.step,
            lr=self.optimizer.param_groups[0]["lr"],
            train_loss=loss_sum / max(count, 1),
            train_top1=(hits / count if count and self.mixer is None and not self.multi else None),
            val_loss=val.get("val_loss"),
            val_top1=val.get("val_top1"),
            val_top5=val.get("val_top5"),
            clips_per_second=count / elapsed if elapsed else 0.0,
            seconds=elapsed,
            failed=int(failed),
            val_failed=val["val_failed"],
            val_map=val.get("val_map"),
        )

    def _provenance(self, epochs_trained: int, metrics: dict[str, Any] | None) -> Provenance:
        provenance: dict[str, Any] = {
            **(self.provenance or {}),
            **self.origin,
            "recipe": self.options.to_dict(),
            "epochs_trained": epochs_trained,
            "metrics": metrics,
        }
        return cast(Provenance, provenance)

    def _write_epoch(self, epoch: int, record: EpochRecord) -> None:
        """Append the epoch's metrics line and replace the checkpoint (first process only)."""
        with open(self.out / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(record.to_dict()) + "\n")
        self.classifier.provenance = self._provenance(epoch + 1, record.to_dict())
        save_checkpoint(
            self.out,
            self.classifier,
            self.optimizer,
            {
                "epoch": epoch,
                "step": self.step,
                "options": self.options.to_dict(),
                "origin": self.origin,
                "records": [r.to_dict() for r in self.records],
            },
        )


def train(
    train_samples: Sequence[tuple[str, Target]],
    labels: Sequence[str],
    out_dir: str | os.PathLike[str],
    model: str,
    options: TrainOptions = DEFAULT_OPTIONS,
    *,
    val_samples: Sequence[tuple[str, Target]] | None = None,
    tokenlearner: TokenLearnerSpec | None = None,
    resume: bool = False,
    device: str = "auto",
    provenance: dict[str, Any] | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    log: Callable[[str], None] | None = None,
    on_failure: Callable[[str, str], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``(path, class index)`` samples; write ``OUT/model.safetensors``.

    With ``options.multi_label``, a sample's target is the tuple of its label set's class
    indices (possibly empty; a class index counts as a set of one), and the model is
    multi-label: BCE on multi-hot targets, validation BCE and mAP
    (``vidclass.training.multilabel``). A label set in a single-label run is a ValueError.

    Without ``val_samples``, ``options.val_fraction`` of the training samples (stratified,
    seeded) is held out (``vidclass.data.training.split_validation``); ValueError when that
    leaves no validation video, or fewer training videos than one batch. ``on_step(record)``
    (a ``StepRecord``, after each batch) and ``on_epoch(record)`` report progress, and ``log``
    gets notes (how many videos train and validate; resuming); only the first process writes
    files. A video that cannot be decoded is passed to ``on_failure(path, reason)`` once, the
    first time it fails (on the first process, for every process's videos), and training goes
    on without it; ``TrainResult.failed`` lists them all.
    """
    return Trainer(
        train_samples,
        labels,
        out_dir,
        model,
        options,
        val_samples=val_samples,
        tokenlearner=tokenlearner,
        resume=resume,
        device=device,
        provenance=provenance,
        on_step=on_step,
        on_epoch=on_epoch,
        log=log,
        on_failure=on_failure,
    ).fit()


__all__ = ["EpochRecord", "StepRecord", "TrainResult", "Trainer", "UndecodableDataError", "train"]
