"""``vidclass export``: a model as one ONNX file that carries its card (``vidclass.export``)."""

from __future__ import annotations

import click

from vidclass.cli.common import document_format_option, load_classifier
from vidclass.cli.output import document_format, write_document
from vidclass.cli.tables import export_tables


@click.command("export")
@click.argument("model")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    metavar="FILE",
    help="The ONNX file to write. An existing file is refused unless --overwrite.",
)
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists (never the model's own file).")
@document_format_option("table: what was written; json: the same as a document. ")
def export_command(model: str, output: str, overwrite: bool, fmt: str | None) -> None:
    """Export MODEL to an ONNX file, its card in the file's metadata.

    MODEL is anything --model accepts: a model file, the name of one in weights/, or a foreign
    checkpoint (converted once into $VIDCLASS_CACHE). The graph takes video (B, 3, T, H, W)
    float32, normalised as the card's preprocessing says, T, H and W fixed at the model's
    frames and crop, B free; it returns logits (B, classes), before any softmax or sigmoid.
    The file's metadata holds the card: name, family, config, labels, preprocessing, protocol,
    provenance and multi_label (JSON strings, as in a vidclass model file). Opset 18. Needs
    the optional packages of vidclass[export] (onnx, onnxscript).
    """
    from pathlib import Path

    from vidclass.export import OPSET, check_output, export_onnx, require_export_packages

    require_export_packages()
    check_output(Path(output), overwrite)  # before the model loads: a refused output costs nothing
    classifier = load_classifier(model)
    path = export_onnx(classifier, output, overwrite=overwrite)
    prep = classifier.preprocessing
    write_document(
        {
            "output": str(path),
            "model": classifier.name,
            "family": classifier.family,
            "input": {"name": "video", "shape": ["B", 3, prep.num_frames, prep.crop_size, prep.crop_size]},
            "output_name": "logits",
            "classes": len(classifier.labels),
            "multi_label": classifier.multi_label,
            "opset": OPSET,
            "bytes": path.stat().st_size,
        },
        document_format(fmt),
        export_tables,
    )


__all__ = ["export_command"]
