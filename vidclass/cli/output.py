"""Every decision about where command-line output goes, and how it looks, is made here.

- Results go to stdout (or to ``--output FILE``); progress, notes, warnings and errors go to
  stderr. Only this module (and, for ``predict --output``, ``vidclass.cli.results``) picks a
  stream: ``predict``'s result writers write to the one ``results.open_results`` gives them.
- Streams are looked up when used (``sys.stdout`` at call time), so click's test runner and
  shell redirections are honoured.
- Colour: never when ``NO_COLOR`` is set (https://no-color.org), never on a stream that is
  not a terminal. Tables sent to a pipe or a file are plain text at their natural width.
- The progress bar is drawn on stderr only when stderr is a terminal, ``--quiet`` is off and
  results are not being streamed to that same terminal.
- Each failed input is one line on stderr: ``error: <path>: <message>``.
- Text from outside (file names, labels, codec names, error messages) never reaches a
  terminal raw: ``printable`` shows control characters as escapes (``\\x1b``, ``\\n``), the
  way ``ls -b`` does, and every string a console here renders goes through it. Rich markup is
  off, so ``[bold]`` is printed as it is. This holds for stderr whether or not it is a terminal
  (logs get cat'ed); JSON output keeps the exact values (JSON escapes control characters).
- A result that cannot be written (a full disk, ``-o /dev/full``) is one ``error:`` line and
  exit 2 (``ResultStream``); a closed pipe (``| head -1``) ends the command quietly with exit 0
  (``vidclass.cli.main``).
- Ctrl-C and SIGTERM are one line, ``error: interrupted`` (exit 130) or ``error: terminated``
  (exit 143): ``CliError.from_exception`` of the ``KeyboardInterrupt``.

The output itself is built elsewhere, on the consoles and in the JSON made here: ``predict``'s
results, in each ``--format``, by the writers in ``vidclass.cli.writers``; the other commands'
tables in ``vidclass.cli.tables`` and ``vidclass.cli.eval_output``, printed through
``write_document`` here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, cast

import click
from rich.console import Console
from rich.text import Text

from vidclass.cli.signals import stop_status, stop_word
from vidclass.errors import EXIT_USAGE, VidclassError
from vidclass.serialize import json_dumps, utf8

if TYPE_CHECKING:  # annotations only: rich.progress is imported when a bar is drawn
    from rich.progress import Progress

RESULT_FORMATS = ("table", "json", "jsonl", "csv")
DOCUMENT_FORMATS = ("table", "json")
_SUFFIX_FORMATS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_PLAIN_WIDTH = 4096  # tables on a non-terminal: natural width, never wrapped at 80 columns


# --------------------------------------------------------------------------- streams & consoles


def stdout() -> IO[str]:
    return sys.stdout


def stderr() -> IO[str]:
    return sys.stderr


def isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def color_disabled() -> bool:
    return os.environ.get("NO_COLOR", "") != ""


class _Console(Console):
    """A console that shows every string it renders through ``printable``: a table cell, a
    title or a printed string can carry no escape sequence of its own."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs)


def make_console(stream: IO[str]) -> Console:
    """A rich console on ``stream``: colour only on a terminal and without ``NO_COLOR``; no
    markup, emoji or highlighting; strings shown through ``printable``. A ``Text`` built by
    hand bypasses that: build it from ``printable(...)``."""
    tty = isatty(stream)
    console = _Console(
        file=stream,
        force_terminal=tty,
        no_color=color_disabled() or not tty,
        color_system="auto" if tty and not color_disabled() else None,
        highlight=False,
        emoji=False,
        markup=False,
        width=None if tty else _PLAIN_WIDTH,
        soft_wrap=False,
    )
    return console


# C0 and C1 control characters, DEL, and the invisible marks that reorder text (bidi controls)
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def printable(text: str) -> str:
    """``text`` safe to show on a terminal, on one line: control characters (ESC, BEL, CR, LF,
    ...) and bidi controls become escapes such as ``\\x1b`` and ``\\n``, undecodable
    file-name bytes ``\\xNN``; all else is kept. Backslashes are not doubled, so applying it
    twice changes nothing (the exact text is in the JSON output)."""
    return _UNPRINTABLE.sub(_escape, utf8(text))


def dumps(obj: Any, indent: int | None = None) -> str:
    """JSON text; non-ASCII kept readable, undecodable file-name bytes kept as \\udcXX escapes,
    NaN and infinities written as null (``vidclass.serialize.json_dumps``)."""
    text = json_dumps(obj, ensure_ascii=False, indent=indent)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json_dumps(obj, ensure_ascii=True, indent=indent)
    return text


# --------------------------------------------------------------------------- messages on stderr


class Messages:
    """Progress, notes, warnings and errors: everything that goes to stderr."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.console = make_console(stderr())

    def _line(self, prefix: str, style: str, message: str) -> None:
        line = Text.assemble((prefix, style), ": ", printable(message))
        self.console.print(line, soft_wrap=True, overflow="ignore", crop=False)

    def error(self, message: str) -> None:
        """``error: <message>`` on one line; never suppressed."""
        self._line("error", "bold red", message)

    def input_error(self, path: str, message: str) -> None:
        """The one line printed for each failed input (control characters escaped)."""
        self.error(f"{path}: {message}")

    def warning(self, message: str) -> None:
        self._line("warning", "yellow", message)

    def note(self, message: str) -> None:
        """Informational; suppressed by ``--quiet``."""
        if not self.quiet:
            self._line("note", "cyan", message)

    def show_progress(self, streaming_to_stdout: bool) -> bool:
        """Draw a bar only on a terminal stderr, unless quiet or results stream to a terminal."""
        if self.quiet or not isatty(stderr()):
            return False
        return not (streaming_to_stdout and isatty(stdout()))

    @contextlib.contextmanager
    def progress(
        self, total: int | None, enabled: bool, description: str = "", status: bool = False
    ) -> Iterator[Tracker]:
        """A bar of ``total`` (None: not known yet) units; ``status``: a text column after it,
        which ``Tracker.update`` sets."""
        if not enabled:
            yield Tracker(None, None)
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = [
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        if status:
            columns.append(TextColumn("{task.fields[status]}", markup=False))
        bar = Progress(
            *columns,
            console=self.console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        with bar:
            task = bar.add_task(printable(description), total=total, status="")
            yield Tracker(bar, task)


class Tracker:
    """Advances the progress bar; does nothing when the bar is off."""

    def __init__(self, bar: Progress | None, task: Any) -> None:
        self._bar = bar
        self._task = task

    def current(self, path: str, status: str = "") -> None:
        """Show ``path``'s file name, after ``status`` (a running figure) when given."""
        if self._bar is not None:
            name = printable(os.path.basename(path) or path)
            self._bar.update(self._task, description=f"{printable(status)} {name}" if status else name)

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def update(self, completed: int, total: int | None, description: str, status: str = "") -> None:
        """Set the bar: ``completed`` of ``total``, its description and status text."""
        if self._bar is not None:
            self._bar.update(
                self._task,
                completed=completed,
                total=total,
                description=printable(description),
                status=printable(status),
            )


class CliError(click.ClickException):
    """A failure reported as one ``error: ...`` line on stderr (exit 2 unless told)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click types it per class; ours is per error

    @classmethod
    def from_exception(cls, exc: BaseException, message: str | None = None) -> CliError:
        """``exc``, raised by the library, as the command's failure: the one place where an error
        becomes an exit status. A ``VidclassError`` keeps its ``exit_code``; Ctrl-C is 130 and
        SIGTERM 143 (``signals.stop_status``); any other exception is a usage error. The message
        is ``message``, else the exception's text on one line (``interrupted``, ``terminated``)."""
        if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, or SIGTERM (signals.Terminated)
            return cls(stop_word(exc) if message is None else message, stop_status(exc))
        exit_code = exc.exit_code if isinstance(exc, VidclassError) else EXIT_USAGE
        return cls(" ".join(str(exc).split()) if message is None else message, exit_code)

    def show(self, file: IO[Any] | None = None) -> None:
        Messages().error(self.format_message())


# --------------------------------------------------------------------------- formats, result files


def result_format(fmt: str | None, output: str | None) -> str:
    """``--format`` if given; else by ``--output``'s suffix (jsonl if unknown); else table on a
    terminal and jsonl on a pipe."""
    if fmt:
        return fmt
    if output is not None and output != "-":
        return _SUFFIX_FORMATS.get(os.path.splitext(output)[1].lower(), "jsonl")
    return "table" if isatty(stdout()) else "jsonl"


def document_format(fmt: str | None) -> str:
    """For ``models`` and ``info``: table on a terminal, json elsewhere."""
    if fmt:
        return fmt
    return "table" if isatty(stdout()) else "json"


class ResultStream:
    """The text stream results go to. A write that fails (a full disk, ``/dev/full``) is one
    ``CliError`` (exit 2) naming where; a closed pipe (EPIPE) is left to the command line's
    entry (``vidclass.cli.main``), which ends the command quietly with exit 0, as
    ``vidclass predict ... | head -1`` expects."""

    def __init__(self, raw: IO[str], where: str) -> None:
        self.raw = raw
        self.where = where
        self.failed = False

    def _failed(self, exc: OSError) -> Exception:
        self.failed = True
        if exc.errno == errno.EPIPE:
            return exc
        return CliError(f"{self.where}: {exc.strerror or exc}")

    def write(self, text: str) -> int:
        try:
            return self.raw.write(text)
        except OSError as exc:
            raise self._failed(exc) from exc

    def flush(self) -> None:
        try:
            self.raw.flush()
        except OSError as exc:
            raise self._failed(exc) from exc

    def isatty(self) -> bool:
        return isatty(self.raw)

    def fileno(self) -> int:
        return self.raw.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.raw, "encoding", None) or "utf-8"


def discard(*streams: IO[str]) -> None:
    """After writing failed (a full disk, a closed pipe): send what is still buffered for these
    streams, and anything written to them later, to /dev/null, so that the exit adds no second
    complaint (the way Python's docs handle a closed pipe). A stream with no file descriptor
    (click's test runner) is left as it is."""
    for stream in streams:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, stream.fileno())
            finally:
                os.close(devnull)


@contextlib.contextmanager
def stdout_results() -> Iterator[IO[str]]:
    """stdout as a ``ResultStream``: a failed write is one ``error:`` line (exit 2), and what
    is still buffered for stdout is dropped (sent to /dev/null) so the exit adds nothing."""
    stream = ResultStream(stdout(), "stdout")
    try:
        yield cast(IO[str], stream)
    except CliError:
        if stream.failed:
            discard(stdout())
        raise


# --------------------------------------------------------------------------- documents


def write_document(data: Any, fmt: str, render_table: Any) -> None:
    """``models`` / ``info`` output: JSON text, or the rich renderables from ``render_table``."""
    with stdout_results() as stream:
        if fmt == "json":
            stream.write(dumps(data, indent=2) + "\n")
        else:
            console = make_console(stream)
            for renderable in render_table(data):
                console.print(renderable)
        stream.flush()


__all__ = [
    "DOCUMENT_FORMATS",
    "RESULT_FORMATS",
    "CliError",
    "Messages",
    "ResultStream",
    "discard",
    "document_format",
    "dumps",
    "isatty",
    "make_console",
    "printable",
    "stdout_results",
    "result_format",
    "write_document",
]
