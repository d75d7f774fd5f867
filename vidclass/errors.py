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

import enum
import math
import numbers
from typing import TypeVar, cast

EXIT_OK = 0
EXIT_FAILED_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


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


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _finite(value: numbers.Real) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def require_int(value: object, name: str, low: int, high: int) -> int:
    """``value`` as an ``int`` when it is an integer (a bool is not) from ``low`` to ``high``;
    else ``ValueError`` naming ``name``: the check of every integer field of a record."""
    require(
        isinstance(value, numbers.Integral) and not isinstance(value, bool),
        f"{name} must be an integer, got {_shown(value)}",
    )
    number = int(cast(numbers.Integral, value))
    require(number >= low, f"{name} must be >= {low}, got {number}")
    require(number <= high, f"{name} must be <= {high}, got {number}")
    return number


def require_number(
    value: object, name: str, low: float, high: float, *, above: bool = False, below: bool = False
) -> float:
    """``value`` as a ``float`` when it is a finite number (a bool is not) from ``low`` to
    ``high`` (strictly ``above`` low, strictly ``below`` high); else ``ValueError`` naming ``name``."""
    require(
        isinstance(value, numbers.Real) and not isinstance(value, bool) and _finite(value),
        f"{name} must be a finite number, got {_shown(value)}",
    )
    number = float(cast(numbers.Real, value))
    require(number > low if above else number >= low, f"{name} must be {'>' if above else '>='} {low}, got {number}")
    require(number < high if below else number <= high, f"{name} must be {'<' if below else '<='} {high}, got {number}")
    return number


Choice = TypeVar("Choice", bound=enum.Enum)


def require_choice(value: object, name: str, choices: type[Choice]) -> Choice:
    """``value`` as a member of the enum ``choices`` (given as the member or its value); else
    ``ValueError`` naming ``name`` and the choices."""
    try:
        return choices(value)
    except (ValueError, TypeError):
        names = ", ".join(repr(member.value) for member in choices)
        raise ValueError(f"{name} must be one of {names}, got {_shown(value)}") from None


__all__ = [
    "EXIT_FAILED_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "InputError",
    "VidclassError",
    "require",
    "require_choice",
    "require_int",
    "require_number",
]
