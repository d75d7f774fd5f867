"""``vidclass explain``: where the model looks in one clip of one video, as a picture or JSON."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import click

from vidclass.cli.common import (
    build_run_options,
    load_classifier,
    model_option,
    note_bundled_model,
    resolve_workers,
    run_options,
    verbose_option,
    view_options,
    workers_option,
)
from vidclass.cli.output import CliError, Messages, dumps, isatty, stderr, stdout_results
from vidclass.cli.results import refuse_input_as_output
from vidclass.defaults import DECODERS, EXPLAIN_METHODS, MAX_CLIPS
from vidclass.errors import EXIT_FAILED_INPUT, EXIT_OK

FORMATS = ("png", "json")


@click.command("explain")
@click.argument("video", type=click.Path(readable=False, dir_okay=False))
@model_option
@click.option(
    "--method",
    type=click.Choice(EXPLAIN_METHODS),
    default="auto",
    show_default=True,
    help="tokens: a TokenLearner model's own maps, one row per learned token; rollout: attention "
    "rollout through every layer, any ViViT; auto: tokens where the model has a TokenLearner.",
)
@click.option(
    "--clip",
    type=click.IntRange(0, MAX_CLIPS - 1),
    metavar="K",
    help="The temporal clip to explain, numbered from 0 as vidclass info lists them. Default: the "
    "clip whose centre crop scores the predicted label highest.",
)
@click.option(
    "--layer",
    type=click.IntRange(min=0),
    metavar="L",
    help="tokens: the block whose TokenLearner is shown (X3D-TL: the stage its block follows; vidclass "
    "info MODEL lists them). Default: the first.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Where the PNG goes (or, with -f json, the JSON). Default: VIDEO's name with .explain.png, "
    "in the current directory, which is never overwritten; -f json: stdout.",
)
@click.option(
    "--video",
    "animation",
    type=click.Path(dir_okay=False),
    metavar="OUT.mp4|OUT.gif",
    help="Also write the clip with the maps over it, combined by the tokens' weights, as an animation.",
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMATS),
    help="png: the picture grid; json: one document with the maps. Default: from --output's suffix, else png.",
)
@view_options
@run_options
@click.option("--decoder", type=click.Choice(DECODERS), default="auto", show_default=True)
@workers_option
@verbose_option
@click.option("--quiet", "-q", is_flag=True, help="No notes (errors still show).")
@click.pass_context
def explain_command(
    ctx: click.Context,
    video: str,
    model: str | None,
    method: str,
    clip: int | None,
    layer: int | None,
    output: str | None,
    animation: str | None,
    fmt: str | None,
    workers: int | None,
    quiet: bool,
    **_: object,
) -> None:
    """Show where the model looks in one clip of VIDEO: its maps over the frames, as a PNG grid.

    The video is scored over the model's whole view protocol, as predict does; the clip whose
    centre crop scores the predicted label highest (or --clip K) is then run once more with the
    model's maps recorded. Exit status: 0 when it worked, 1 when the video failed, 2 for usage
    errors (a method or layer the model cannot explain names what it can).
    """
    messages = Messages(quiet=quiet)
    fmt = fmt or ("json" if output is not None and output.lower().endswith(".json") else "png")
    if fmt == "png" and output == "-":
        raise CliError("-o - is for -f json: a PNG goes to a file")
    if animation is not None and os.path.splitext(animation)[1].lower() not in (".mp4", ".gif"):
        raise CliError(f"--video {animation}: an animation is .mp4 or .gif")
    target = output if output is not None else (_default_name(video) if fmt == "png" else None)
    if output is None and target is not None and os.path.lexists(target):
        raise CliError(f"{target} exists: pass -o {target} to replace it, or -o another name")
    refuse_input_as_output(target, [video])
    if animation is not None and os.path.lexists(animation) and os.path.lexists(video):
        if os.path.samefile(animation, video):
            raise CliError(f"--video {animation} is the input video: refusing to overwrite it")
    options = build_run_options(ctx.params, workers=resolve_workers(workers, 1))

    from vidclass.explanation import ExplainInputError, explain_with, resolve_method
    from vidclass.inference import CompileError, Predictor

    classifier = load_classifier(model)
    note_bundled_model(classifier, messages)
    try:
        chosen = resolve_method(method, classifier.model.config, classifier.name)
        predictor = Predictor(classifier, options)
    except (ValueError, CompileError) as exc:
        raise CliError.from_exception(exc, str(exc)) from exc
    try:
        with predictor:
            explanation = explain_with(predictor, video, method=chosen, clip=clip, layer=layer)
    except ExplainInputError as exc:
        messages.input_error(exc.path, str(exc))
        ctx.exit(EXIT_FAILED_INPUT)
    written = []
    for where, save in ((target, explanation.save), (animation, explanation.save)):
        if where is not None:
            _replace(where, save)
            written.append(where)
    if fmt == "json" and target is None:
        with stdout_results() as stream:
            stream.write(dumps(explanation.to_record()) + "\n")
    if isatty(stderr()):
        places = f": wrote {' and '.join(written)}" if written else ""
        messages.note(
            f"{explanation.label} {explanation.score:.2f}, clip {explanation.clip}, {explanation.method}{places}"
        )
    ctx.exit(EXIT_OK)


def _default_name(video: str) -> str:
    stem = os.path.splitext(os.path.basename(video.rstrip(os.sep)))[0] or "video"
    return f"{stem}.explain.png"


def _replace(path: str, save: Callable[[str], None]) -> None:
    """``save(path)`` through a temporary beside it, renamed over ``path`` once complete."""
    directory, name = os.path.split(os.path.abspath(path))
    suffix = os.path.splitext(name)[1]
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.partial{suffix}")
    try:
        save(temporary)
        os.replace(temporary, path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


__all__ = ["explain_command"]
