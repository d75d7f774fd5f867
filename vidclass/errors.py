"""Every error that vidclass raises on purpose, and the exit status a command ends with for it.

The bottom of the stack: it imports nothing from vidclass, and every layer may import it. Each
class knows its exit status, so the command line maps an error to a status in one place:

- ``InputError`` (exit 1): one input could not be used (a video, a dataset entry). In a batch it
  becomes one error record and one ``error:`` line, and the batch goes on.
- ``VidclassError`` and its other subclasses (exit 2): what the user asked for cannot run (a
  model that does not load, a bad option value, an output that would overwrite an input).

A message is one line, fit to print after ``error:``.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class VidclassError(Exception):
    """What the user asked for cannot be done; ``str(error)`` is one line."""

    exit_code: int = EXIT_USAGE


class InputError(VidclassError):
    """One input (a video file, a dataset entry) cannot be used; the others go on."""

    exit_code = EXIT_FAILED_INPUT


def require(condition: bool, message: str, error: type[Exception] = ValueError) -> None:
    """Raise ``error(message)`` unless ``condition``: the one check that record validators use."""
    if not condition:
        raise error(message)


__all__ = [
    "EXIT_FAILED_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "InputError",
    "VidclassError",
    "require",
]
