"""``vidclass timeline``: what happens when in a long video, window by window, then as segments."""

from __future__ import annotations

import os
from typing import Any

import click

from vidclass.cli.common import (
    TOP_K,
    build_run_options,
    load_classifier,
    model_option,
    note_bundled_model,
    resolve_workers,
    run_options,
    verbose_option,
    workers_option,
)
from vidclass.cli.output import CliError, Messages, dumps, isatty, make_console, printable, stdout
from vidclass.cli.results import open_results, refuse_input_as_output
from vidclass.defaults import DECODERS, DEFAULT_TOP_K
from vidclass.errors import EXIT_FAILED_INPUT, EXIT_OK
from vidclass.serialize import csv_row

FORMATS = ("table", "jsonl", "csv", "json")
CSV_COLUMNS = ("path", "type", "start", "end", "label", "score")


def _seconds(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not (0 < value < float("inf")):
        raise click.BadParameter("must be a positive number of seconds", ctx, param)
    return value


@click.command("timeline")
@click.argument("paths", nargs=-1, required=True, type=click.Path(readable=False, dir_okay=False))
@model_option
@click.option("--window", type=float, callback=_seconds, help="Seconds per window. Default: the model's clip span.")
@click.option(
    "--stride", type=float, callback=_seconds, help="Seconds between window starts. Default: half the window."
)
@click.option(
    "--crops",
    type=click.Choice(["1", "3"]),
    default="1",
    show_default=True,
    help="1: the centre; 3: left, centre and right, averaged.",
)
@click.option(
    "--smooth",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    metavar="N",
    help="Moving average over N windows before segments are merged.",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    metavar="P",
    help="Windows whose top score is below P are background (label null).",
)
@click.option("--top-k", "-k", type=TOP_K, default=DEFAULT_TOP_K, show_default=True, help="Labels per window record.")
@click.option("--scores", is_flag=True, help="Every class's probability in each window record.")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMATS),
    help="table: the segments; jsonl: window records as they come, then segments; csv: one row per window and segment; json: one document. Default: table on a terminal, jsonl otherwise.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the records to this file instead of stdout.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    metavar="OUT.png",
    help="Draw the top classes' probabilities over time and the segments (one VIDEO).",
)
@click.option(
    "--render",
    type=click.Path(dir_okay=False),
    metavar="OUT.mp4",
    help="Write the video with the current label and score on every frame (one VIDEO).",
)
@click.option(
    "--render-size",
    type=click.IntRange(16, 4320),
    metavar="PX",
    help="--render at this short side. Default: the source's size.",
)
@click.option(
    "--truth",
    type=click.Path(exists=True),
    help="Score against truth: a vidclass synth sequence set (folder or sequences.jsonl): frame accuracy, "
    "segment precision/recall, boundary error; or a Charades-format dataset (its CSV or a folder holding "
    "one; a video is found by its file stem): per-frame mAP at 25 points.",
)
@click.option(
    "--classes",
    type=click.Path(exists=True, dir_okay=False),
    help="With a Charades --truth: its class list (lines 'ID name', as Charades_v1_classes.txt). "
    "Default: the one found beside its CSV, if any.",
)
@run_options
@click.option("--decoder", type=click.Choice(DECODERS), default="auto", show_default=True)
@workers_option
@verbose_option
@click.option("--quiet", "-q", is_flag=True, help="No progress or notes (errors still show).")
@click.pass_context
def timeline_command(
    ctx: click.Context,
    paths: tuple[str, ...],
    model: str | None,
    crops: str,
    fmt: str | None,
    output: str | None,
    plot: str | None,
    render: str | None,
    render_size: int | None,
    truth: str | None,
    classes: str | None,
    workers: int | None,
    quiet: bool,
    **params: Any,
) -> None:
    """Label long videos window by window, then as segments: what happens when.

    Each window is one model clip on the model's own frame-rate grid; adjacent windows with the
    same top label merge into segments that tile the video from 0 to its end. Results go to
    stdout; one line per failed video to stderr. Exit status: 0 when every video worked, 1
    when any failed, 2 for usage errors.
    """
    messages = Messages(quiet=quiet)
    if (plot or render) and len(paths) != 1:
        raise CliError("--plot and --render take one VIDEO")
    for where in (output, plot, render):
        refuse_input_as_output(where, list(paths))
    from vidclass.timelines import TimelineSettings

    try:
        settings = TimelineSettings(
            window=params["window"],
            stride=params["stride"],
            crops=int(crops),
            smooth=params["smooth"],
            min_score=params["min_score"],
            top_k=params["top_k"],
            scores=params["scores"],
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    run_params = {k: v for k, v in ctx.params.items() if k != "crops"}  # crops: per window, not per video
    options = build_run_options(run_params, workers=resolve_workers(workers, 1))
    if classes and not truth:
        raise CliError("--classes names the class list of a Charades --truth; give --truth too")
    truths = _read_truth(truth, classes) if truth else None

    from vidclass.inference import Predictor
    from vidclass.timelines import Timeline, TimelineInputError, finish, segment_record, stream_windows, window_record

    classifier = load_classifier(model)
    note_bundled_model(classifier, messages)
    scorer = _Scorer(truth or "", truths, paths, classifier.labels, messages)
    try:
        predictor = Predictor(classifier, options)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    fmt = fmt or ("table" if output is None and isatty(stdout()) else "jsonl")
    failed = 0
    documents = []
    with predictor, open_results(output, atomic=fmt in ("json", "table")) as stream:
        if fmt == "csv":
            stream.write(csv_row(CSV_COLUMNS))
        for path in paths:
            result = Timeline(path, 0.0, predictor.labels)
            try:
                for scored in stream_windows(predictor, path, settings, result):
                    record = {
                        "path": path,
                        **window_record(scored, predictor.labels, settings.top_k, scores=settings.scores),
                    }
                    _stream(stream, fmt, record)
            except TimelineInputError as exc:
                failed += 1
                messages.input_error(exc.path, str(exc))
                continue
            segs = finish(result, settings)
            for segment in segs:
                _stream(stream, fmt, {"path": path, **segment_record(segment)})
            metrics = scorer.score(result)
            if metrics is not None:
                _stream(stream, fmt, {"path": path, "type": "metrics", **metrics})
            if fmt == "table":
                _table(stream, result, metrics)
            if fmt == "json":
                documents.append(
                    {
                        "path": path,
                        "duration": result.duration,
                        "windows": [
                            window_record(w, predictor.labels, settings.top_k, scores=settings.scores)
                            for w in result.windows
                        ],
                        "segments": [segment_record(s) for s in segs],
                        **({"metrics": metrics} if metrics is not None else {}),
                    }
                )
            if plot:
                from vidclass.timelines.plot import plot as draw

                draw(result.windows, segs, predictor.labels, plot, title=os.path.basename(path))
            if render:
                from vidclass.timelines.labelled import render as write

                write(path, segs, render, size=render_size)
        pooled = scorer.pooled()
        if pooled is not None:
            _stream(stream, fmt, {"path": None, "type": "metrics", **pooled})
            if fmt == "table":
                make_console(stream).print(_metrics_line(pooled, f"{pooled['videos']} videos pooled: "))
        if fmt == "json":
            document = {"model": classifier.name, "videos": documents}
            stream.write(dumps({**document, **({"metrics": pooled} if pooled else {})}, indent=2) + "\n")
    ctx.exit(EXIT_FAILED_INPUT if failed else EXIT_OK)


def _stream(stream: Any, fmt: str, record: dict[str, Any]) -> None:
    if fmt == "jsonl":
        stream.write(dumps(record) + "\n")
        stream.flush()
    elif fmt == "csv" and record["type"] in ("window", "segment"):
        top = record["labels"][0] if record["type"] == "window" else record
        stream.write(
            csv_row([record["path"], record["type"], record["start"], record["end"], top["label"], top["score"]])
        )


def _table(stream: Any, result: Any, metrics: dict[str, Any] | None) -> None:
    from rich.table import Table

    caption = f"{result.duration:.1f} s, {len(result.windows)} windows"
    table = Table(title=printable(result.path), caption=caption)
    for name, justify in (("start", "right"), ("end", "right"), ("label", "left"), ("score", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in result.segments:
        score = "" if s.score is None else f"{s.score:.3f}"
        table.add_row(f"{s.start:.2f}", f"{s.end:.2f}", printable(s.label or "-"), score)
    console = make_console(stream)
    console.print(table)
    if metrics is not None:
        console.print(_metrics_line(metrics))


def _metrics_line(metrics: dict[str, Any], lead: str = "") -> str:
    def figure(key: str) -> str:
        return "-" if metrics[key] is None else f"{metrics[key]:.3f}"

    if "frame_map" in metrics:
        return (
            f"{lead}frame mAP {figure('frame_map')} at {metrics['points']} points, "
            f"{metrics['classes_with_positives']} classes with a positive; chance {figure('chance_frame_map')}"
        )
    error = "-" if metrics["boundary_error"] is None else f"{metrics['boundary_error']:.2f} s"
    return (
        f"frame accuracy {figure('accuracy')}, segments at IoU 0.5: precision {figure('precision')}, "
        f"recall {figure('recall')}; boundary error {error}"
    )


def _read_truth(truth: str, classes: str | None) -> Any:
    """A synth sequence set (a .jsonl file, or a folder holding sequences.jsonl) as ``{path:
    SequenceTruth}``, else a Charades-format dataset as ``ActionTruth``."""
    from vidclass.synth import SEQUENCES, read_sequences

    if os.path.isfile(truth):
        folder, sequences = os.path.dirname(truth), truth.lower().endswith(".jsonl")
    else:
        folder, sequences = truth, os.path.isfile(os.path.join(truth, SEQUENCES))
    if sequences:
        if classes:
            raise CliError(f"--classes is for a Charades --truth; {truth} is a vidclass synth sequence set")
        try:
            return {os.path.normpath(os.path.join(folder, t.path)): t for t in read_sequences(folder)}
        except (OSError, ValueError) as exc:
            raise CliError(f"--truth {truth}: {exc}") from exc
    from vidclass.timelines.actions import read_action_truth

    try:
        return read_action_truth(truth, classes)
    except ValueError as exc:  # DatasetError
        raise CliError(f"--truth {truth}: {exc}") from exc


class _Scorer:
    """Each video's metrics against ``truths`` (None: no truth), and, for Charades truth, the
    points of every video scored, pooled."""

    def __init__(
        self, source: str, truths: Any, paths: tuple[str, ...], labels: tuple[str, ...], messages: Messages
    ) -> None:
        from vidclass.timelines.actions import ActionTruth

        self.truths, self.labels = truths, labels
        self.pool: list[Any] = []  # ActionPoints of each video scored against Charades truth
        self.actions = isinstance(truths, ActionTruth)
        self.mapping: dict[str, str] = {}
        if self.actions:
            found = [s for s in (truths.lookup(p) for p in paths) if s is not None]
            try:
                matched = truths.match(found, labels)
            except ValueError as exc:  # TimelineError
                raise CliError(f"--truth {source}: {exc}") from exc
            self.mapping = matched.mapping
            if matched.unknown:
                shown = ", ".join(matched.unknown[:10]) + (
                    f" and {len(matched.unknown) - 10} more" if len(matched.unknown) > 10 else ""
                )
                messages.warning(
                    f"--truth {source}: {len(matched.unknown)} action class(es) of these videos are not among "
                    f"the model's labels, left out of the frame mAP: {shown}"
                )

    def score(self, result: Any) -> dict[str, Any] | None:
        if self.truths is None:
            return None
        if not self.actions:
            from vidclass.timelines.metrics import score_timeline

            truth = self.truths.get(os.path.normpath(result.path))
            if truth is None:
                return None
            return score_timeline(result.segments, truth.segments, fps=truth.fps).as_dict()
        from vidclass.timelines.actions import action_points, score_points

        sample = self.truths.lookup(result.path)
        if sample is None:
            return None
        known = [a for a in sample.actions if a.label in self.mapping]
        points = action_points(result.windows, result.duration, known, self.labels, self.mapping)
        self.pool.append(points)
        return score_points(points).as_dict()

    def pooled(self) -> dict[str, Any] | None:
        """Every scored video's points in one ranking, when there are two videos or more."""
        if len(self.pool) < 2:
            return None
        from vidclass.timelines.actions import score_points

        return {"videos": len(self.pool), **score_points(self.pool).as_dict()}


__all__ = ["timeline_command"]
