"""Dataset labels matched to a model's labels by name.

``match_labels`` maps dataset labels to a model's labels by name, ignoring case, underscores
versus spaces and quote characters; a dataset label that is an id (Charades' ``c092``) is
matched by its class name too when the model has no label of that id.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from vidclass.data.samples import DatasetError, UnknownLabelsError

_QUOTES = "'\"`\u2018\u2019\u201c\u201d\u00b4"
_QUOTE_TABLE = str.maketrans("", "", _QUOTES)


def normalize_label(label: str) -> str:
    """The form labels are compared in: case, quotes, underscores and spacing don't matter."""
    text = unicodedata.normalize("NFKC", label).translate(_QUOTE_TABLE).replace("_", " ")
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class LabelMatch:
    """How dataset labels map to model labels."""

    mapping: dict[str, str]  # dataset label -> model label, for every known label
    unknown: list[str]  # dataset labels the model lacks (sorted)
    inexact: list[str]  # dataset labels matched only after normalisation (sorted)
    named: list[str] = field(default_factory=list)  # dataset labels matched through their name (sorted)


def match_labels(
    dataset_labels: Iterable[str],
    model_labels: Sequence[str],
    ignore_unknown: bool = False,
    names: Mapping[str, str] | None = None,
) -> LabelMatch:
    """Map each dataset label to the model label of the same name.

    An exact match wins; otherwise labels are compared after ``normalize_label``. A label that
    matches neither way is tried again, the same two ways, through its name ``names[label]``
    (``Dataset.class_names``: Charades' ``c092`` matches a model label ``c092``, or one named
    like the class); those are listed in ``named``. Labels the model lacks raise
    ``UnknownLabelsError`` (listing them, with suggestions) unless ``ignore_unknown``; a label
    that matches several model labels only after normalisation raises ``DatasetError``.
    """
    exact = set(model_labels)
    by_form: dict[str, list[str]] = {}
    for label in model_labels:
        by_form.setdefault(normalize_label(label), []).append(label)

    def find(label: str) -> str | None:
        if label in exact:
            return label
        candidates = by_form.get(normalize_label(label), [])
        if len(candidates) > 1:
            raise DatasetError(
                f"dataset label {label!r} matches several model labels: {', '.join(map(repr, candidates))}"
            )
        return candidates[0] if candidates else None

    names = names or {}
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    inexact: list[str] = []
    named: list[str] = []
    for label in sorted(set(dataset_labels)):
        found = find(label)
        if found is not None:
            mapping[label] = found
            if found != label:
                inexact.append(label)
            continue
        found = find(names[label]) if label in names else None
        if found is not None:
            mapping[label] = found
            named.append(label)
        else:
            unknown.append(label)
    if unknown and not ignore_unknown:
        forms = list(by_form)
        suggestions = {}
        for label in unknown:
            close = difflib.get_close_matches(normalize_label(names.get(label, label)), forms, n=1, cutoff=0.75)
            if close:
                suggestions[label] = by_form[close[0]][0]
        raise UnknownLabelsError(unknown, suggestions)
    return LabelMatch(mapping=mapping, unknown=unknown, inexact=inexact, named=named)


__all__ = ["LabelMatch", "match_labels", "normalize_label"]
