"""``vidclass info``: what a video holds, and exactly which frames and pixels ``predict`` uses."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from vidclass.cli.common import document_format_option, model_option, view_options
from vidclass.cli.output import (
    CliError,
    Messages,
    document_format,
    write_document,
)
from vidclass.cli.tables import info_tables
from vidclass.defaults import MODEL_ENV
from vidclass.errors import EXIT_FAILED_INPUT

if TYPE_CHECKING:  # imported for annotations only: vidclass.video imports torch
    from vidclass.protocol import Preprocessing, ViewProtocol


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


def info_document(path: str, name: str | None, prep: Preprocessing, protocol: ViewProtocol) -> dict[str, Any]:
    """Probe ``path`` and plan its views; raises ``VideoError`` for a bad file."""
    from vidclass.video import plan_views, probe

    info = probe(path)
    plan = plan_views(info, prep, protocol)
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
@click.argument("video", type=click.Path())
@model_option
@view_options
@document_format_option()
@click.pass_context
def info_command(
    ctx: click.Context,
    video: str,
    model: str | None,
    clips: int | None,
    crops: int | None,
    fmt: str | None,
) -> None:
    """Show a video's frames, rate, size and codec, and the views predict would take.

    Lists each clip's exact frame indices and each crop box (in the resized frame), from the
    model's preprocessing and protocol, as changed by --clips and --crops.
    """
    from vidclass.inference.decode_queue import one_line

    messages = Messages()
    name, prep, protocol = view_settings(model, messages)
    protocol = protocol.override(clips=clips, crops=crops)
    try:
        data = info_document(video, name, prep, protocol)
    except Exception as exc:  # noqa: BLE001 - a bad video is a failed input: exit 1, one line
        messages.input_error(video, one_line(exc))
        ctx.exit(EXIT_FAILED_INPUT)
    write_document(data, document_format(fmt), info_tables)


__all__ = ["info_command", "info_document", "view_settings"]
