"""Options and helpers shared by several commands.

Declaring options imports nothing heavy (defaults and choices come from ``vidclass.defaults``),
so that ``vidclass --help`` runs without importing torch; what a command needs to run, it
imports when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from vidclass.cli.output import DOCUMENT_FORMATS, CliError
from vidclass.defaults import DEFAULT_BATCH_SIZE, DEFAULT_TIMEOUT, DEVICES, MODEL_ENV, PRECISIONS
from vidclass.protocol import Aggregate

if TYPE_CHECKING:  # imported when the command runs: --help stays free of torch
    from vidclass.checkpoints import VideoClassifier
    from vidclass.inference import RunOptions

AGGREGATES = tuple(a.value for a in Aggregate)


def load_classifier(model: str | None) -> VideoClassifier:
    """``vidclass.checkpoints.load_classifier`` with its failures turned into one-line usage errors (exit 2)."""
    from vidclass.checkpoints import ModelFileError, NoModelError
    from vidclass.checkpoints import load_classifier as load

    try:
        return load(model)
    except NoModelError as exc:
        raise CliError.from_exception(exc, str(exc)) from exc
    except ModelFileError as exc:  # its message already names the file
        raise CliError.from_exception(exc) from exc
    except OSError as exc:
        raise CliError.from_exception(exc, f"{model or 'default model'}: {exc.strerror or exc}") from exc


def _crops(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    return None if value is None else int(value)


def model_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--model",
        "-m",
        metavar="NAME|FILE",
        help=(
            "Model file, the name of one in weights/, or a foreign checkpoint (Hugging Face ViViT "
            "directory or hub id, scenic checkpoint), converted once into $VIDCLASS_CACHE. Default: $"
            + MODEL_ENV
            + ", else the bundled weights/default.safetensors."
        ),
    )(f)


def run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--aggregate, --batch-size, --device, --precision, --compile and --timeout: how videos run (predict, eval)."""
    f = click.option(
        "--compile",
        is_flag=True,
        help="Compile the model with torch.compile before the first video (static shapes: a short "
        "last batch is padded to --batch-size). On the CPU this needs a C++ compiler; when "
        "compiling fails: one error line, exit 2.",
    )(f)
    f = click.option(
        "--precision",
        type=click.Choice(PRECISIONS),
        default="auto",
        show_default=True,
        help="Compute precision. auto: bf16 on CPUs with native bf16, else fp32 (see BENCHMARKS.md); "
        "fp16 needs CUDA. Logits are aggregated in fp32.",
    )(f)
    f = click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=DEFAULT_TIMEOUT,
        show_default=True,
        help="Seconds one video may take to decode; its worker process is then killed and the video fails.",
    )(f)
    f = click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)(f)
    f = click.option(
        "--batch-size",
        "-b",
        type=click.IntRange(min=1),
        default=DEFAULT_BATCH_SIZE,
        show_default=True,
        help="Views per forward pass. predict cuts its batches across consecutive videos; eval runs each video's views alone.",
    )(f)
    return click.option(
        "--aggregate",
        type=click.Choice(AGGREGATES),
        help="softmax: mean of per-view probabilities; logits: softmax of mean logits. Default: the model file's protocol.",
    )(f)


def build_run_options(params: dict[str, Any], **changes: Any) -> RunOptions:
    """The one ``RunOptions`` of a command: the values of its options that are run settings
    (``ctx.params``), with ``changes`` applied; a bad combination is a usage error (exit 2)."""
    import dataclasses

    from vidclass.inference import OptionsError, RunOptions

    names = {field.name for field in dataclasses.fields(RunOptions)}
    try:
        return RunOptions(**{k: v for k, v in params.items() if k in names and v is not None}).replace(**changes)
    except OptionsError as exc:
        raise CliError(str(exc)) from exc


def view_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--crops",
        type=click.Choice(["1", "3"]),
        callback=_crops,
        help="Spatial crops per clip: 1 (centre) or 3. Default: the model file's protocol.",
    )(f)
    f = click.option(
        "--clips",
        type=click.IntRange(min=1),
        help="Temporal clips per video. Default: the model file's protocol.",
    )(f)
    return f


def document_format_option(described: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-f/--format table|json`` of a command that prints one document (``fmt``; None: decided
    by ``output.document_format``). ``described`` says what each format holds."""
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice(DOCUMENT_FORMATS),
        help=f"{described}Default: table on a terminal, json otherwise.",
    )


METRICS_FORMATS = "table: a summary; json: the metrics document. "

__all__ = [
    "build_run_options",
    "document_format_option",
    "load_classifier",
    "model_option",
    "run_options",
    "view_options",
]
