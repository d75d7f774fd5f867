"""``vidclass models``: the registered configurations and the model files in ``weights/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vidclass.cli.common import document_format_option
from vidclass.cli.output import document_format, write_document
from vidclass.cli.tables import models_tables


def file_row(path: Path) -> dict[str, Any]:
    """What a model file's header says (read without loading its tensors)."""
    from vidclass.checkpoints import ModelFileError, read_model_card

    row: dict[str, Any] = {
        "name": path.stem,  # what --model accepts
        "path": str(path),
        "bytes": path.stat().st_size,
        "model": None,
        "num_labels": None,
        "error": None,
    }
    try:
        card = read_model_card(path)
        row["model"] = card.name
        row["num_labels"] = len(card.labels)
    except ModelFileError as exc:  # a listing shows broken files, it does not stop
        row["error"] = str(exc)
    return row


def models_document() -> dict[str, Any]:
    """``vidclass models --format json``: ``{"registry": [...], "files": [...], "weights_dir"}``."""
    from vidclass.checkpoints import SUFFIX, sources
    from vidclass.models import describe_models

    folder = sources.weights_dir()
    registry = [{**row, "weights": (folder / f"{row['name']}{SUFFIX}").is_file()} for row in describe_models()]
    return {
        "registry": registry,
        "files": [file_row(path) for path in sources.bundled_models()],
        "weights_dir": str(folder),
    }


@click.command("models")
@document_format_option()
def models_command(fmt: str | None) -> None:
    """List the model configurations and the model files in weights/.

    GFLOPs are per view (multiply-adds x 2). A registry name runs with --model only when
    weights/NAME.safetensors exists (the "weights" column).
    """
    write_document(models_document(), document_format(fmt), models_tables)


__all__ = ["file_row", "models_command", "models_document"]
