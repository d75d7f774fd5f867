"""``vidclass synth``: write the synthetic temporal benchmark (class-per-folder MP4 videos), or,
with ``--sequences``, videos whose motion class changes at known frames."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import click

from vidclass.cli.output import CliError, Messages
from vidclass.errors import EXIT_FAILED_INPUT
from vidclass.synth import CLASSES, TWINS, SynthOptions, generate, generate_multi_label, generate_sequences
from vidclass.synth.generator import OutputExistsError, check_options, default_workers
from vidclass.synth.multilabel import SET_SIZES, check_multi_classes, label_pool
from vidclass.synth.sequences import SEGMENT_SECONDS, check_sequence_options

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


def _seconds_range(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    parts = value.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise CliError(f"--segment-seconds {value!r} is not MIN,MAX (seconds, e.g. 2,4)") from None
    return low, high


@contextlib.contextmanager
def _writing(out_dir: str) -> Iterator[None]:
    """The failures of writing a set, as the command's error line."""
    try:
        yield
    except OutputExistsError:
        raise CliError(f"{out_dir}: folder is not empty (pass --overwrite to replace a generated set)") from None
    except NotADirectoryError:
        raise CliError(f"{out_dir}: not a directory") from None
    except OSError as exc:
        where = exc.filename or out_dir
        raise CliError(f"{where}: {exc.strerror or exc}", exit_code=EXIT_FAILED_INPUT) from exc


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
    "--sequences",
    type=int,
    metavar="N",
    help="Write N sequences instead of class folders: videos whose target changes its motion class"
    " at known frames (truth in OUT_DIR/sequences.jsonl).",
)
@click.option(
    "--segments",
    type=int,
    metavar="K",
    help="With --sequences: segments per sequence, at least 2; consecutive ones differ in class. Default: 4.",
)
@click.option(
    "--segment-seconds",
    metavar="MIN,MAX",
    callback=_seconds_range,
    help="With --sequences: each segment's length range, seconds. Default: 2,4.",
)
@click.option(
    "--multi-label",
    type=int,
    metavar="N",
    help="Write N multi-label videos instead of class folders: each shows 2 or 3 targets of different"
    " classes (not static) at once; their label sets in OUT_DIR/labels.csv.",
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
    sequences: int | None,
    segments: int | None,
    segment_seconds: tuple[float, float] | None,
    multi_label: int | None,
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
    With --sequences N: OUT_DIR/sequence_<index>.mp4, each one continuous video whose
    target's motion class changes at the frames OUT_DIR/sequences.jsonl gives. With
    --multi-label N: OUT_DIR/videos/multi_<index>.mp4, each showing 2 or 3 targets of
    different classes, and OUT_DIR/labels.csv (path,labels: a multi-label dataset).
    """
    problem = check_options(ranges, cli=True)
    if problem:
        raise CliError(problem)
    options = SynthOptions(**ranges)
    messages = Messages(quiet=quiet)
    labels = classes or list(CLASSES)
    if multi_label is not None:
        _multi_label(ctx, messages, out_dir, multi_label, seed, classes, options, workers, overwrite)
        return
    if sequences is not None or segments is not None or segment_seconds is not None:
        _sequences(
            ctx, messages, out_dir, sequences, segments, segment_seconds, seed, labels, options, workers, overwrite
        )
        return
    total = len(labels) * per_class
    seconds = _written(
        messages,
        out_dir,
        total,
        lambda advance: generate(
            out_dir,
            per_class=per_class,
            seed=seed,
            classes=labels,
            options=options,
            workers=workers or default_workers(),
            reverse=reverse,
            overwrite=overwrite,
            progress=advance,
        ),
    )
    kind = "reversed videos" if reverse else "videos"
    messages.note(
        f"wrote {total} {kind} ({len(labels)} classes x {per_class}, seed {seed}) to {out_dir} in {seconds:.1f} s"
    )


def _written(
    messages: Messages, out_dir: str, total: int, write: Callable[[Callable[[dict[str, Any]], None]], object]
) -> float:
    """Run ``write(advance)`` (one of the generators, ``advance`` its progress callback) behind
    a progress bar of ``total`` videos; the seconds it took."""
    show = messages.show_progress(streaming_to_stdout=False)
    start = time.perf_counter()
    with _writing(out_dir):
        with messages.progress(total, show, "synth") as tracker:

            def advance(record: dict[str, Any]) -> None:
                tracker.current(record["path"])
                tracker.advance()

            write(advance)
    return time.perf_counter() - start


def _sequences(
    ctx: click.Context,
    messages: Messages,
    out_dir: str,
    count: int | None,
    segments: int | None,
    segment_seconds: tuple[float, float] | None,
    seed: int,
    labels: list[str],
    options: SynthOptions,
    workers: int | None,
    overwrite: bool,
) -> None:
    """``--sequences``: check what does not go with it, then write the sequence set."""
    if count is None:
        given = "--segments" if segments is not None else "--segment-seconds"
        raise CliError(f"{given} needs --sequences N")
    for name in ("per_class", "reverse", "min_seconds", "max_seconds"):
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            hint = "; set segment lengths with --segment-seconds" if name.endswith("seconds") else ""
            raise CliError(f"--{name.replace('_', '-')} does not apply to --sequences{hint}")
    if count < 1:
        raise CliError(f"--sequences {count}: write at least 1 sequence")
    segments = 4 if segments is None else segments
    seconds = segment_seconds or SEGMENT_SECONDS
    problem = check_sequence_options(labels, segments, seconds, cli=True)
    if problem:
        raise CliError(problem)
    seconds_taken = _written(
        messages,
        out_dir,
        count,
        lambda advance: generate_sequences(
            out_dir,
            count,
            segments,
            seed=seed,
            classes=labels,
            segment_seconds=seconds,
            options=options,
            workers=workers or default_workers(),
            overwrite=overwrite,
            progress=advance,
        ),
    )
    messages.note(
        f"wrote {count} sequences ({segments} segments each, {len(labels)} classes, seed {seed}) "
        f"to {out_dir} in {seconds_taken:.1f} s"
    )


def _multi_label(
    ctx: click.Context,
    messages: Messages,
    out_dir: str,
    count: int,
    seed: int,
    classes: list[str] | None,
    options: SynthOptions,
    workers: int | None,
    overwrite: bool,
) -> None:
    """``--multi-label``: check what does not go with it, then write the multi-label set."""
    for name in ("sequences", "segments", "segment_seconds"):
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            raise CliError(f"--multi-label and --{name.replace('_', '-')} cannot be combined")
    for name in ("per_class", "reverse"):
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            hint = "; the number of videos is --multi-label N" if name == "per_class" else ""
            raise CliError(f"--{name.replace('_', '-')} does not apply to --multi-label{hint}")
    if count < 1:
        raise CliError(f"--multi-label {count}: write at least 1 video")
    pool = label_pool(classes)
    problem = check_multi_classes(pool, cli=True)
    if problem:
        raise CliError(problem)
    seconds_taken = _written(
        messages,
        out_dir,
        count,
        lambda advance: generate_multi_label(
            out_dir,
            count,
            seed=seed,
            classes=pool,
            options=options,
            workers=workers or default_workers(),
            overwrite=overwrite,
            progress=advance,
        ),
    )
    sizes = f"{SET_SIZES[0]}-{SET_SIZES[-1]}"
    messages.note(
        f"wrote {count} multi-label videos ({sizes} labels each, from {len(pool)} classes, seed {seed}) "
        f"to {out_dir} in {seconds_taken:.1f} s"
    )


__all__ = ["synth_command"]
