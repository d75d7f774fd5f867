"""``vidclass train``: train or fine-tune a model on a labelled video dataset."""

from __future__ import annotations

from typing import Any

import click

from vidclass.cli.common import document_format_option
from vidclass.cli.output import CliError, Messages, document_format, write_document
from vidclass.cli.tables import train_tables
from vidclass.defaults import (
    DEVICES,
    KERNEL_INITS,
    TRAIN_ACCUMULATE,
    TRAIN_BATCH_SIZE,
    TRAIN_CLIP_GRAD,
    TRAIN_CUTMIX,
    TRAIN_EPOCHS,
    TRAIN_KERNEL_INIT,
    TRAIN_LABEL_SMOOTHING,
    TRAIN_LR,
    TRAIN_MIXUP,
    TRAIN_PRECISE_BN,
    TRAIN_PRECISION,
    TRAIN_PRECISIONS,
    TRAIN_SEED,
    TRAIN_VAL_FRACTION,
    TRAIN_WARMUP_EPOCHS,
    TRAIN_WEIGHT_DECAY,
    TRAIN_WORKERS,
)
from vidclass.errors import EXIT_FAILED_INPUT


def _samples(dataset: Any, classes: list[str], messages: Messages, what: str, multi_label: bool) -> list[Any]:
    """``(path, class index)`` per video, or ``(path, class indices of its label set)`` for a
    multi-label run (a single-label dataset's videos are sets of one); a single-label run on a
    multi-label dataset takes it only when every video has exactly one label."""
    from vidclass.data import normalize_label

    index = {normalize_label(label): i for i, label in enumerate(classes)}
    unknown = sorted({x for s in dataset.samples for x in s.label_set if normalize_label(x) not in index})
    if unknown:
        raise CliError(f"{what} has labels the training set does not: {', '.join(unknown[:10])}")
    if dataset.missing:
        messages.warning(f"{what}: {len(dataset.missing)} listed videos are missing on disk and left out")
    if multi_label:
        return [(s.path, tuple(index[normalize_label(x)] for x in s.label_set)) for s in dataset.samples]
    for s in dataset.samples:
        if len(s.label_set) != 1:
            has = f"{len(s.label_set)} labels ({'; '.join(s.label_set)})" if s.label_set else "no label"
            raise CliError(
                f"--single-label: {s.path} has {has}: a single-label model takes videos with exactly one label "
                "each: leave --single-label out to train a multi-label model"
            )
    return [(s.path, index[normalize_label(s.label_set[0])]) for s in dataset.samples]


def _named(ids: list[str], names: dict[str, str]) -> list[str]:
    """The model's labels: each label id's name from the dataset's class list (Charades'
    ``c092`` -> ``Sitting on a table``) when every id has one and the names are distinct,
    else the ids as they are."""
    named = [names.get(label, "") for label in ids]
    if names and all(named) and len(set(named)) == len(named):
        return named
    return ids


@click.command("train")
@click.argument("dataset_dir", type=click.Path(exists=True))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for the checkpoint, metrics.jsonl and the final model.safetensors.",
)
@click.option(
    "-m",
    "--model",
    "model",
    required=True,
    metavar="CONFIG|FILE",
    help="A registry configuration to train from scratch (see vidclass models), or a model file or other "
    "--model source to fine-tune (e.g. one made by vidclass convert --init from an image ViT).",
)
@click.option(
    "--tokenlearner",
    metavar="SPEC",
    help="Insert a TokenLearner. ViViT: TOKENSatLAYER[+fuser][,v1.0], e.g. 8at6; "
    "X3D: TOKENSatSTAGE[,mhsa][,v1.1][,layers=N], e.g. 8at4.",
)
@click.option(
    "--annotations",
    type=click.Path(exists=True, dir_okay=False),
    help="An annotation file (CSV or 'path label' lines) instead of class folders.",
)
@click.option("--val", "val_dir", type=click.Path(exists=True), help="A validation dataset (same layouts).")
@click.option(
    "--val-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=TRAIN_VAL_FRACTION,
    show_default=True,
    help="Without --val: the fraction of the videos held out for validation, stratified and seeded (0: none).",
)
@click.option("--epochs", type=click.IntRange(min=1), default=TRAIN_EPOCHS, show_default=True)
@click.option(
    "-b",
    "--batch-size",
    type=click.IntRange(min=1),
    default=TRAIN_BATCH_SIZE,
    show_default=True,
    help="Global batch (split across torchrun processes).",
)
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=TRAIN_LR, show_default=True, help="Peak learning rate."
)
@click.option("--weight-decay", type=click.FloatRange(min=0), default=TRAIN_WEIGHT_DECAY, show_default=True)
@click.option("--warmup-epochs", type=click.FloatRange(min=0), default=TRAIN_WARMUP_EPOCHS, show_default=True)
@click.option(
    "--accumulate",
    type=click.IntRange(min=1),
    default=TRAIN_ACCUMULATE,
    show_default=True,
    help="Gradient accumulation steps.",
)
@click.option(
    "--clip-grad",
    type=click.FloatRange(min=0),
    default=TRAIN_CLIP_GRAD,
    show_default=True,
    help="Max gradient norm (0: off).",
)
@click.option("--label-smoothing", type=click.FloatRange(0, 1), default=TRAIN_LABEL_SMOOTHING, show_default=True)
@click.option(
    "--mixup", type=click.FloatRange(min=0), default=TRAIN_MIXUP, show_default=True, help="MixUp alpha (0: off)."
)
@click.option(
    "--cutmix", type=click.FloatRange(min=0), default=TRAIN_CUTMIX, show_default=True, help="CutMix alpha (0: off)."
)
@click.option(
    "--multi-label/--single-label",
    "multi_label",
    default=None,
    help="Train a multi-label model (a sigmoid per class, binary cross-entropy on each video's label set) "
    "or a single-label one (one softmax). Default: as the dataset is (a path,labels CSV is multi-label).",
)
@click.option("--drop-path", type=click.FloatRange(0, 1), help="Stochastic depth rate (default: the model's).")
@click.option("--dropout", type=click.FloatRange(0, 1), help="Dropout rate (default: the model's).")
@click.option(
    "--kernel-init",
    type=click.Choice(KERNEL_INITS),
    help="A new model's tubelet kernel: random (default), or difference: most channels start as "
    "temporal-difference filters, which sees motion from the first step (for motion-defined classes).",
)
@click.option(
    "--precise-bn",
    type=click.IntRange(min=0),
    default=TRAIN_PRECISE_BN,
    show_default=True,
    help="After each epoch, recompute BatchNorm statistics over this many training batches (X3D; 0: off).",
)
@click.option("--hflip", is_flag=True, help="Random horizontal flips. Off by default: they swap left/right motion.")
@click.option("--no-randaugment", is_flag=True, help="Turn RandAugment off.")
@click.option(
    "--time-reversal",
    metavar="SPEC",
    help="Reverse half of the training clips of the classes SPEC names, each labelled as its twin: a:b "
    "(a reversed a is a b, and back), c (c is its own reverse), by commas; e.g. "
    "moving_left:moving_right,static. twins: the twins of a vidclass synth set's synth.json. Single-label only.",
)
@click.option(
    "--precision",
    type=click.Choice(TRAIN_PRECISIONS),
    default=TRAIN_PRECISION,
    show_default=True,
    help="auto: bf16 autocast where the device computes bf16 natively.",
)
@click.option(
    "--classes",
    "classes_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A class list (lines 'ID name', as Charades_v1_classes.txt): the model's labels are the names of "
    "the dataset's label ids. Default: the one found beside a Charades CSV, if any.",
)
@click.option("--seed", type=int, default=TRAIN_SEED, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=TRAIN_WORKERS,
    show_default=True,
    help="Decoding processes per training process.",
)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --output from its last checkpoint, with the same options; only --epochs may "
    "change (raise it to train a finished run further).",
)
@document_format_option()
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or per-epoch lines.")
def train_command(
    dataset_dir: str,
    out_dir: str,
    model: str,
    tokenlearner: str | None,
    annotations: str | None,
    val_dir: str | None,
    val_fraction: float,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    warmup_epochs: float,
    accumulate: int,
    clip_grad: float,
    label_smoothing: float,
    mixup: float,
    cutmix: float,
    multi_label: bool | None,
    drop_path: float | None,
    kernel_init: str | None,
    precise_bn: int,
    dropout: float | None,
    hflip: bool,
    no_randaugment: bool,
    time_reversal: str | None,
    precision: str,
    classes_file: str | None,
    seed: int,
    workers: int,
    device: str,
    resume: bool,
    fmt: str | None,
    quiet: bool,
) -> None:
    """Train MODEL on the labelled videos in DATASET_DIR.

    Layouts as for eval: class folders (DATASET_DIR/<label>/<video>) or an annotation file.
    Each epoch samples one random clip per video (random start, short side jittered as 256-320
    is to 224, random crop, RandAugment over the whole clip), ends with a checkpoint in
    --output, and appends a line to --output/metrics.jsonl. Run under
    `torchrun --nproc_per_node N -m vidclass train ...` for DistributedDataParallel.
    """
    from vidclass.data import DatasetError, load_dataset
    from vidclass.data.reversal import TWINS_KEYWORD, parse_spec, synth_twins_spec
    from vidclass.data.training import Augment
    from vidclass.distributed import env_rank
    from vidclass.training import EpochRecord, StepRecord, TrainOptions, train

    messages = Messages(quiet=quiet)
    try:
        dataset = load_dataset(dataset_dir, annotations, classes=classes_file)
        multi = dataset.multi_label if multi_label is None else multi_label
        ids = dataset.classes
        classes = _named(ids, dataset.class_names)
        reversal = time_reversal or ""
        if time_reversal is not None and time_reversal.strip() == TWINS_KEYWORD:
            reversal = synth_twins_spec(dataset_dir, classes)
        elif time_reversal is not None:
            parse_spec(time_reversal)  # an empty SPEC is refused: leaving the option out turns it off
        options = TrainOptions(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            warmup_epochs=warmup_epochs,
            accumulate=accumulate,
            clip_grad=clip_grad,
            label_smoothing=label_smoothing,
            mixup=mixup,
            cutmix=cutmix,
            drop_path=drop_path,
            dropout=dropout,
            precision=precision,
            seed=seed,
            workers=workers,
            val_fraction=0.0 if val_dir else val_fraction,
            augment=Augment(hflip=hflip, randaugment=not no_randaugment, time_reversal=reversal),
            kernel_init=kernel_init or TRAIN_KERNEL_INIT,
            precise_bn=precise_bn,
            multi_label=multi,
        )
        if len(ids) < 2:
            raise CliError(f"{dataset_dir}: {len(ids)} class found; training needs at least 2")
        samples = _samples(dataset, ids, messages, "the training set", multi)
        val = None
        if val_dir:
            val = _samples(load_dataset(val_dir, classes=classes_file), ids, messages, "the validation set", multi)
    except (ValueError, DatasetError) as exc:
        raise CliError.from_exception(exc) from exc

    with messages.progress(None, messages.show_progress(False), "training", status=True) as tracker:

        def on_step(record: StepRecord) -> None:
            tracker.update(
                (record.epoch - 1) * record.batches + record.batch,
                epochs * record.batches,
                f"epoch {record.epoch}/{epochs}",
                f"loss {record.train_loss:.4f}, {record.clips_per_second:.1f} clips/s",
            )

        def on_epoch(record: EpochRecord) -> None:
            parts = [f"epoch {record.epoch}/{epochs}", f"loss {record.train_loss:.4f}"]
            if record.val_top1 is not None:
                parts.append(f"val top-1 {100 * record.val_top1:.1f}%")
            if record.val_map is not None:
                parts.append(f"val mAP {100 * record.val_map:.1f}%")
            parts.append(f"{record.clips_per_second:.1f} clips/s")
            messages.note(", ".join(parts))

        try:
            result = train(
                samples,
                classes,
                out_dir,
                model,
                options,
                val_samples=val,
                tokenlearner=tokenlearner or None,
                resume=resume,
                device=device,
                log=messages.note,
                provenance={"dataset": dataset_dir, "classes": len(classes), "videos": len(samples)},
                on_step=on_step,
                on_epoch=on_epoch,
                on_failure=messages.input_error,
            )
        except (ValueError, FileExistsError, FileNotFoundError) as exc:
            raise CliError.from_exception(exc) from exc
    if env_rank() != 0:  # under torchrun, the first process reports for all of them
        return
    write_document(
        {
            "model": str(result.model_path),
            "classes": classes,
            "multi_label": result.classifier.multi_label,
            "epochs": [r.to_dict() for r in result.records],
        },
        document_format(fmt),
        train_tables,
    )
    if result.failed:  # each was one error line; training went on without it, and the model is written
        raise click.exceptions.Exit(EXIT_FAILED_INPUT)


__all__ = ["train_command"]
