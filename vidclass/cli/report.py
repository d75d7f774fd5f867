"""``vidclass report PRED.jsonl...``: metrics and reports from saved predictions."""

from __future__ import annotations

import click

from vidclass.cli.common import METRICS_FORMATS, document_format_option
from vidclass.cli.output import CliError, Messages, document_format, write_document
from vidclass.errors import VidclassError


@click.command("report")
@click.argument("predictions", nargs=-1, required=True, type=click.Path())
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False),
    help="Folder for metrics.json, per_class.csv, confusion.csv and confusion.png (multi-label: "
    "metrics.json, per_class.csv and ap.png).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    help="Multi-label runs: score F1, precision and recall at this threshold instead of the run's "
    "(mAP does not depend on it).",
)
@document_format_option(METRICS_FORMATS)
@click.option("--quiet", "-q", is_flag=True, help="No notes (warnings and errors still show).")
@click.pass_context
def report_command(
    ctx: click.Context,
    predictions: tuple[str, ...],
    output: str | None,
    threshold: float | None,
    fmt: str | None,
    quiet: bool,
) -> None:
    """Metrics from predictions.jsonl files written by vidclass eval.

    Give any number of files (or the eval --output folders holding them): shards (--shard),
    resumed runs, or copies. Each video counts
    once; a scored result beats a failed one, and results that disagree are refused. The
    metrics are those vidclass eval prints for the same videos; a multi-label run's mAP is
    computed again from every video's scores. Exit status: 0 when every
    video was scored, 1 when any failed, was missing or has no result, 2 for usage errors.
    """
    from vidclass.cli.eval_output import CliListener, metrics_tables
    from vidclass.evaluation import exit_status, report, report_files
    from vidclass.evaluation.documents import nothing_scored

    messages = Messages(quiet=quiet)
    listener = CliListener(messages)
    try:
        metrics = report(predictions, output=output, listener=listener, threshold=threshold)
    except (VidclassError, ValueError) as exc:
        raise CliError.from_exception(exc) from exc
    except OSError as exc:
        raise CliError.from_exception(exc, f"--output {output}: {exc.strerror or exc}") from exc
    write_document(metrics, document_format(fmt), metrics_tables)
    if output is not None:
        messages.note(f"wrote {', '.join(report_files(metrics))} in {output}")
    problem = nothing_scored(metrics)
    if problem:
        messages.error(problem)
    ctx.exit(exit_status(metrics))


__all__ = ["report_command"]
