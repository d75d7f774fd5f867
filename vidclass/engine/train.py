"""Training and fine-tuning: ``vidclass train`` and its library mirror ``train``.

The loop: AdamW with linear warm-up and cosine decay (per optimiser step), gradient clipping,
gradient accumulation, label smoothing, optional MixUp/CutMix (torchvision v2), bf16
autocast where the hardware has it, and DistributedDataParallel under ``torchrun`` (gloo on
CPU, nccl on GPU). Every epoch ends with a checkpoint (``OUT/checkpoint/``: the model file,
the optimiser tensors as safetensors, and a JSON state; no pickles), so ``resume=True``
continues exactly where it stopped: per-sample random draws are seeded by (seed, epoch,
index) and the torch RNG is reseeded at each epoch start, so the resumed run takes the same
batches, augmentations and dropout masks as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader

from vidclass.checkpoints import VideoClassifier, create_model, load_model, read_model_file, save_model
from vidclass.data.training import Augment, EvalClips, TrainClips, drop_failed, split_validation
from vidclass.inference.precision import autocast_dtype
from vidclass.models import Classifier, TokenLearnerConfig, ViViT, list_models

CHECKPOINT = "checkpoint"
METRICS = "metrics.jsonl"
FINAL = "model.safetensors"
PRECISIONS = ("auto", "fp32", "bf16")


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


KERNEL_INITS = ("random", "difference")
"""How a model trained from a registry configuration starts its tubelet kernel: ``random``
(the configuration's own init) or ``difference`` (``TubeletEmbedding.init_temporal_difference_``:
most channels start as temporal-difference filters, a strong start for motion-only classes)."""


@dataclass
class EpochRecord:
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
    failed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- the model to train ----------------------------------------------------------------------


def parse_tokenlearner(spec: str) -> TokenLearnerConfig:
    """``8at6``, ``8at6+fuser``, ``16at12,v1.0``: tokens, layer, fuser and version."""
    text = spec.strip().lower()
    version = "v1.1"
    if "," in text:
        text, version = (part.strip() for part in text.split(",", 1))
    fuse = text.endswith("+fuser")
    text = text.removesuffix("+fuser")
    try:
        tokens, location = (int(part) for part in text.split("at"))
    except ValueError:
        raise ValueError(f"TokenLearner spec {spec!r}: expected TOKENSatLAYER, e.g. 8at6 or 8at6+fuser,v1.0") from None
    return TokenLearnerConfig(num_tokens=tokens, location=location, version=version, fuse=fuse)


def _transplant(source: VideoClassifier, cfg, labels: Sequence[str], seed: int) -> tuple[VideoClassifier, list[str]]:
    """A new model of ``cfg`` holding every tensor of ``source`` that still fits; returns it and
    the names of the tensors that are newly initialised."""
    torch.manual_seed(seed)
    model = ViViT(cfg)
    old = source.model.state_dict()
    new = model.state_dict()
    fresh = []
    for key, value in new.items():
        theirs = old.get(key)
        if theirs is not None and key.endswith("pos_embed") and theirs.shape[1] == value.shape[1] + 1:
            theirs = theirs[:, 1:]  # a CLS token was dropped (TokenLearner pools): drop its position row
        if (
            theirs is not None
            and theirs.shape == value.shape
            and not (key.startswith("head.") and tuple(labels) != source.labels)
        ):
            new[key] = theirs.clone()
        else:
            fresh.append(key)
    model.load_state_dict(new)
    classifier = VideoClassifier(
        model=model,
        labels=tuple(labels),
        preprocessing=source.preprocessing,
        protocol=source.protocol,
        name=source.name,
        provenance=dict(source.provenance),
        source=source.source,
    )
    return classifier, fresh


def prepare_model(
    spec: str, labels: Sequence[str], options: TrainOptions, tokenlearner: TokenLearnerConfig | None = None
) -> tuple[VideoClassifier, dict[str, Any]]:
    """The model to train, and a note of where it came from.

    ``spec`` is a registry configuration (random init), or a model file or other ``--model``
    source to fine-tune (a new head when its labels differ from ``labels``). ``tokenlearner``
    inserts a TokenLearner (new modules; a CLS token gives way to average pooling).
    """
    changes = {k: v for k, v in (("drop_path", options.drop_path), ("dropout", options.dropout)) if v is not None}
    if spec in list_models() and not Path(spec).exists():
        if tokenlearner is not None:
            changes.update(tokenlearner=tokenlearner, classifier=Classifier.GAP)
        classifier = create_model(spec, labels=labels, seed=options.seed, **changes)
        if options.kernel_init == "difference":
            generator = torch.Generator().manual_seed(options.seed)
            classifier.model.patch_embed.init_temporal_difference_(generator=generator)
        return classifier, {"init": spec, "weights": "random init", "kernel_init": options.kernel_init}
    if options.kernel_init != "random":
        raise ValueError("--kernel-init applies to a new model (a registry configuration), not to fine-tuning")
    source = load_model(spec)
    cfg = source.config.replace(num_classes=len(labels), **changes)
    if tokenlearner is not None:
        cfg = cfg.replace(tokenlearner=tokenlearner, classifier=Classifier.GAP)
    classifier, fresh = _transplant(source, cfg, labels, options.seed)
    return classifier, {"init": str(spec), "weights": "fine-tuned", "newly_initialised": fresh}


# --- precision and distribution ---------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> Dist:
    """Join the torchrun process group when launched by torchrun (gloo on CPU, nccl on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size())


def _all_sum(values: list[float], dist_info: Dist) -> list[float]:
    if dist_info.world == 1:
        return values
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()


# --- optimiser, schedule, checkpoints ---------------------------------------------------------


def make_optimizer(model: torch.nn.Module, options: TrainOptions) -> torch.optim.AdamW:
    """AdamW; no weight decay on norms, biases, position embeddings and CLS tokens."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        skip = param.ndim <= 1 or name.endswith("pos_embed") or name.split(".")[-1].startswith("cls")
        (no_decay if skip else decay).append(param)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": options.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=options.lr,
    )


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to ``min_ratio``."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _save_checkpoint(
    out: Path, classifier: VideoClassifier, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    """Write ``OUT/checkpoint`` atomically: model file, optimiser tensors, JSON state."""
    tmp = out / f"{CHECKPOINT}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(classifier, tmp / "model.safetensors")
    opt = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entry in opt["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    groups = [{k: v for k, v in g.items()} for g in opt["param_groups"]]
    (tmp / "state.json").write_text(json.dumps({**state, "optimizer_scalars": scalars, "param_groups": groups}))
    final = out / CHECKPOINT
    old = out / f"{CHECKPOINT}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(out: Path, optimizer: torch.optim.Optimizer) -> tuple[VideoClassifier, dict[str, Any]]:
    folder = out / CHECKPOINT
    if not (folder / "state.json").is_file():
        raise FileNotFoundError(f"{folder}: no checkpoint to resume from")
    classifier = read_model_file(folder / "model.safetensors")
    state = json.loads((folder / "state.json").read_text())
    tensors = load_file(str(folder / "optimizer.safetensors"))
    entries: dict[int, dict[str, Any]] = {}
    for key, value in {**tensors, **state["optimizer_scalars"]}.items():
        index, name = key.split(".", 1)
        entries.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": entries, "param_groups": state["param_groups"]})
    return classifier, state


# --- the loop ---------------------------------------------------------------------------------


@dataclass
class TrainResult:
    model_path: Path
    records: list[EpochRecord]
    classifier: VideoClassifier


def _epoch_indices(n: int, epoch: int, seed: int, dist_info: Dist) -> list[int]:
    """This process's share of a seeded shuffle; every process gets the same count."""
    order = np.random.default_rng([seed, epoch, 104729]).permutation(n)
    per_rank = n // dist_info.world
    return order[dist_info.rank :: dist_info.world][:per_rank].tolist()


def _mixer(options: TrainOptions, num_classes: int) -> Callable | None:
    from torchvision.transforms import v2

    choices = []
    if options.mixup > 0:
        choices.append(v2.MixUp(alpha=options.mixup, num_classes=num_classes))
    if options.cutmix > 0:
        choices.append(v2.CutMix(alpha=options.cutmix, num_classes=num_classes))
    if not choices:
        return None
    return choices[0] if len(choices) == 1 else v2.RandomChoice(choices)


def _mix(mixer: Callable, clips: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision import tv_tensors

    video = tv_tensors.Video(clips.transpose(1, 2))  # (B, T, C, H, W): torchvision's video layout
    mixed, soft = mixer(video, labels)
    return mixed.as_subclass(torch.Tensor).transpose(1, 2).contiguous(), soft


def evaluate_clips(
    model: torch.nn.Module,
    samples: Sequence[tuple[str, int]],
    prep,
    batch_size: int,
    workers: int,
    device: torch.device,
    amp: torch.dtype | None,
    dist_info: Dist,
    num_classes: int,
) -> tuple[float | None, float | None, float | None]:
    """Loss, top-1 and top-5 (None with 5 classes or fewer) on centre clips, across processes."""
    if not samples:
        return None, None, None
    mine = list(samples)[dist_info.rank :: dist_info.world]
    loader = DataLoader(
        EvalClips(mine, prep),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=drop_failed,
        worker_init_fn=_worker_init,
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
    loss, top1, top5, count = _all_sum(totals, dist_info)
    if not count:
        return None, None, None
    return loss / count, top1 / count, (top5 / count if num_classes > 5 else None)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # workers decode; many threads each would oversubscribe the cores


def train(
    train_samples: Sequence[tuple[str, int]],
    labels: Sequence[str],
    out_dir: str | os.PathLike[str],
    model: str,
    options: TrainOptions = TrainOptions(),
    *,
    val_samples: Sequence[tuple[str, int]] | None = None,
    tokenlearner: TokenLearnerConfig | None = None,
    resume: bool = False,
    device: str = "auto",
    provenance: dict[str, Any] | None = None,
    on_step: Callable[[int, int, int], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``(path, class index)`` samples; write ``OUT/model.safetensors``.

    Without ``val_samples``, ``options.val_fraction`` of the training samples (stratified,
    seeded) is held out. ``on_step(epoch, step, steps)`` and ``on_epoch(record)`` report
    progress; only the first process writes files.
    """
    from vidclass.inference.predictor import resolve_device

    out = Path(out_dir)
    dev = resolve_device(device)
    dist_info = setup_distributed(dev)
    if dev.type == "cuda" and dist_info.world > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    say = log if (log is not None and dist_info.main) else (lambda message: None)
    samples = list(train_samples)
    if val_samples is None and options.val_fraction > 0:
        train_idx, val_idx = split_validation([label for _, label in samples], options.val_fraction, options.seed)
        val_samples = [samples[i] for i in val_idx]
        samples = [samples[i] for i in train_idx]
    val_samples = list(val_samples or [])
    if options.batch_size % dist_info.world:
        raise ValueError(f"batch size {options.batch_size} does not split across {dist_info.world} processes")
    if len(samples) < options.batch_size:
        raise ValueError(f"{len(samples)} training videos for a batch of {options.batch_size}: lower --batch-size")

    classifier, origin = prepare_model(model, labels, options, tokenlearner)
    if origin.get("newly_initialised"):
        say(
            f"newly initialised: {', '.join(origin['newly_initialised'][:8])}"
            f"{' ...' if len(origin['newly_initialised']) > 8 else ''}"
        )
    net = classifier.model.to(dev)
    optimizer = make_optimizer(net, options)
    per_rank = options.batch_size // dist_info.world
    steps_per_epoch = math.ceil(len(samples) // dist_info.world // per_rank / options.accumulate)
    total_steps = steps_per_epoch * options.epochs
    warmup = round(options.warmup_epochs * steps_per_epoch)
    start_epoch, step = 0, 0
    records: list[EpochRecord] = []
    if resume:
        loaded, state = _load_checkpoint(out, optimizer)
        if loaded.labels != tuple(labels):
            raise ValueError("the checkpoint was trained on other classes than this dataset")
        if state["options"] != json.loads(json.dumps(options.to_dict())):
            raise ValueError("resume with the options the run started with (they are in OUT/checkpoint/state.json)")
        net.load_state_dict(loaded.model.state_dict())
        start_epoch, step = state["epoch"] + 1, state["step"]
        records = [EpochRecord(**r) for r in state["records"]]
        origin = state["origin"]
        say(f"resuming after epoch {state['epoch'] + 1} (step {step})")
    elif dist_info.main and (out / CHECKPOINT).exists():
        raise FileExistsError(f"{out} already holds a training run: pass --resume to continue it, or another folder")
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total_steps, warmup, options.min_lr / options.lr), last_epoch=step - 1
    )
    if dist_info.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(net, device_ids=[dev.index] if dev.type == "cuda" else None)
    else:
        ddp = net
    if options.workers and dev.type == "cpu":  # decoding processes take cores: leave them theirs
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist_info.world - options.workers))
    amp = autocast_dtype(options.precision, dev)
    mixer = _mixer(options, len(labels))
    dataset = TrainClips(samples, classifier.preprocessing, options.augment, options.seed)
    if dist_info.main:
        out.mkdir(parents=True, exist_ok=True)
        if not resume:
            (out / METRICS).write_text("")

    for epoch in range(start_epoch, options.epochs):
        torch.manual_seed(options.seed * 100_003 + epoch * 1_009 + dist_info.rank)
        dataset.set_epoch(epoch)
        indices = _epoch_indices(len(dataset), epoch, options.seed, dist_info)
        batches = [indices[i : i + per_rank] for i in range(0, len(indices) - per_rank + 1, per_rank)]
        loader = DataLoader(
            dataset,
            batch_sampler=batches,
            num_workers=options.workers,
            collate_fn=drop_failed,
            worker_init_fn=_worker_init,
        )
        ddp.train()
        started = time.perf_counter()
        sums = [0.0, 0.0, 0.0, 0.0]  # loss sum, top-1 hits, clips, failed
        optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(loader):
            clips, targets, failed = batch
            sums[3] += failed
            clips, targets = clips.to(dev), targets.to(dev)
            hard = targets
            if mixer is not None:
                clips, targets = _mix(mixer, clips, targets)
            last = (i + 1) % options.accumulate == 0 or i + 1 == len(batches)
            sync = ddp.no_sync() if (dist_info.world > 1 and not last) else contextlib.nullcontext()
            with sync:
                with torch.autocast(dev.type, dtype=amp or torch.float32, enabled=amp is not None):
                    logits = ddp(clips).float()
                loss = F.cross_entropy(logits, targets, label_smoothing=options.label_smoothing)
                (loss / options.accumulate).backward()
            if last:
                if options.clip_grad > 0:
                    torch.nn.utils.clip_grad_norm_(net.parameters(), options.clip_grad)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
            sums[0] += loss.item() * len(hard)
            sums[1] += (logits.argmax(1) == hard).sum().item()
            sums[2] += len(hard)
            if on_step is not None and dist_info.main:
                on_step(epoch, i + 1, len(batches))
        elapsed = time.perf_counter() - started
        loss_sum, hits, count, failed = _all_sum(sums, dist_info)
        val_loss, val_top1, val_top5 = evaluate_clips(
            net, val_samples, classifier.preprocessing, per_rank, options.workers, dev, amp, dist_info, len(labels)
        )
        record = EpochRecord(
            epoch=epoch + 1,
            step=step,
            lr=optimizer.param_groups[0]["lr"],
            train_loss=loss_sum / max(count, 1),
            train_top1=(hits / count if count and mixer is None else None),
            val_loss=val_loss,
            val_top1=val_top1,
            val_top5=val_top5,
            clips_per_second=count / elapsed if elapsed else 0.0,
            seconds=elapsed,
            failed=int(failed),
        )
        records.append(record)
        if dist_info.main:
            with open(out / METRICS, "a", encoding="utf-8") as f:
                f.write(json.dumps(record.to_dict()) + "\n")
            classifier.provenance = {
                **(provenance or {}),
                **origin,
                "recipe": options.to_dict(),
                "epochs_trained": epoch + 1,
                "metrics": record.to_dict(),
            }
            _save_checkpoint(
                out,
                classifier,
                optimizer,
                {
                    "epoch": epoch,
                    "step": step,
                    "options": options.to_dict(),
                    "origin": origin,
                    "records": [r.to_dict() for r in records],
                },
            )
        if on_epoch is not None and dist_info.main:
            on_epoch(record)
    final = out / FINAL
    if dist_info.main:
        classifier.provenance = {
            **(provenance or {}),
            **origin,
            "recipe": options.to_dict(),
            "epochs_trained": options.epochs,
            "metrics": records[-1].to_dict() if records else None,
        }
        save_model(classifier, final)
    if dist_info.world > 1:
        import torch.distributed as dist

        dist.barrier()
    return TrainResult(final, records, classifier)


__all__ = [
    "Augment",
    "EpochRecord",
    "TrainOptions",
    "TrainResult",
    "autocast_dtype",
    "lr_factor",
    "parse_tokenlearner",
    "prepare_model",
    "train",
]
