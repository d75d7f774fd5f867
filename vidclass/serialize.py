"""Values written as text for other programs: CSV that a spreadsheet opens without running
anything, and JSON without ``NaN`` or ``Infinity``.

Near the bottom of the stack (it imports nothing from vidclass), so that both the command
line (``predict``'s CSV and JSON) and the evaluation reports (``per_class.csv``,
``confusion.csv``, ``metrics.json``) write through the same two rules:

- A CSV cell that starts with ``=``, ``+``, ``-``, ``@``, TAB or CR would be read as a formula
  by a spreadsheet (OWASP, "CSV Injection"): it gets a leading ``'``. So does a cell that
  already starts with ``'``, so that dropping one leading ``'`` from a cell that has one always
  gives back the exact value. Every other character is kept, line breaks included: a cell with
  a comma, a quote, CR or LF is quoted (RFC 4180), so a CSV reader gets it back in one row.
- JSON has no NaN or Infinity (``json.dumps`` would write them, and strict parsers reject the
  document): a non-finite number is written as ``null``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
_QUOTED = (",", '"', "\r", "\n")


def csv_cell(value: object) -> str:
    """``value`` as one CSV cell's text: ``'`` before a leading formula character, an
    undecodable file-name byte as ``\\xNN`` (a CSV file is UTF-8), nothing else changed."""
    text = utf8("" if value is None else str(value))
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def utf8(text: str) -> str:
    """``text`` that encodes as UTF-8: an undecodable file-name byte (``os.fsdecode`` keeps it
    as a lone surrogate) becomes the four characters ``\\xNN``, any other lone surrogate
    ``\\udNNN``."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def csv_row(values: Iterable[object]) -> str:
    """One CSV line (``\\n``-terminated): each value through ``csv_cell``, quoted where needed.

    The standard library's writer leaves a lone CR unquoted when lines end in ``\\n``, and a
    reader then splits the row; this quotes any cell holding ``,``, ``"``, CR or LF.
    """
    cells = []
    for value in values:
        cell = csv_cell(value)
        if any(c in cell for c in _QUOTED):
            cell = '"' + cell.replace('"', '""') + '"'
        cells.append(cell)
    return ",".join(cells) + "\n"


def finite(obj: Any) -> Any:
    """``obj`` (dicts, lists, tuples, scalars) with every NaN or infinite float replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(value) for value in obj]
    return obj


def json_dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes NaN or Infinity: non-finite numbers become ``null``."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError:  # a non-finite float somewhere: rarely, so the walk is only done then
        return json.dumps(finite(obj), allow_nan=False, **kwargs)


__all__ = ["FORMULA_STARTS", "csv_cell", "csv_row", "finite", "json_dumps", "utf8"]
