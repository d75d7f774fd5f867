"""``vidclass eval DATASET``: evaluate a model on a labelled dataset."""

from __future__ import annotations

import os

import click

from vidclass.cli.common import (
    METRICS_FORMATS,
    TOP_K,
    build_run_options,
    document_format_option,
    load_classifier,
    model_option,
    resolve_workers,
    run_options,
    runtime_option,
    threshold_option,
    verbose_option,
    view_options,
    workers_option,
)
from vidclass.cli.output import CliError, Messages, document_format, write_document
from vidclass.cli.signals import stop_status, stop_word
from vidclass.defaults import DEFAULT_TOP_K, LAYOUTS
from vidclass.errors import EXIT_OK, VidclassError


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from vidclass.data import parse_shard

    try:
        parse_shard(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    return value


@click.command("eval")
@click.argument("dataset", type=click.Path())
@click.option(
    "--annotations",
    "-a",
    type=click.Path(dir_okay=False),
    help="Annotation file to read (Kinetics CSV, path,label CSV, or 'path label' lines). Default: the one in DATASET, else class folders.",
)
@click.option(
    "--classes",
    type=click.Path(exists=True, dir_okay=False),
    help="A class list (lines 'ID name', as Charades_v1_classes.txt) naming the dataset's label ids, so "
    "they match a model labelled by name. Default: the one found beside a Charades CSV, if any.",
)
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    default="auto",
    show_default=True,
    help="Force a layout: class folders, or an annotation format.",
)
@click.option(
    "--ignore-unknown",
    is_flag=True,
    help="Skip videos whose label the model lacks; in a multi-label dataset, leave such labels out of "
    "the videos' label sets (default: an error).",
)
@click.option(
    "--allow-outside-root",
    is_flag=True,
    help="Read annotation paths that lead outside the dataset root (../ or absolute; default: an error).",
)
@model_option
@view_options
@run_options
@runtime_option
@workers_option
@click.option(
    "--top-k",
    "-k",
    type=TOP_K,
    default=DEFAULT_TOP_K,
    show_default=True,
    help="Labels kept per video in predictions.jsonl (at least 5).",
)
@threshold_option
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False),
    help="Folder for predictions.jsonl, metrics.json, per_class.csv, confusion.csv and confusion.png "
    "(multi-label: metrics.json, per_class.csv and ap.png).",
)
@click.option("--resume", is_flag=True, help="Continue OUTPUT/predictions.jsonl: skip the videos already scored.")
@click.option("--overwrite", is_flag=True, help="Start OUTPUT/predictions.jsonl again if it exists.")
@click.option(
    "--save-scores",
    is_flag=True,
    help="Keep every class's probability in predictions.jsonl (then the metrics add mAP; multi-label runs always keep them).",
)
@click.option(
    "--shard",
    metavar="I/N",
    callback=_shard,
    help="Evaluate only shard I of N (0 <= I < N): every N-th video from the I-th.",
)
@click.option("--limit", type=click.IntRange(min=1), metavar="K", help="Evaluate a stratified sample of K videos.")
@document_format_option(METRICS_FORMATS)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or notes (errors still show).")
@verbose_option
@click.pass_context
def eval_command(
    ctx: click.Context,
    dataset: str,
    annotations: str | None,
    classes: str | None,
    layout: str,
    ignore_unknown: bool,
    allow_outside_root: bool,
    model: str | None,
    clips: int | None,
    crops: int | None,
    aggregate: str | None,
    batch_size: int,
    device: str,
    precision: str,
    compile: bool,
    runtime: str,
    workers: int | None,
    timeout: float,
    top_k: int,
    threshold: float,
    output: str | None,
    resume: bool,
    overwrite: bool,
    save_scores: bool,
    shard: str | None,
    limit: int | None,
    fmt: str | None,
    quiet: bool,
    verbose: bool,
) -> None:
    """Evaluate a model on the labelled videos in DATASET.

    DATASET is a folder of class folders (DATASET/<label>/<video>), a folder with an
    annotation file, or an annotation file: a Kinetics CSV
    (label,youtube_id,time_start,time_end,split), a path,label CSV, or 'path label'
    lines, paths relative to the file. Dataset labels match the model's ignoring case,
    underscores and quotes; videos listed but not on disk are counted as missing.

    Prints top-1/top-5 accuracy, mean class accuracy, the worst classes and the most confused
    pairs. A multi-label dataset (a path,labels CSV, Charades' CSV, or class folders with
    .labels sidecars) or model prints mAP, micro/macro F1 and example-based precision and
    recall at --threshold, and the classes of lowest AP. With --output, each video's result is appended to predictions.jsonl as soon as it
    is done, and --resume continues an interrupted run. Under torchrun the videos are split
    across the processes. Exit status: 0 when every video was scored, 1 when any failed or
    was missing, or none was scored (all ignored), 2 for usage errors.
    """
    from vidclass.cli.eval_output import CliListener, metrics_tables
    from vidclass.distributed import env_rank, launched
    from vidclass.evaluation import PREDICTIONS, Listener, evaluate, exit_status, report_files
    from vidclass.evaluation.documents import nothing_scored

    workers = resolve_workers(workers)
    distributed = launched()
    main = not distributed or env_rank() == 0
    messages = Messages(quiet=quiet or not main)
    if resume and output is None:
        raise click.UsageError("--resume needs --output DIR")
    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite contradict each other")
    classifier = load_classifier(model)
    listener: Listener = CliListener(messages) if main else Listener()
    try:
        metrics = evaluate(
            dataset,
            classifier,
            annotations=annotations,
            classes=classes,
            layout=layout,
            ignore_unknown=ignore_unknown,
            allow_outside_root=allow_outside_root,
            limit=limit,
            shard=shard,
            output=output,
            resume=resume,
            overwrite=overwrite,
            save_scores=save_scores,
            listener=listener,
            options=build_run_options(ctx.params, workers=max(1, workers)),
            isolate=workers > 0,  # -j 0: one video at a time, decoded in this process
        )
    except VidclassError as exc:
        listener.finish()
        error = CliError.from_exception(exc)
        if not main:
            ctx.exit(error.exit_code)
        raise error from exc
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: one line, exit 130 or 143
        listener.finish()
        if not main:
            ctx.exit(stop_status(exc))
        where = (
            f"; results so far are in {os.path.join(output, PREDICTIONS)}: add --resume to continue" if output else ""
        )
        raise CliError.from_exception(exc, f"{stop_word(exc)}{where}") from None
    if not main:
        # Rank 0 reports and sets the exit status; a non-zero exit here would make torchrun
        # stop rank 0 before it has printed.
        ctx.exit(EXIT_OK)
    write_document(metrics, document_format(fmt), metrics_tables)
    if output is not None:
        messages.note(f"wrote {', '.join([PREDICTIONS, *report_files(metrics)])} in {output}")
    problem = nothing_scored(metrics)
    if problem:
        messages.error(problem)
    ctx.exit(exit_status(metrics))


__all__ = ["eval_command"]
