"""The ``vidclass`` command: ``predict``, ``models``, ``info``, ``eval``, ``report``, ``convert``,
``synth``, ``train`` and ``export``.

Each command's module is imported only when the command runs or its help is shown, and it
imports torch only when the command runs; ``vidclass --help`` lists the commands from their
summaries in ``COMMANDS`` and imports none of them. Help pages and usage errors thus come
without the seconds that importing torch takes.

How every command ends when it is stopped is decided here, in ``LazyGroup`` (with
``vidclass.cli.signals`` for what comes before click is imported): Ctrl-C and SIGTERM, at any
moment, are one ``error:`` line and exit 130 or 143, after the command's ``finally`` blocks
have run; a closed pipe on the output is exit 0, quietly.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
from collections.abc import Iterator
from typing import Any

import click

from vidclass.cli import signals
from vidclass.errors import EXIT_OK, VidclassError

# name -> (module, attribute, summary). The summary is the first paragraph of the command's
# help, for the list in ``vidclass --help`` (tests/test_startup.py checks that they agree).
COMMANDS = {
    "predict": (
        "vidclass.cli.predict",
        "predict_command",
        "Classify videos: files, directories, or - to read paths from stdin (one per line).",
    ),
    "models": (
        "vidclass.cli.models",
        "models_command",
        "List the model configurations and the model files in weights/.",
    ),
    "info": (
        "vidclass.cli.info",
        "info_command",
        "Show a video's frames, rate, size and codec, and the views predict would take; or a model's card.",
    ),
    "explain": (
        "vidclass.cli.explain",
        "explain_command",
        "Show where the model looks in one clip of VIDEO: its maps over the frames, as a PNG grid.",
    ),
    "timeline": (
        "vidclass.cli.timeline",
        "timeline_command",
        "Label long videos window by window, then as segments: what happens when.",
    ),
    "eval": ("vidclass.cli.eval", "eval_command", "Evaluate a model on the labelled videos in DATASET."),
    "report": (
        "vidclass.cli.report",
        "report_command",
        "Metrics from predictions.jsonl files written by vidclass eval.",
    ),
    "convert": ("vidclass.cli.convert", "convert_command", "Convert SOURCE into a vidclass model file."),
    "synth": (
        "vidclass.cli.synth",
        "synth_command",
        "Write a synthetic benchmark of videos that only motion tells apart.",
    ),
    "train": ("vidclass.cli.train", "train_command", "Train MODEL on the labelled videos in DATASET_DIR."),
    "export": (
        "vidclass.cli.export",
        "export_command",
        "Export MODEL to an ONNX file, its card in the file's metadata.",
    ),
}


class LazyGroup(click.Group):
    """A group that imports each command from ``COMMANDS`` when it is first asked for.

    Listing the commands in the group's help needs only their summaries: while it runs, a
    command not yet imported is stood in for by one that has just its summary (importing
    ``synth`` alone would import numpy).
    """

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute, summary = COMMANDS[cmd_name]
            if self._listing:
                return click.Command(cmd_name, help=summary)
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in COMMANDS:  # not a command: click suggests the closest ones it has
            for name in COMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The ``vidclass`` process (the console script, ``python -m vidclass``): SIGTERM is
        handled like Ctrl-C from here on (``signals.handled``). Click's test runner calls
        ``main`` instead, and leaves the signals as they are."""
        with signals.handled():
            return super().__call__(*args, **kwargs)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        with _how_it_ends():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _how_it_ends():
            try:
                return super().invoke(ctx)
            except VidclassError as exc:  # one the command did not turn into a CliError itself
                from vidclass.cli.output import CliError

                raise CliError.from_exception(exc) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False


@contextlib.contextmanager
def _how_it_ends() -> Iterator[None]:
    """Ctrl-C or SIGTERM (``signals.Terminated``): one ``error:`` line, exit 130 or 143 (its
    ``CliError``), once the command has unwound. A closed pipe (EPIPE, ``| head -1``): exit 0 and
    nothing more, whether the command was writing results or a message; what is still buffered
    for stdout and stderr is dropped, so that the exit adds no complaint of its own. Click's own
    handling would print "Aborted!" and exit 1 for both."""
    try:
        yield
    except KeyboardInterrupt as exc:
        from vidclass.cli.output import CliError

        raise CliError.from_exception(exc) from None
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        from vidclass.cli.output import discard, stderr, stdout

        discard(stdout(), stderr())
        raise click.exceptions.Exit(EXIT_OK) from None


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from vidclass import __version__  # read from the package metadata only when asked

    click.echo(f"vidclass, version {__version__}")
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--version",
    "-V",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the version and exit.",
)
def main() -> None:
    """Label local video files with ViViT models.

    Results go to stdout, progress and errors to stderr. Exit status: 0 when every input
    worked, 1 when any input failed, 2 for usage errors.
    """


__all__ = ["main"]
