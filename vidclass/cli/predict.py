"""``vidclass predict``: classify videos, one result per input, in input order."""

from __future__ import annotations

import click

from vidclass.cli.common import (
    TOP_K,
    build_run_options,
    load_classifier,
    model_option,
    note_bundled_model,
    resolve_workers,
    run_options,
    runtime_option,
    threshold_option,
    verbose_option,
    view_options,
    workers_option,
)
from vidclass.cli.output import RESULT_FORMATS, CliError, Messages, result_format
from vidclass.cli.results import open_results, refuse_input_as_output
from vidclass.cli.signals import Terminated
from vidclass.cli.writers import WRITERS
from vidclass.defaults import DECODERS, DEFAULT_TOP_K
from vidclass.errors import EXIT_FAILED_INPUT, EXIT_OK


@click.command("predict")
@click.argument("paths", nargs=-1, type=click.Path(readable=False))  # an unreadable file: an error record
@model_option
@click.option(
    "--top-k",
    "-k",
    type=TOP_K,
    default=DEFAULT_TOP_K,
    show_default=True,
    help="Labels reported per video.",
)
@threshold_option
@view_options
@run_options
@runtime_option
@click.option(
    "--decoder",
    type=click.Choice(DECODERS),
    default="auto",
    show_default=True,
    help="auto: decord, then PyAV for files decord fails on.",
)
@workers_option
@verbose_option
@click.option("--recursive", "-r", is_flag=True, help="Take videos from all levels below directories.")
@click.option("--null", "-0", is_flag=True, help="Paths on stdin (-) are NUL-separated, as find -print0 writes them.")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(RESULT_FORMATS),
    help="Default: table on a terminal, jsonl otherwise (or from --output's suffix).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write results to this file instead of stdout.",
)
@click.option("--scores", is_flag=True, help="Include every class's probability.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or notes (errors still show).")
@click.pass_context
def predict_command(
    ctx: click.Context,
    paths: tuple[str, ...],
    model: str | None,
    top_k: int,
    threshold: float,
    clips: int | None,
    crops: int | None,
    aggregate: str | None,
    batch_size: int,
    device: str,
    precision: str,
    compile: bool,
    runtime: str,
    decoder: str,
    workers: int | None,
    timeout: float,
    verbose: bool,
    recursive: bool,
    null: bool,
    fmt: str | None,
    output: str | None,
    scores: bool,
    quiet: bool,
) -> None:
    """Classify videos: files, directories, or - to read paths from stdin (one per line).

    Each video is run over the model's multi-view protocol (clips x crops), and its views'
    scores are aggregated. A multi-label model's results also list its predicted set (every
    label at or above --threshold). Results go to stdout; progress and one line per failed video go
    to stderr. Exit status: 0 when every video worked, 1 when any failed, 2 for usage errors.
    """
    from vidclass.cli.inputs import collect_inputs
    from vidclass.inference.decode_queue import prestart

    messages = Messages(quiet=quiet)
    inputs, problems = collect_inputs(paths, recursive, null)
    refuse_input_as_output(output, inputs)  # stdin's paths are all read by now
    # every input decodes in a worker process, where a crash or hang costs that file alone
    options = build_run_options(ctx.params, workers=resolve_workers(workers, len(inputs)))
    prestart(options)  # the workers' imports run beside this process's torch import and model loading

    from vidclass.inference import CompileError, Predictor
    from vidclass.scores import Prediction

    classifier = load_classifier(model)
    note_bundled_model(classifier, messages)
    try:
        predictor = Predictor(classifier, options)
    except (ValueError, CompileError) as exc:
        raise CliError.from_exception(exc, str(exc)) from exc

    fmt = result_format(fmt, output)
    writer_class = WRITERS[fmt]
    failed = 0
    interrupted: KeyboardInterrupt | None = None
    # json and table are written at the end: into a temporary file, renamed over --output
    with predictor, open_results(output, atomic=not writer_class.streaming) as stream:
        writer = writer_class(stream, predictor.describe(), scores=scores)
        show = messages.show_progress(streaming_to_stdout=writer_class.streaming and not _to_file(output))
        writer.begin()
        try:
            with messages.progress(len(inputs), show, predictor.classifier.name) as tracker:
                # Views of consecutive videos share batches; each video comes back, in order, as
                # soon as the batch holding its last view has run, and is written (and flushed).
                results = predictor.predict_many(p for p, problem in zip(inputs, problems, strict=True) if not problem)
                for path, problem in zip(inputs, problems, strict=True):
                    tracker.current(path)
                    if not problem:
                        prediction = next(results)
                    else:  # a directory argument with no videos, say
                        prediction = Prediction(
                            path=path, error=problem, class_names=predictor.labels, multi_label=predictor.multi_label
                        )
                    writer.write(prediction)
                    if not prediction.ok:
                        failed += 1
                        messages.input_error(prediction.path, prediction.error or "failed")
                    tracker.advance()
        except KeyboardInterrupt as exc:
            if isinstance(exc, Terminated):  # SIGTERM abandons the run: a json or table --output keeps its old content
                raise
            interrupted = exc  # Ctrl-C: what was done so far is written, as a valid document
        writer.end()
    if interrupted is not None:  # one line, exit 130
        raise CliError.from_exception(interrupted) from None
    if show:  # a summary only where the bar was: piped stderr holds just the error lines
        where = f"; wrote {output}" if _to_file(output) else ""
        messages.note(f"{len(inputs) - failed} of {len(inputs)} videos classified{where}")
    ctx.exit(EXIT_FAILED_INPUT if failed else EXIT_OK)


def _to_file(output: str | None) -> bool:
    return output is not None and output != "-"


__all__ = ["predict_command"]
