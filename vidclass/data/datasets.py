"""Labelled video datasets: find the videos and their labels, whatever the layout.

Layouts (``load_dataset`` detects them; ``layout=`` or an explicit annotation file forces one):

``folders``
    Class-per-folder, as in UCF101 or ImageFolder: ``ROOT/<label>/<video>``. Videos may sit
    at any depth below their class folder. Hidden names are skipped; files that are not
    videos (by extension) are ignored; videos directly in ``ROOT`` have no label and are
    reported in ``Dataset.unlabelled``.
``kinetics``
    A Kinetics annotation CSV with the header ``label,youtube_id,time_start,time_end,split``.
    Row ``abseiling,0347ZoDXyP0,14,24,val`` is the video ``0347ZoDXyP0_000014_000024.<ext>``
    anywhere below ``ROOT`` (flat, or in label folders, under any spelling of the label).
    A file named just ``<youtube_id>.<ext>`` is accepted too.
``csv``
    ``path,label`` rows. A header row is recognised by its column names (``path``/``video``/
    ``file``/``filename`` and ``label``/``class``/``category``) and may name the columns in
    any order; without one, the first column is the path and the second the label.
``lines``
    Whitespace-separated ``path label`` lines, split at the last run of whitespace so paths
    may contain spaces; fields may be quoted; ``#`` starts a comment line. A line (or CSV row)
    with a path alone takes its label from the path's first folder, as UCF101's test lists do.

Relative paths in an annotation file are relative to the file's folder. When the file lies
outside ``ROOT``, they are relative to ``ROOT`` instead if more of the listed videos are found
there (mmaction2's ``data_prefix`` convention); ``Dataset.base`` says which was used.

Every listed video is accounted for: ``samples`` are on disk, ``missing`` are not. Order is
deterministic: sorted by label folder and path for ``folders``, file order for annotation
files. ``Sample.key`` is a sample's stable identity (the relative path as listed; the
``<youtube_id>_<start>_<end>`` name for Kinetics), used to resume and to merge results.

``match_labels`` maps dataset labels to a model's labels by name, ignoring case, underscores
versus spaces and quote characters.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import re
import shlex
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from vidclass.data.files import is_video_name
from vidclass.defaults import LAYOUTS

ANNOTATION_SUFFIXES = (".csv", ".txt", ".lst", ".list", ".tsv")
KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")
_PATH_COLUMNS = ("path", "video", "file", "filename", "video_path", "filepath", "name", "video_id")
_LABEL_COLUMNS = ("label", "class", "category", "class_name", "classname", "action")
_QUOTES = "'\"`\u2018\u2019\u201c\u201d\u00b4"
_QUOTE_TABLE = str.maketrans("", "", _QUOTES)


class DatasetError(ValueError):
    """A dataset that cannot be read as asked; the message is one line naming the problem."""


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
class Sample:
    """One labelled video: ``path`` to open, ``label`` as the dataset writes it, ``key`` its id."""

    path: str
    label: str
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.path)


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

    @property
    def listed(self) -> list[Sample]:
        """Every listed sample, on disk or not, in the dataset's order."""
        if not self.missing:
            return list(self.samples)
        order = self._order
        return sorted([*self.samples, *self.missing], key=lambda s: order[s.key])

    @property
    def classes(self) -> list[str]:
        """The distinct labels of all listed samples, sorted."""
        return sorted({s.label for s in self.samples} | {s.label for s in self.missing})

    def __len__(self) -> int:
        return len(self.samples) + len(self.missing)

    def __post_init__(self) -> None:
        self._order: dict[str, int] = {s.key: i for i, s in enumerate(self.samples)}

    def _set_order(self, keys: Iterable[str]) -> None:
        self._order = {key: i for i, key in enumerate(keys)}


# --------------------------------------------------------------------------- labels


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


def match_labels(
    dataset_labels: Iterable[str], model_labels: Sequence[str], ignore_unknown: bool = False
) -> LabelMatch:
    """Map each dataset label to the model label of the same name.

    An exact match wins; otherwise labels are compared after ``normalize_label``. Labels the
    model lacks raise ``UnknownLabelsError`` (listing them, with suggestions) unless
    ``ignore_unknown``; a label that matches several model labels only after normalisation
    raises ``DatasetError``.
    """
    exact = set(model_labels)
    by_form: dict[str, list[str]] = {}
    for label in model_labels:
        by_form.setdefault(normalize_label(label), []).append(label)
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    inexact: list[str] = []
    for label in sorted(set(dataset_labels)):
        if label in exact:
            mapping[label] = label
            continue
        candidates = by_form.get(normalize_label(label), [])
        if len(candidates) == 1:
            mapping[label] = candidates[0]
            inexact.append(label)
        elif len(candidates) > 1:
            raise DatasetError(
                f"dataset label {label!r} matches several model labels: {', '.join(map(repr, candidates))}"
            )
        else:
            unknown.append(label)
    if unknown and not ignore_unknown:
        forms = list(by_form)
        suggestions = {}
        for label in unknown:
            close = difflib.get_close_matches(normalize_label(label), forms, n=1, cutoff=0.75)
            if close:
                suggestions[label] = by_form[close[0]][0]
        raise UnknownLabelsError(unknown, suggestions)
    return LabelMatch(mapping=mapping, unknown=unknown, inexact=inexact)


# --------------------------------------------------------------------------- loading


def load_dataset(
    root: str | os.PathLike[str], annotations: str | os.PathLike[str] | None = None, layout: str = "auto"
) -> Dataset:
    """Read the dataset at ``root`` (a folder, or an annotation file).

    ``annotations``: an annotation file to read (its format is detected from its content
    unless ``layout`` names one). ``layout``: ``auto`` (detect), ``folders``, ``kinetics``,
    ``csv`` or ``lines``. Raises ``DatasetError`` for anything that cannot be read.
    """
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    root_name = os.fspath(root)
    if not os.path.exists(root_name):
        raise DatasetError(f"{root_name}: no such file or directory")
    if os.path.isfile(root_name):
        if annotations is not None:
            raise DatasetError(f"{root_name} is a file; give a dataset folder with --annotations, or the file alone")
        annotations = root_name
        root_name = os.path.dirname(root_name) or "."
    if annotations is not None:
        ann = os.fspath(annotations)
        if not os.path.isfile(ann):
            raise DatasetError(f"{ann}: no such annotation file")
        if layout == "folders":
            raise DatasetError("the folders layout takes no annotation file")
        return _read_annotation_file(root_name, ann, None if layout == "auto" else layout)
    if layout == "folders":
        return _read_folders(root_name)
    candidates = _annotation_candidates(root_name, None if layout == "auto" else layout)
    if len(candidates) == 1:
        path, fmt = candidates[0]
        return _read_annotation_file(root_name, path, fmt)
    if len(candidates) > 1:
        names = ", ".join(os.path.basename(p) for p, _ in candidates)
        raise DatasetError(
            f"{root_name} holds several annotation files ({names}); choose one with --annotations FILE,"
            " or --layout folders for class folders"
        )
    if layout != "auto":
        raise DatasetError(f"{root_name}: no {layout} annotation file found; name it with --annotations FILE")
    return _read_folders(root_name)


def _read_folders(root: str) -> Dataset:
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise DatasetError(f"{root}: cannot list: {exc.strerror or exc}") from exc
    samples: list[Sample] = []
    unlabelled: list[str] = []
    class_dirs = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            class_dirs.append(entry.name)
        elif is_video_name(entry.name) and entry.is_file():
            unlabelled.append(entry.name)
    for label in class_dirs:
        folder = os.path.join(root, label)
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or not is_video_name(name):
                    continue
                path = os.path.join(dirpath, name)
                if os.path.isfile(path):
                    key = os.path.relpath(path, root).replace(os.sep, "/")
                    samples.append(Sample(path=path, label=label, key=key))
    if not samples:
        detail = f" ({len(unlabelled)} videos sit directly in it, with no class folder)" if unlabelled else ""
        raise DatasetError(
            f"{root}: no videos in class folders{detail}; expected {root}/<label>/<video>,"
            " or an annotation file (--annotations FILE)"
        )
    dataset = Dataset(root=root, layout="folders", samples=samples, unlabelled=unlabelled)
    dataset._set_order(s.key for s in samples)
    return dataset


def _annotation_candidates(root: str, fmt: str | None) -> list[tuple[str, str]]:
    """Top-level files of ``root`` that read as annotation files, with their format."""
    if not os.path.isdir(root):
        return []
    found = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name.startswith(".") or not name.lower().endswith(ANNOTATION_SUFFIXES) or not os.path.isfile(path):
            continue
        try:
            detected = _sniff(_read_text(path))
        except DatasetError:
            continue
        if detected is not None and (fmt is None or fmt == detected):
            found.append((path, detected))
    return found


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text") from exc


def _data_lines(text: str) -> list[tuple[int, str]]:
    return [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """Rows of CSV text with their line numbers, blank and ``#`` lines skipped."""
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    try:
        for row in reader:
            if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            rows.append((reader.line_num, [cell.strip() for cell in row]))
    except csv.Error as exc:
        raise DatasetError(f"line {reader.line_num}: {exc}") from exc
    return rows


def _sniff(text: str) -> str | None:
    """``kinetics``, ``csv``, ``lines`` or None (not an annotation file) from the content."""
    lines = _data_lines(text)
    if not lines:
        return None
    first = lines[0][1]
    if "," in first:
        row = next(csv.reader([first], skipinitialspace=True))
        names = [cell.strip().lower() for cell in row]
        if all(column in names for column in KINETICS_COLUMNS[1:]):
            return "kinetics"
        if _csv_header(names) is not None:
            return "csv"
        if is_video_name(row[0].strip()):
            return "csv"
    fields = _split_line(first)
    if fields and is_video_name(fields[0]):
        return "lines"
    return None


def _csv_header(names: list[str]) -> tuple[int, int | None] | None:
    """(path column, label column) when ``names`` is a header row, else None."""
    path_col = next((i for i, n in enumerate(names) if n in _PATH_COLUMNS), None)
    label_col = next((i for i, n in enumerate(names) if n in _LABEL_COLUMNS), None)
    if path_col is None or is_video_name(names[path_col]):
        return None
    return path_col, label_col


def _split_line(line: str) -> list[str]:
    """``path label`` split at the last whitespace run; quoted fields are honoured."""
    line = line.strip()
    if not line:
        return []
    if '"' in line or "'" in line:
        try:
            fields = shlex.split(line)
        except ValueError:  # an apostrophe in a name, not a quote
            fields = []
        if 1 <= len(fields) <= 2:
            return fields
    parts = line.rsplit(None, 1)
    if len(parts) == 2 and is_video_name(line) and not is_video_name(parts[0]):
        return [line]  # "my clip.mp4": a path with a space and no label
    return parts


def _read_annotation_file(root: str, path: str, fmt: str | None) -> Dataset:
    text = _read_text(path)
    detected = _sniff(text)
    if fmt is None:
        if detected is None:
            raise DatasetError(
                f"{path}: not an annotation file vidclass reads (Kinetics CSV, path,label CSV, or path label lines)"
            )
        fmt = detected
    if fmt == "kinetics":
        return _read_kinetics(root, path, text)
    try:
        entries = _read_csv_entries(text) if fmt == "csv" else _read_line_entries(text)
    except DatasetError as exc:
        raise DatasetError(f"{path}:{exc}" if str(exc).startswith("line") else f"{path}: {exc}") from exc
    if not entries:
        raise DatasetError(f"{path}: lists no videos")
    base = _choose_base(root, path, [rel for _, rel, _ in entries])
    listed: list[Sample] = []
    seen: dict[str, tuple[str, int]] = {}
    duplicates = 0
    for line, rel, label in entries:
        key = _clean_key(rel)
        if label is None:
            label = _label_from_path(key)
            if label is None:
                raise DatasetError(f"{path}:line {line}: {rel!r} has no label and no folder to take one from")
        if key in seen:
            if seen[key][0] != label:
                raise DatasetError(
                    f"{path}:line {line}: {rel!r} is listed with label {label!r} and, on line {seen[key][1]},"
                    f" {seen[key][0]!r}; one label per video"
                )
            duplicates += 1
            continue
        seen[key] = (label, line)
        listed.append(Sample(path=os.path.normpath(os.path.join(base, rel)), label=label, key=key))
    return _split_missing(root, fmt, listed, path, base, duplicates)


def _split_missing(root: str, layout: str, listed: list[Sample], path: str, base: str, duplicates: int) -> Dataset:
    samples = [s for s in listed if os.path.isfile(s.path)]
    present = {s.key for s in samples}
    missing = [s for s in listed if s.key not in present]
    dataset = Dataset(
        root=root,
        layout=layout,
        samples=samples,
        missing=missing,
        annotations=path,
        base=base,
        duplicates=duplicates,
    )
    dataset._set_order(s.key for s in listed)
    return dataset


def _read_csv_entries(text: str) -> list[tuple[int, str, str | None]]:
    rows = _csv_rows(text)
    if not rows:
        return []
    path_col, label_col = 0, 1
    header = _csv_header([cell.lower() for cell in rows[0][1]])
    if header is not None:
        path_col, label_col = header[0], header[1]
        rows = rows[1:]
    entries = []
    for line, row in rows:
        if path_col >= len(row) or not row[path_col]:
            raise DatasetError(f"line {line}: no path")
        label = row[label_col] if label_col is not None and label_col < len(row) and row[label_col] else None
        entries.append((line, row[path_col], label))
    return entries


def _read_line_entries(text: str) -> list[tuple[int, str, str | None]]:
    entries = []
    for line, content in _data_lines(text):
        fields = _split_line(content)
        if len(fields) > 2:
            raise DatasetError(f"line {line}: expected 'path label', got {len(fields)} fields")
        entries.append((line, fields[0], fields[1] if len(fields) == 2 else None))
    return entries


def _clean_key(rel: str) -> str:
    key = rel.replace("\\", "/") if os.sep == "\\" else rel
    while key.startswith("./"):
        key = key[2:]
    return key


def _label_from_path(key: str) -> str | None:
    parts = [p for p in key.split("/") if p not in ("", ".")]
    return parts[0] if len(parts) > 1 else None


def _choose_base(root: str, path: str, rels: list[str]) -> str:
    """The annotation file's folder, or ``root`` if more listed videos are found under it."""
    file_dir = os.path.dirname(path) or "."
    if not os.path.isdir(root) or os.path.samefile(file_dir, root):
        return file_dir
    relative = [rel for rel in rels if not os.path.isabs(rel)]
    probe = relative[:: max(1, len(relative) // 200)]  # enough to tell, and cheap on 20k lines
    in_file_dir = sum(os.path.isfile(os.path.join(file_dir, rel)) for rel in probe)
    in_root = sum(os.path.isfile(os.path.join(root, rel)) for rel in probe)
    return root if in_root > in_file_dir else file_dir


def kinetics_name(youtube_id: str, start: float, end: float) -> str:
    """Kinetics' file stem: ``<youtube_id>_<start:06d>_<end:06d>``."""
    return f"{youtube_id}_{int(start):06d}_{int(end):06d}"


def _read_kinetics(root: str, path: str, text: str) -> Dataset:
    rows = _csv_rows(text)
    if not rows:
        raise DatasetError(f"{path}: empty")
    names = [cell.lower() for cell in rows[0][1]]
    for column in KINETICS_COLUMNS[1:]:
        if column not in names:
            raise DatasetError(f"{path}: not a Kinetics CSV (no {column!r} column)")
    if "label" not in names:
        raise DatasetError(f"{path}: this Kinetics CSV has no 'label' column (a test split without labels?)")
    col = {name: names.index(name) for name in KINETICS_COLUMNS}
    index = _index_videos(root)
    listed: list[Sample] = []
    seen: dict[str, str] = {}
    duplicates = 0
    for line, row in rows[1:]:
        try:
            label = row[col["label"]]
            youtube_id = row[col["youtube_id"]]
            stem = kinetics_name(youtube_id, float(row[col["time_start"]]), float(row[col["time_end"]]))
        except (IndexError, ValueError) as exc:
            raise DatasetError(f"{path}:line {line}: expected label,youtube_id,time_start,time_end,...") from exc
        if not label or not youtube_id:
            raise DatasetError(f"{path}:line {line}: empty label or youtube_id")
        if stem in seen:
            if seen[stem] != label:
                raise DatasetError(
                    f"{path}:line {line}: {stem} is listed with two labels, {seen[stem]!r} and {label!r}"
                )
            duplicates += 1
            continue
        seen[stem] = label
        found = _pick(index.get(stem) or index.get(youtube_id) or [], label)
        listed.append(Sample(path=found or os.path.join(root, stem + ".mp4"), label=label, key=stem))
    if not listed:
        raise DatasetError(f"{path}: lists no videos")
    return _split_missing(root, "kinetics", listed, path, root, duplicates)


def _index_videos(root: str) -> dict[str, list[str]]:
    """Every video file below ``root``, by file stem, in sorted path order."""
    index: dict[str, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and is_video_name(name):
                index.setdefault(os.path.splitext(name)[0], []).append(os.path.join(dirpath, name))
    return index


def _pick(paths: list[str], label: str) -> str | None:
    """Of several files with the same stem, the one in a folder named like ``label``."""
    if len(paths) <= 1:
        return paths[0] if paths else None
    form = normalize_label(label)
    for candidate in paths:
        if normalize_label(os.path.basename(os.path.dirname(candidate))) == form:
            return candidate
    return paths[0]


# --------------------------------------------------------------------------- subsets


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N), with 0 <= I < N; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"shard must look like I/N (for example 0/4), got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ValueError("shard count N must be at least 1")
    if index >= count:
        raise ValueError(f"shard index counts from 0: I must be below N={count}, got {index}")
    return index, count


def _stable_hash(text: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def stratified_sample(samples: Sequence[Sample], limit: int) -> list[Sample]:
    """A deterministic sample of ``limit`` videos with each label in proportion to its share.

    Each label gets its largest-remainder share of ``limit``; within a label, videos are
    taken in an order fixed by a hash of their keys (not alphabetically, which often groups
    similar videos). The result keeps the dataset's order.
    """
    if limit >= len(samples):
        return list(samples)
    if limit <= 0:
        return []
    by_label: dict[str, list[int]] = {}
    for i, sample in enumerate(samples):
        by_label.setdefault(sample.label, []).append(i)
    total = len(samples)
    quotas = {label: limit * len(idx) // total for label, idx in by_label.items()}
    left = limit - sum(quotas.values())
    # Largest remainders first; ties in a fixed, label-hashed order rather than alphabetical.
    order = sorted(
        by_label,
        key=lambda label: (-((limit * len(by_label[label])) % total), _stable_hash(label)),
    )
    for label in order[:left]:
        quotas[label] += 1
    chosen: list[int] = []
    for label, idx in by_label.items():
        ranked = sorted(idx, key=lambda i: (_stable_hash(samples[i].key), i))
        chosen.extend(ranked[: quotas[label]])
    return [samples[i] for i in sorted(chosen)]


__all__ = [
    "ANNOTATION_SUFFIXES",
    "LAYOUTS",
    "Dataset",
    "DatasetError",
    "LabelMatch",
    "Sample",
    "UnknownLabelsError",
    "kinetics_name",
    "load_dataset",
    "match_labels",
    "normalize_label",
    "parse_shard",
    "stratified_sample",
]
