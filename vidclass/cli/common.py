"""Options and helpers shared by several commands.

Declaring options imports nothing heavy (defaults and choices come from ``vidclass.defaults``),
so that ``vidclass --help`` runs without importing torch; what a command needs to run, it
imports when it runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from vidclass.cli.output import DOCUMENT_FORMATS, CliError, Messages, isatty, stderr
from vidclass.defaults import (
    CROPS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_THRESHOLD,
    DEFAULT_TIMEOUT,
    DEVICES,
    MAX_BATCH_SIZE,
    MAX_CLIPS,
    MAX_TIMEOUT,
    MAX_TOP_K,
    MAX_WORKERS,
    MODEL_ENV,
    PRECISIONS,
    RUNTIMES,
)
from vidclass.protocol import Aggregate

if TYPE_CHECKING:  # imported when the command runs: --help stays free of torch
    from vidclass.checkpoints import VideoClassifier
    from vidclass.inference import RunOptions

AGGREGATES = tuple(a.value for a in Aggregate)


class Seconds(click.FloatRange):
    """A finite number of seconds, more than 0 and at most ``high``: ``inf``, ``nan`` and
    ``1e400`` (which reads as inf) are refused when the options are parsed."""

    def __init__(self, high: float) -> None:
        super().__init__(min=0, min_open=True, max=high)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):  # NaN compares false with both bounds, so the range lets it by
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return seconds


# The option types of the run settings, with vidclass.defaults' bounds (RunOptions checks the same).
TOP_K = click.IntRange(1, MAX_TOP_K)
TIMEOUT = Seconds(MAX_TIMEOUT)


def workers_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """-j/--workers: predict's and eval's one option for the decode worker processes, with one
    default (``resolve_workers``)."""
    return click.option(
        "--workers",
        "-j",
        type=click.IntRange(0, MAX_WORKERS),
        metavar="N",
        help="Videos decoded at the same time, each in a worker process of its own (one video too), "
        "where a decoder crash or hang costs that video alone and --timeout holds; eval also runs "
        "that many through the model at once, sharing the CPU cores out. Default: min(2, CPUs). "
        "0 decodes in this process, unprotected: a decoder crash ends the command, --timeout does "
        "not apply and decoder log lines reach stderr.",
    )(f)


def resolve_workers(workers: int | None, videos: int | None = None) -> int:
    """``--workers`` as given, else the default: min(2, the CPUs this process may use)
    (``vidclass.defaults.default_workers``), and no more than ``videos`` when that is known. So
    one video, too, decodes in a worker by default."""
    if workers is not None:
        return workers
    from vidclass.defaults import default_workers

    return default_workers() if videos is None else min(default_workers(), videos)


def load_classifier(model: str | None) -> VideoClassifier:
    """``vidclass.checkpoints.load_classifier`` with its failures turned into one-line usage errors (exit 2)."""
    from vidclass.checkpoints import ModelFileError, NoModelError
    from vidclass.checkpoints import load_classifier as load
    from vidclass.cli.signals import deferred

    try:
        with deferred():  # a stop waits until the model is loaded (see signals.deferred)
            return load(model)
    except NoModelError as exc:
        raise CliError.from_exception(exc, str(exc)) from exc
    except ModelFileError as exc:  # its message already names the file
        raise CliError.from_exception(exc) from exc
    except OSError as exc:
        raise CliError.from_exception(exc, f"{model or 'default model'}: {exc.strerror or exc}") from exc


def note_bundled_model(classifier: VideoClassifier, messages: Messages) -> None:
    """On a terminal (stderr), unless ``--quiet``: one note when ``classifier`` is the bundled
    model, whose labels are the synthetic motions of ``vidclass synth`` and nothing else, saying
    so and how to run a real pretrained model instead. A pipe or a log file gets no note."""
    import os

    from vidclass.checkpoints.sources import bundled_default

    if messages.quiet or not isatty(stderr()):
        return
    try:
        bundled = os.path.samefile(classifier.source, bundled_default())
    except (OSError, ValueError):
        return
    if bundled:
        examples = ", ".join(classifier.labels[:3])
        messages.note(
            f"the bundled model knows only the {len(classifier.labels)} synthetic motions of vidclass synth "
            f"({examples}, ...), not real-world actions; for real videos, pass --model a pretrained "
            "checkpoint, such as a Hugging Face ViViT directory (google/vivit-b-16x2-kinetics400; see "
            "vidclass convert --help)"
        )


def _crops(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    return None if value is None else int(value)


def model_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--model",
        "-m",
        metavar="NAME|FILE",
        help=(
            "Model file, the name of one in weights/, or a foreign checkpoint (Hugging Face ViViT "
            "directory or hub id, scenic checkpoint, pytorchvideo X3D checkpoint or name such as "
            "pytorchvideo:x3d_m), converted once into $VIDCLASS_CACHE. Default: $"
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
        type=TIMEOUT,
        default=DEFAULT_TIMEOUT,
        show_default=True,
        help="Seconds one video may take to decode; its worker process is then killed and the video fails.",
    )(f)
    f = click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)(f)
    f = click.option(
        "--batch-size",
        "-b",
        type=click.IntRange(1, MAX_BATCH_SIZE),
        default=DEFAULT_BATCH_SIZE,
        show_default=True,
        help="Views per forward pass. predict cuts its batches across consecutive videos; eval runs each video's views alone.",
    )(f)
    return click.option(
        "--aggregate",
        type=click.Choice(AGGREGATES),
        help="softmax or mean: mean of per-view probabilities (a multi-label model's are sigmoids, and it "
        "takes mean, not softmax); max: per class, the largest per-view probability; logits: the "
        "probabilities of the mean logits. Default: the model file's protocol (multi-label models: max).",
    )(f)


def runtime_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--runtime: torch, or onnxruntime on the model exported to ONNX (predict, eval)."""
    return click.option(
        "--runtime",
        type=click.Choice(RUNTIMES),
        default="torch",
        show_default=True,
        help="What runs the model. onnxruntime: the model is exported to ONNX first (seconds; see "
        "vidclass export) and run on the CPU in fp32 (needs vidclass[export]; not with --device "
        "cuda, --precision bf16/fp16 or --compile). See BENCHMARKS.md for which is faster.",
    )(f)


def threshold_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--threshold: a multi-label model's predicted set (predict, eval)."""
    return click.option(
        "--threshold",
        type=click.FloatRange(0.0, 1.0),
        default=DEFAULT_THRESHOLD,
        show_default=True,
        help="Multi-label models: every label with at least this probability is in a video's "
        "predicted set (records' positives; eval's F1, precision and recall). Single-label models ignore it.",
    )(f)


def verbose_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """-v/--verbose: the decoders' own log lines reach stderr (predict, eval, info)."""
    return click.option(
        "--verbose",
        "-v",
        is_flag=True,
        help="Show the decoders' own log lines (FFmpeg, decord) on stderr. Without it the decode "
        "workers drop them, and stderr holds one error line per failed video.",
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
        type=click.Choice([str(n) for n in CROPS]),
        callback=_crops,
        help="Spatial crops per clip: 1 (centre) or 3. Default: the model file's protocol.",
    )(f)
    f = click.option(
        "--clips",
        type=click.IntRange(1, MAX_CLIPS),
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
    "TIMEOUT",
    "TOP_K",
    "Seconds",
    "build_run_options",
    "document_format_option",
    "load_classifier",
    "model_option",
    "note_bundled_model",
    "run_options",
    "runtime_option",
    "threshold_option",
    "verbose_option",
    "resolve_workers",
    "view_options",
    "workers_option",
]
