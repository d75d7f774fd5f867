"""``vidclass info``: what a video holds, and exactly which frames and pixels ``predict`` uses;
or, for a model, its card.

The video is probed in a decode worker process, as ``predict`` decodes (the one decode queue):
a decoder that crashes or hangs on it fails the command with one ``error:`` line and exit 1,
within ``--timeout``, and the decoders' own log lines stay out of the terminal unless ``-v``.

A model file (or a foreign checkpoint: a Hugging Face ViViT directory, a scenic checkpoint) is
shown by its card instead (``vidclass.checkpoints.cards``): config, labels, preprocessing,
protocol, provenance, parameter count and GFLOPs per view; a foreign checkpoint as the model it
converts to.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from vidclass.cli.common import (
    TIMEOUT,
    build_run_options,
    document_format_option,
    model_option,
    verbose_option,
    view_options,
)
from vidclass.cli.output import (
    CliError,
    Messages,
    document_format,
    write_document,
)
from vidclass.cli.tables import info_tables, model_card_tables
from vidclass.defaults import DEFAULT_TIMEOUT, MODEL_ENV
from vidclass.errors import EXIT_FAILED_INPUT

if TYPE_CHECKING:  # imported for annotations only: vidclass.video imports torch
    from vidclass.protocol import Preprocessing, ViewProtocol
    from vidclass.video import VideoInfo, ViewPlan


def view_settings(model: str | None, messages: Messages) -> tuple[str | None, Preprocessing, ViewProtocol]:
    """(model name, preprocessing, protocol) that ``predict`` would use with this ``--model``.

    A registry name without weights still gives its configuration's settings; with no model
    and no default model, the defaults of ``Preprocessing()`` and ``ViewProtocol()``.
    """
    from vidclass.checkpoints import ModelFileError, default_model, locate_model, read_model_card
    from vidclass.checkpoints.hints import from_environment
    from vidclass.models import get_entry, list_models
    from vidclass.protocol import Preprocessing, ViewProtocol

    from_env = model is None and bool(os.environ.get(MODEL_ENV))
    model = model if model is not None else default_model()
    if model is None:
        messages.note(
            "no model given and no default model: showing Preprocessing() and ViewProtocol() "
            "defaults (pass --model to see a model's own)"
        )
        return None, Preprocessing(), ViewProtocol()
    try:
        card = read_model_card(locate_model(model))  # the header alone: no weights are loaded
    except ModelFileError as exc:
        if model in list_models():  # a configuration without weights: its settings are known
            entry = get_entry(model)
            return model, entry.preprocessing, entry.protocol
        raise CliError.from_exception(from_environment(exc) if from_env else exc) from exc
    return card.name, card.preprocessing, card.protocol


def info_document(
    path: str, info: VideoInfo, plan: ViewPlan, name: str | None, prep: Preprocessing, protocol: ViewProtocol
) -> dict[str, Any]:
    """The document ``info`` prints for ``path``, probed (``info``) and planned (``plan``)."""
    return {
        "path": path,
        "frames": info.num_frames,
        "fps": info.fps,
        "duration": info.duration,
        "width": info.width,
        "height": info.height,
        "codec": info.codec,
        "model": name,
        "preprocessing": prep.to_dict(),
        "protocol": protocol.to_dict(),
        "views": plan.num_views,
        "resized": list(plan.resized_hw),
        "decoded_frames": list(plan.frame_indices),
        "clips": [{"index": c.index, "start": c.start, "frame_indices": list(c.frame_indices)} for c in plan.clips],
        "crops": [{"index": c.index, "name": c.name, "top": c.top, "left": c.left, "size": c.size} for c in plan.crops],
    }


@click.command("info")
@click.argument("video", metavar="VIDEO|MODEL", type=click.Path())
@model_option
@view_options
@click.option(
    "--timeout",
    type=TIMEOUT,
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds the video may take to probe; its worker process is then killed and the video fails.",
)
@verbose_option
@document_format_option()
@click.pass_context
def info_command(
    ctx: click.Context,
    video: str,
    model: str | None,
    clips: int | None,
    crops: int | None,
    timeout: float,
    verbose: bool,
    fmt: str | None,
) -> None:
    """Show a video's frames, rate, size and codec, and the views predict would take; or a model's card.

    Lists each clip's exact frame indices and each crop box (in the resized frame), from the
    model's preprocessing and protocol, as changed by --clips and --crops.

    Given a model instead of a video (a model file, a Hugging Face ViViT directory or a scenic
    checkpoint), shows its card: config, labels, preprocessing, protocol (as changed by --clips
    and --crops), provenance, parameter count and GFLOPs per view. A foreign checkpoint is shown
    as the model it converts to (converted in memory; nothing is written).
    """
    from vidclass.data.files import is_video_name
    from vidclass.inference.decode_queue import DecodeQueue, prestart

    options = build_run_options(ctx.params, workers=1)
    if is_video_name(video):  # the worker's imports run while this process imports torch
        prestart(options)
    messages = Messages()
    if _show_model_card(video, model, clips, crops, fmt, messages):
        return
    prestart(options)  # if not started above: the worker's imports run while the model card is read
    name, prep, protocol = view_settings(model, messages)
    protocol = protocol.override(clips=clips, crops=crops)
    queue = DecodeQueue(prep, protocol, options)
    try:
        probed = queue.plan(video)
    finally:
        queue.close()
    if probed.error is not None:  # a bad video is a failed input: exit 1, one line
        messages.input_error(video, probed.error)
        ctx.exit(EXIT_FAILED_INPUT)
    write_document(
        info_document(video, probed.info, probed.plan, name, prep, protocol), document_format(fmt), info_tables
    )


def _show_model_card(
    path: str, model: str | None, clips: int | None, crops: int | None, fmt: str | None, messages: Messages
) -> bool:
    """If ``path`` is a model, print its card and return True; a model that cannot be read is
    one ``error:`` line and exit 2, as for ``--model``."""
    from vidclass.checkpoints import FORMAT, ModelFileError
    from vidclass.checkpoints.cards import card_of, model_format

    kind = model_format(path)
    if kind is None:
        return False
    if model is not None:
        raise click.UsageError(f"--model applies to a video, and {path} is a model")
    try:
        card = card_of(path, kind)
    except ModelFileError as exc:
        raise CliError.from_exception(exc) from exc
    if kind != FORMAT:
        messages.note(
            f"{path} is a {kind} checkpoint: shown as the model it converts to (--model converts it "
            "once into the cache; vidclass convert writes a model file)"
        )
    document = {"path": path, "format": kind, "converted": kind != FORMAT, **card.to_dict()}
    document["protocol"] = card.protocol.override(clips=clips, crops=crops).to_dict()
    write_document(document, document_format(fmt), model_card_tables)
    return True


__all__ = ["info_command", "info_document", "view_settings"]
