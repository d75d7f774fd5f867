"""Time reversal, a training augmentation (``vidclass train --time-reversal SPEC``).

A video played backwards is a valid video of its class's *twin*: "moving left" reversed is
"moving right", "growing" reversed is "shrinking", and a time-symmetric class ("static",
"blinking") is its own twin. SPEC names the twins, as comma-separated items: ``a:b`` says a
reversed ``a`` clip is a ``b`` and a reversed ``b`` is an ``a``; ``c`` says ``c`` is its own
reverse. A class not named is never reversed (its reversal may be no video of any class).

Each training clip of a named class is reversed with probability ``REVERSAL_PROBABILITY``
(0.5), drawn from the clip's own generator (seeded by seed, epoch and video), after every other
draw of the clip, so a run stays reproducible and its other augmentations are those of the same
run without reversal; the reversed clip's target is the twin's class index, before label
smoothing and MixUp/CutMix see it. Multi-label runs are refused: a label set's reversal is
ambiguous (the twin of one action of a video need not be what the video shows reversed).

``canonical_spec`` writes a SPEC in the one form a run records (items and each pair's names
in sorted order), so an equivalent SPEC resumes the run; ``synth_twins_spec`` reads the twins
of a ``vidclass synth`` set from its ``synth.json``.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

REVERSAL_PROBABILITY = 0.5
TWINS_KEYWORD = "twins"  # --time-reversal twins: the twins a vidclass synth set's synth.json lists

Pair = tuple[str, str]  # (a, b): reversed a is b and reversed b is a; (c, c): c is its own reverse


def parse_spec(spec: str) -> tuple[Pair, ...]:
    """The twin pairs of ``spec`` in canonical order (``(c, c)`` for an item ``c``); ValueError
    for an empty spec or item, an item of more than two names, ``a:a`` (write ``a``), or a class
    named twice."""
    if not spec.strip():
        raise ValueError(
            "time reversal: the spec is empty: name twins as a:b and self-reversing classes as c, e.g. up:down,static"
        )
    pairs: list[Pair] = []
    seen: set[str] = set()
    for item in spec.split(","):
        names = [name.strip() for name in item.split(":")]
        where = f"time reversal {spec!r}" + (f": {item.strip()!r}" if item.strip() != spec.strip() else "")
        if not item.strip():
            raise ValueError(
                f"time reversal {spec!r}: an empty item: items are a:b (twins) or c (its own reverse), by commas"
            )
        if len(names) > 2 or not all(names):
            raise ValueError(f"{where}: no item: write a:b (twins) or c (its own reverse)")
        if len(names) == 2 and names[0] == names[1]:
            raise ValueError(f"{where}: a class that is its own reverse is written alone, as {names[0]!r}")
        for name in dict.fromkeys(names):
            if name in seen:
                raise ValueError(f"time reversal {spec!r}: {name} is named twice: a class has one twin")
            seen.add(name)
        first, second = sorted(names) if len(names) == 2 else (names[0], names[0])
        pairs.append((first, second))
    return tuple(sorted(pairs))


def canonical_spec(spec: str) -> str:
    """``spec`` in the form a run records: ``parse_spec``'s pairs, ``a:b`` or ``c``, by commas."""
    return ",".join(a if a == b else f"{a}:{b}" for a, b in parse_spec(spec))


def reversal_targets(spec: str, labels: Sequence[str]) -> dict[int, int]:
    """Class index -> the class index of its reversed clips, for each class ``spec`` names;
    ValueError for a name that is not one of ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    targets: dict[int, int] = {}
    for a, b in parse_spec(spec):
        for name in (a, b):
            if name not in index:
                close = difflib.get_close_matches(name, list(index), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                shown = ", ".join(labels[:12]) + (", ..." if len(labels) > 12 else "")
                raise ValueError(
                    f"time reversal: {name} is not a class of the training set{hint}; its classes: {shown}"
                )
        targets[index[a]], targets[index[b]] = index[b], index[a]
    return targets


def draw_reversal(target: int | tuple[int, ...], twins: Mapping[int, int], rng: np.random.Generator) -> int | None:
    """The target of this clip reversed (its twin's class index) when the draw reverses it,
    else None. A class without a twin (or a label set) draws nothing from ``rng``; a named class
    draws once."""
    if not isinstance(target, int) or target not in twins:
        return None
    return twins[target] if rng.random() < REVERSAL_PROBABILITY else None


def synth_twins_spec(dataset_dir: str | os.PathLike[str], labels: Sequence[str]) -> str:
    """The SPEC of the twins that ``dataset_dir/synth.json`` (written by ``vidclass synth``)
    lists, for the classes of ``labels`` whose twin is one of ``labels`` too (a class whose twin
    the run lacks is not reversed); ValueError when there is no such file or no such twin."""
    from vidclass.synth import MANIFEST

    path = Path(dataset_dir) / MANIFEST
    if not path.is_file():
        raise ValueError(
            f"--time-reversal {TWINS_KEYWORD}: {path} does not exist (only a vidclass synth set lists its twins): "
            "name the twins instead, as a:b,c"
        )
    try:
        twins = json.loads(path.read_text(encoding="utf-8"))["twins"]
        items = {tuple(sorted((str(a), str(b)))) for a, b in twins.items() if a in labels and b in labels}
    except (OSError, UnicodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"--time-reversal {TWINS_KEYWORD}: {path} lists no twins ({type(exc).__name__})") from exc
    if not items:
        raise ValueError(f"--time-reversal {TWINS_KEYWORD}: {path} lists no class whose twin is in the training set")
    return canonical_spec(",".join(a if a == b else f"{a}:{b}" for a, b in sorted(items)))


__all__ = [
    "REVERSAL_PROBABILITY",
    "TWINS_KEYWORD",
    "canonical_spec",
    "draw_reversal",
    "parse_spec",
    "reversal_targets",
    "synth_twins_spec",
]
