"""``vidclass synth``: write the synthetic temporal benchmark (class-per-folder MP4 videos)."""

from __future__ import annotations

import time
from typing import Any

import click

from vidclass.cli.output import CliError, Messages
from vidclass.errors import EXIT_FAILED_INPUT
from vidclass.synth import CLASSES, TWINS, SynthOptions, generate
from vidclass.synth.generator import OutputExistsError, check_options, default_workers

_DEFAULTS = SynthOptions()


def _classes(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in CLASSES]
    if unknown:
        raise click.BadParameter(f"unknown class {unknown[0]!r}; classes: {', '.join(CLASSES)}")
    if not names:
        raise click.BadParameter("no class given")
    if len(set(names)) != len(names):
        raise click.BadParameter("a class is listed twice")
    return names


def _twins_text() -> str:
    pairs = []
    for name in CLASSES:
        twin = TWINS[name]
        if twin == name:
            pairs.append(f"{name} (itself)")
        elif CLASSES.index(name) < CLASSES.index(twin):
            pairs.append(f"{name}/{twin}")
    return ", ".join(pairs)


@click.command("synth", epilog=f"Classes and their time-reversed twins: {_twins_text()}.")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--per-class", "-n", type=click.IntRange(min=1), default=10, show_default=True, help="Videos per class.")
@click.option("--seed", "-s", type=click.IntRange(min=0), default=0, show_default=True, help="Base seed.")
@click.option(
    "--classes", "-c", metavar="A,B,...", callback=_classes, help="Only these classes (comma-separated). Default: all."
)
@click.option(
    "--workers",
    "-j",
    type=click.IntRange(min=1),
    help="Processes rendering videos. Default: the CPU count, at most 8. The output does not depend on it.",
)
@click.option("--min-size", type=int, default=_DEFAULTS.min_size, show_default=True, help="Smallest short side, px.")
@click.option("--max-size", type=int, default=_DEFAULTS.max_size, show_default=True, help="Largest short side, px.")
@click.option(
    "--max-aspect", type=float, default=_DEFAULTS.max_aspect, show_default=True, help="Largest long/short side ratio."
)
@click.option(
    "--portrait",
    type=float,
    default=_DEFAULTS.portrait,
    show_default=True,
    help="Fraction of non-square videos in portrait orientation.",
)
@click.option("--min-seconds", type=float, default=_DEFAULTS.min_seconds, show_default=True, help="Shortest duration.")
@click.option("--max-seconds", type=float, default=_DEFAULTS.max_seconds, show_default=True, help="Longest duration.")
@click.option("--min-fps", type=int, default=_DEFAULTS.min_fps, show_default=True, help="Lowest frame rate.")
@click.option("--max-fps", type=int, default=_DEFAULTS.max_fps, show_default=True, help="Highest frame rate.")
@click.option(
    "--max-distractors",
    type=int,
    default=_DEFAULTS.max_distractors,
    show_default=True,
    help="Most static distractor objects.",
)
@click.option(
    "--noise",
    type=float,
    default=_DEFAULTS.noise,
    show_default=True,
    help="Largest pixel-noise std, fraction of full scale.",
)
@click.option(
    "--jitter",
    type=float,
    default=_DEFAULTS.jitter,
    show_default=True,
    help="Largest camera shake, fraction of the short side.",
)
@click.option(
    "--reverse",
    is_flag=True,
    help="Play every video backwards and file it under its twin class, as <twin>/<class>_<index>_reversed.mp4.",
)
@click.option(
    "--overwrite", is_flag=True, help="Write into a non-empty OUT_DIR, replacing a set generated there before."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary (errors still show).")
@click.pass_context
def synth_command(
    ctx: click.Context,
    out_dir: str,
    per_class: int,
    seed: int,
    classes: list[str] | None,
    workers: int | None,
    reverse: bool,
    overwrite: bool,
    quiet: bool,
    **ranges: Any,
) -> None:
    """Write a synthetic benchmark of videos that only motion tells apart.

    Each video shows a target object (moving, turning, scaling, blinking or still) among
    static distractors, on a random background, with camera shake and noise; shapes,
    colours, textures, speeds, positions, duration, frame rate and frame size are random.
    No single frame tells the class. Files: OUT_DIR/<class>/<class>_<index>.mp4 (H.264) and
    OUT_DIR/synth.json (seed, options, twins and every video's parameters). The same seed
    and options give the same files; adding classes or videos leaves the others unchanged.
    """
    problem = check_options(ranges, cli=True)
    if problem:
        raise CliError(problem)
    options = SynthOptions(**ranges)
    messages = Messages(quiet=quiet)
    labels = classes or list(CLASSES)
    total = len(labels) * per_class
    show = messages.show_progress(streaming_to_stdout=False)
    start = time.perf_counter()
    try:
        with messages.progress(total, show, "synth") as tracker:

            def advance(record: dict[str, Any]) -> None:
                tracker.current(record["path"])
                tracker.advance()

            generate(
                out_dir,
                per_class=per_class,
                seed=seed,
                classes=labels,
                options=options,
                workers=workers or default_workers(),
                reverse=reverse,
                overwrite=overwrite,
                progress=advance,
            )
    except OutputExistsError:
        raise CliError(f"{out_dir}: folder is not empty (pass --overwrite to replace a generated set)") from None
    except NotADirectoryError:
        raise CliError(f"{out_dir}: not a directory") from None
    except OSError as exc:
        where = exc.filename or out_dir
        raise CliError(f"{where}: {exc.strerror or exc}", exit_code=EXIT_FAILED_INPUT) from exc
    seconds = time.perf_counter() - start
    kind = "reversed videos" if reverse else "videos"
    messages.note(
        f"wrote {total} {kind} ({len(labels)} classes x {per_class}, seed {seed}) to {out_dir} in {seconds:.1f} s"
    )


__all__ = ["synth_command"]
