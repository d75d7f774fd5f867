"""``vidclass convert``: a foreign checkpoint -> a vidclass model file."""

from __future__ import annotations

import click

from vidclass.cli.common import document_format_option
from vidclass.cli.output import CliError, document_format, write_document
from vidclass.cli.tables import convert_tables


@click.command("convert")
@click.argument("source")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False),
    help="The model file to write (.safetensors).",
)
@click.option(
    "--variant",
    type=click.Choice(["spacetime", "factorized_dot_product", "x3d-xs", "x3d-s", "x3d-m", "x3d-l"]),
    help="scenic: Model 4 has Model 1's parameters; say which it is (default spacetime). pytorchvideo: "
    "the X3D variant, where the tensors and the file name leave it open.",
)
@click.option(
    "--tokenlearner-location",
    type=click.IntRange(min=0),
    metavar="LAYER",
    help="scenic: the layer a TokenLearner without fuser sits before (not stored in checkpoints).",
)
@click.option(
    "--source-image-size",
    type=click.IntRange(min=1),
    metavar="PX",
    help="scenic: the image size the checkpoint was trained at, to split its tokens (default 224).",
)
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False),
    help="A file with one label per line (default: id2label, or Kinetics-400/600 by class count).",
)
@click.option("--frames", type=click.IntRange(min=1), help="Run at this many frames (needs --resample-posemb).")
@click.option(
    "--image-size", type=click.IntRange(min=1), metavar="PX", help="Run at this resolution (needs --resample-posemb)."
)
@click.option(
    "--resample-posemb",
    is_flag=True,
    help="Allow --frames/--image-size to differ from the checkpoint: interpolate position embeddings.",
)
@click.option(
    "--init",
    "init",
    metavar="CONFIG",
    help="SOURCE is an image ViT (timm or Hugging Face): initialise the registered video CONFIG from "
    "it, for training (needs --labels).",
)
@click.option(
    "--kernel-init",
    type=click.Choice(["central_frame", "inflate"]),
    default="central_frame",
    show_default=True,
    help="With --init: how 2-D patch kernels become tubelet kernels.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="With --init: seed for the new parts.")
@click.option(
    "--multi-label",
    is_flag=True,
    help="Mark the model multi-label: a sigmoid per class, its views aggregated by max. Default: single-label "
    "(one softmax), as Kinetics checkpoints are.",
)
@document_format_option()
def convert_command(
    source: str,
    output: str,
    variant: str | None,
    tokenlearner_location: int | None,
    source_image_size: int | None,
    labels: str | None,
    frames: int | None,
    image_size: int | None,
    resample_posemb: bool,
    init: str | None,
    kernel_init: str,
    seed: int,
    multi_label: bool,
    fmt: str | None,
) -> None:
    """Convert SOURCE into a vidclass model file.

    SOURCE is a Hugging Face ViViT directory (config.json with model.safetensors or
    pytorch_model.bin, which is opened with weights_only=True), a Hugging Face hub id such as
    google/vivit-b-16x2-kinetics400 (needs vidclass[hub] and network), a scenic Flax
    checkpoint file, a pytorchvideo X3D checkpoint (X3D_M.pyth, opened with
    weights_only=True), or the name of a published one, pytorchvideo:x3d_xs, x3d_s, x3d_m or
    x3d_l (downloaded once into $VIDCLASS_CACHE from $VIDCLASS_PYTORCHVIDEO_URL, default
    pytorchvideo's). Every source tensor must be used and every model tensor filled.

    With --init CONFIG, SOURCE is an image ViT (.safetensors, .bin/.pth, or a Hugging Face
    directory) and the output is CONFIG initialised from it: central-frame (or inflated)
    tubelet kernels, position embeddings tiled over time, new head and TokenLearner modules.
    """
    from vidclass.checkpoints import ConvertOptions, VideoClassifier, convert_source, save_model
    from vidclass.checkpoints.convert import ConversionError
    from vidclass.models import family_of, num_params

    options = ConvertOptions(
        variant=variant,
        tokenlearner_location=tokenlearner_location,
        source_image_size=source_image_size,
        labels=labels,
        num_frames=frames,
        image_size=image_size,
        resample=resample_posemb,
    )
    try:
        if init is not None:
            if labels is None:
                raise CliError("--init needs --labels FILE (the classes the model will be trained on)")
            from vidclass.checkpoints.sources import init_from_image_vit, read_labels_file
            from vidclass.models import list_models

            if init not in list_models():
                raise CliError(f"--init {init!r}: unknown configuration (see vidclass models)")
            classifier = init_from_image_vit(source, init, read_labels_file(labels), kernel_init=kernel_init, seed=seed)
        else:
            classifier = convert_source(source, options)
    except ConversionError as exc:
        raise CliError.from_exception(exc) from exc
    if multi_label:
        classifier = VideoClassifier.build(
            classifier.model,
            classifier.labels,
            classifier.preprocessing,
            classifier.protocol.for_head(True),
            name=classifier.name,
            source=classifier.source,
            provenance=classifier.provenance,
            multi_label=True,
        )
    path = save_model(classifier, output)
    cfg = classifier.config
    row = family_of(cfg).describe(cfg)
    write_document(
        {
            "output": str(path),
            "source": source,
            "format": classifier.provenance.get("format"),
            "variant": row["variant"],
            "classes": len(classifier.labels),
            "params": num_params(cfg),
            "input": row["input"],
            "preprocessing": classifier.preprocessing.to_dict(),
            "protocol": classifier.protocol.to_dict(),
            "multi_label": classifier.multi_label,
        },
        document_format(fmt),
        convert_tables,
    )


__all__ = ["convert_command"]
