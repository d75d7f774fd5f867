"""What a labelled dataset is (``Sample``, ``Dataset``) and the errors reading or matching one raises."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from vidclass.errors import VidclassError


class DatasetError(VidclassError, ValueError):
    """A dataset that cannot be read as asked; the message is one line naming the problem.

    A ``VidclassError`` (exit 2: the evaluation cannot run), and still a ``ValueError``, as it
    was before ``vidclass.errors`` existed, for callers that catch that."""


class UnknownLabelsError(DatasetError):
    """Dataset labels the model does not have; ``unknown`` lists them."""

    def __init__(self, unknown: Sequence[str], suggestions: dict[str, str] | None = None) -> None:
        self.unknown = list(unknown)
        self.suggestions = dict(suggestions or {})
        shown = []
        for label in self.unknown[:20]:
            hint = self.suggestions.get(label)
            shown.append(f"{label!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
        more = f" and {len(self.unknown) - 20} more" if len(self.unknown) > 20 else ""
        hint = ""
        if self.unknown and all(label.isdigit() for label in self.unknown):
            hint = "; they look like class indices, but labels are matched by name"
        super().__init__(
            f"{len(self.unknown)} dataset label(s) not among the model's labels: {', '.join(shown)}{more}{hint}"
            " (--ignore-unknown skips their videos)"
        )


@dataclass(frozen=True)
class Action:
    """One action of a multi-label video (Charades' ``c092 11.90 21.20``): its label and when
    it happens, in seconds."""

    label: str
    start: float
    end: float


@dataclass(frozen=True)
class Sample:
    """One labelled video: ``path`` to open, ``label`` as the dataset writes it, ``key`` its id.

    A multi-label sample has ``labels``, its label set (possibly empty: a video with no listed
    action), and ``label`` is ``""``; a single-label sample has ``labels`` None. ``actions``
    keeps when each action happens where the dataset says (Charades)."""

    path: str
    label: str
    key: str = ""
    labels: tuple[str, ...] | None = None
    actions: tuple[Action, ...] = ()

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.path)
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(dict.fromkeys(self.labels)))

    @property
    def label_set(self) -> tuple[str, ...]:
        """The labels of this video: its set when multi-label, else its one label."""
        return self.labels if self.labels is not None else (self.label,)


@dataclass
class Dataset:
    """A labelled dataset: the videos on disk (``samples``) and those listed but absent (``missing``)."""

    root: str
    layout: str
    samples: list[Sample]
    missing: list[Sample] = field(default_factory=list)
    annotations: str | None = None  # the annotation file read, if any
    base: str | None = None  # the folder relative paths were resolved against
    unlabelled: list[str] = field(default_factory=list)  # videos found with no label (folders layout)
    duplicates: int = 0  # repeated listings of the same video with the same label, dropped
    multi_label: bool = False  # samples carry label sets (``Sample.labels``)
    class_names: dict[str, str] = field(default_factory=dict)  # label id -> name (Charades' class file)

    @property
    def listed(self) -> list[Sample]:
        """Every listed sample, on disk or not, in the dataset's order."""
        if not self.missing:
            return list(self.samples)
        order = self._order
        return sorted([*self.samples, *self.missing], key=lambda s: order[s.key])

    @property
    def classes(self) -> list[str]:
        """The distinct labels of all listed samples (every member of a label set), sorted."""
        return sorted({label for s in (*self.samples, *self.missing) for label in s.label_set})

    def __len__(self) -> int:
        return len(self.samples) + len(self.missing)

    def __post_init__(self) -> None:
        self._order: dict[str, int] = {s.key: i for i, s in enumerate(self.samples)}

    def _set_order(self, keys: Iterable[str]) -> None:
        self._order = {key: i for i, key in enumerate(keys)}


__all__ = ["Action", "Dataset", "DatasetError", "Sample", "UnknownLabelsError"]
