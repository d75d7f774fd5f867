"""Where ``vidclass predict`` writes its results: stdout, or ``--output FILE``.

- ``--output`` never names one of the inputs (``refuse_input_as_output``, before anything is
  written): ``-o video.mp4`` would replace the video by its results.
- ``json`` and ``table`` (written at the end) go to a temporary file beside ``FILE``, renamed
  over it when the command completes: ``FILE`` holds its old content or the complete new one.
- ``jsonl`` and ``csv`` stream into ``FILE`` itself, one whole record per flush; a write that
  fails cuts the file back to the records written whole before it.
- A write that fails (a full disk, ``/dev/full``) is one ``error:`` line and exit 2
  (``output.ResultStream``).

Like an existing file named by a shell's ``>``, an existing ``FILE`` is replaced.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Sequence
from typing import IO, cast

from vidclass.cli.output import CliError, ResultStream, stdout_results


def refuse_input_as_output(output: str | None, inputs: Sequence[str]) -> None:
    """Exit 2, before anything is written, when ``--output`` is one of ``inputs``: the same
    path, or the same file through a symlink or a hard link (``-o video.mp4`` would replace the
    video by its own results)."""
    if output is None or output == "-":
        return
    try:
        target: os.stat_result | None = os.stat(output)
    except OSError:  # nothing there yet: only the same path can be the same file
        target = None
    where = os.path.abspath(output)
    for path in inputs:
        if target is None:
            same = os.path.abspath(path) == where
        else:
            try:
                found = os.stat(path)
            except OSError:
                continue
            same = (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino)
        if same:
            raise CliError(f"--output {output} is also an input ({path}): refusing to overwrite it")


@contextlib.contextmanager
def open_results(output: str | None, atomic: bool = False) -> Iterator[IO[str]]:
    """stdout, or ``output`` opened for writing (UTF-8, newline='' for CSV), as a
    ``ResultStream``.

    ``atomic`` (``json`` and ``table``, written at the end): a regular file is written under a
    temporary name beside it (``NAME.PID.partial``) and renamed over ``output`` only when the
    command completes, so ``output`` holds its old content or the complete new one, never a part
    (a full disk or a SIGTERM leaves the old file and removes the temporary; Ctrl-C during the
    run writes the results finished so far, whole; only SIGKILL can leave the temporary). The
    streamed formats write ``output`` in place, one whole record at a time; a write that fails
    cuts the file back to the records written whole before it.
    """
    if output is None or output == "-":
        with stdout_results() as results:
            yield results
        return
    target, temporary = _result_path(output, atomic)
    try:
        handle = open(temporary or target, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        if temporary is None:
            raise CliError(f"--output {output}: {exc.strerror or exc}") from exc
        target, temporary = output, None  # no temporary beside it (say, a read-only folder)
        try:
            handle = open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc2:
            raise CliError(f"--output {output}: {exc2.strerror or exc2}") from exc2
    stream = _FileResults(handle, f"--output {output}")
    try:
        yield cast(IO[str], stream)
        stream.close()
        if temporary is not None:
            _keep_mode(target, temporary)
            try:
                os.replace(temporary, target)
            except OSError as exc:
                raise CliError(f"--output {output}: {exc.strerror or exc}") from exc
    except BaseException:
        stream.abandon(None if temporary else target)
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise


class _FileResults(ResultStream):
    """A result file: remembers where its last complete record ended (each is flushed whole)."""

    def __init__(self, raw: IO[str], where: str) -> None:
        super().__init__(raw, where)
        self.complete = 0

    def flush(self) -> None:
        super().flush()
        with contextlib.suppress(OSError, ValueError):
            self.complete = self.raw.tell()  # a byte offset: the file is write-only

    def close(self) -> None:
        try:
            self.raw.close()
        except OSError as exc:
            raise self._failed(exc) from exc

    def abandon(self, path: str | None) -> None:
        """Close after a failure; cut ``path`` (written in place) back to whole records."""
        with contextlib.suppress(OSError):
            self.raw.close()
        if path is not None:
            with contextlib.suppress(OSError):
                found = os.stat(path)
                if stat.S_ISREG(found.st_mode) and found.st_size > self.complete:
                    os.truncate(path, self.complete)


def _result_path(output: str, atomic: bool) -> tuple[str, str | None]:
    """Where to write: ``(target, temporary)``; a temporary only for an atomic result that is
    (or will be) a regular file. A symlink is followed: its target is replaced, not the link."""
    if not atomic:
        return output, None
    try:
        if not stat.S_ISREG(os.stat(output).st_mode):  # /dev/stdout, a FIFO: written in place
            return output, None
    except OSError:
        pass
    target = os.path.realpath(output)
    return target, f"{target}.{os.getpid()}.partial"


def _keep_mode(target: str, temporary: str) -> None:
    """The replaced file's permissions, not the temporary's."""
    with contextlib.suppress(OSError):
        os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))


__all__ = ["open_results", "refuse_input_as_output"]
