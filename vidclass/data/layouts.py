"""Labelled video datasets: find the videos and their labels, whatever the layout.

Layouts (``load_dataset`` detects them; ``layout=`` or an explicit annotation file forces one):

``folders``
    Class-per-folder, as in UCF101 or ImageFolder: ``ROOT/<label>/<video>``. Videos may sit
    at any depth below their class folder. Hidden names are skipped; files that are not
    videos (by extension) are ignored; videos directly in ``ROOT`` have no label and are
    reported in ``Dataset.unlabelled``. A folder holding ``sequences.jsonl`` (a sequence set of
    ``vidclass synth --sequences``, whose videos change class over time) is refused.
    A sidecar ``ROOT/<label>/x.mp4.labels`` (UTF-8, one more label a line, blank and ``#``
    lines skipped) gives ``x.mp4`` the label set {``<label>``} and those labels; if any video
    has one, the dataset is multi-label and every sample has ``Sample.labels``.
``kinetics``
    A Kinetics annotation CSV with the header ``label,youtube_id,time_start,time_end,split``.
    Row ``abseiling,0347ZoDXyP0,14,24,val`` is the video ``0347ZoDXyP0_000014_000024.<ext>``
    anywhere below ``ROOT`` (flat, or in label folders, under any spelling of the label).
    A file named just ``<youtube_id>.<ext>`` is accepted too.
``charades``
    Charades' CSV, recognised by its ``id`` and ``actions`` columns: a multi-label dataset
    whose samples keep each action's start and end (``Sample.actions``); the video is
    ``<id>.<ext>`` anywhere below ``ROOT``. Its class list fills ``Dataset.class_names``. See
    ``vidclass.data.charades``.
``csv``
    ``path,label`` rows. A header row is recognised by its column names (``path``/``video``/
    ``file``/``filename`` and ``label``/``class``/``category``) and may name the columns in
    any order; without one, the first column is the path and the second the label. A header
    with a ``labels`` column makes it a multi-label CSV: each cell is the video's label set,
    labels separated by ``;`` (``a;b``; empty: a video with no label), and every sample has
    ``Sample.labels`` (``Dataset.multi_label``).
``lines``
    Whitespace-separated ``path label`` lines, split at the last run of whitespace so paths
    may contain spaces; fields may be quoted; ``#`` starts a comment line. A line (or CSV row)
    with a path alone takes its label from the path's first folder, as UCF101's test lists do.

Relative paths in an annotation file are relative to the file's folder. When the file lies
outside ``ROOT``, they are relative to ``ROOT`` instead if more of the listed videos are found
there (mmaction2's ``data_prefix`` convention); ``Dataset.base`` says which was used.

A listed path must lead below ``ROOT`` (the folder given, or the annotation file's folder when
the file is given alone) or below ``Dataset.base``: a ``../`` or absolute path that leads
elsewhere is a ``DatasetError`` naming the line, unless ``allow_outside_root=True``, so an
annotation file cannot make vidclass open any file on the machine (``/etc/passwd``). The test
is on the path as written, with ``..`` resolved lexically; a symbolic link inside the root is
followed wherever it points, since links are how datasets are commonly assembled from shared
storage and only whoever built the folder, not the annotation file, can place one. Paths are
normalised: ``x/a.mp4``, ``./x/a.mp4``, ``x/../x/a.mp4`` and the absolute path of ``BASE/x/a.mp4``
are one video, ``x/a.mp4``.

Every listed video is accounted for: ``samples`` are on disk, ``missing`` are not. Order is
deterministic: sorted by label folder and path for ``folders``, file order for annotation
files. ``Sample.key`` is a sample's stable identity (the relative path as listed; the
``<youtube_id>_<start>_<end>`` name for Kinetics, the id for Charades), used to resume and to merge results.

Label matching is in ``vidclass.data.labels``; subsets in ``vidclass.data.subsets``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from vidclass.data.annotations import (
    KINETICS_COLUMNS,
    below,
    clean_key,
    csv_rows,
    label_from_path,
    label_set_column,
    read_csv_entries,
    read_label_set_entries,
    read_line_entries,
    read_text,
    sniff,
)
from vidclass.data.charades import find_class_file, read_charades, read_class_file
from vidclass.data.files import index_videos, is_video_name
from vidclass.data.labels import normalize_label
from vidclass.data.samples import Dataset, DatasetError, Sample
from vidclass.defaults import LAYOUTS

ANNOTATION_SUFFIXES = (".csv", ".txt", ".lst", ".list", ".tsv")
SIDECAR_SUFFIX = ".labels"  # folders layout: ROOT/<label>/x.mp4.labels holds x.mp4's other labels
MAX_SIDECAR_BYTES = 1024 * 1024  # far past any label list; bounds what one sidecar can make us read


def load_dataset(
    root: str | os.PathLike[str],
    annotations: str | os.PathLike[str] | None = None,
    layout: str = "auto",
    *,
    allow_outside_root: bool = False,
    classes: str | os.PathLike[str] | None = None,
) -> Dataset:
    """Read the dataset at ``root`` (a folder, or an annotation file).

    ``annotations``: an annotation file to read (its format is detected from its content
    unless ``layout`` names one). ``layout``: ``auto`` (detect), ``folders``, ``kinetics``,
    ``charades``, ``csv`` or ``lines``. ``allow_outside_root``: read listed paths that lead
    outside the dataset root (by default a ``DatasetError``; see the module docstring).
    ``classes``: a class list (``ID name`` lines) whose names fill ``Dataset.class_names``;
    without it, a Charades dataset's own is looked for next to its CSV. Raises
    ``DatasetError`` for anything that cannot be read.
    """
    dataset = _load(root, annotations, layout, allow_outside_root)
    if classes is not None:
        dataset.class_names = read_class_file(os.fspath(classes))
    elif dataset.layout == "charades" and dataset.annotations is not None:
        found = find_class_file([os.path.dirname(dataset.annotations) or ".", dataset.root])
        if found is not None:
            dataset.class_names = read_class_file(found)
    return dataset


def _load(
    root: str | os.PathLike[str], annotations: str | os.PathLike[str] | None, layout: str, allow_outside_root: bool
) -> Dataset:
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    root_name = os.fspath(root)
    if not os.path.exists(root_name):
        raise DatasetError(f"{root_name}: no such file or directory")
    if os.path.isfile(root_name):
        if is_video_name(root_name):
            raise DatasetError(
                f"{root_name}: a video, not a dataset: the dataset must be a folder (of class folders) or an "
                "annotation file (to classify videos, use vidclass predict)"
            )
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
        return _read_annotation_file(root_name, ann, None if layout == "auto" else layout, allow_outside_root)
    if layout == "folders":
        return _read_folders(root_name)
    candidates = _annotation_candidates(root_name, None if layout == "auto" else layout)
    if len(candidates) == 1:
        path, fmt = candidates[0]
        return _read_annotation_file(root_name, path, fmt, allow_outside_root)
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
    from vidclass.synth.segments import SEQUENCES

    if os.path.isfile(os.path.join(root, SEQUENCES)):
        # vidclass synth --sequences: each video holds several classes, one after the other.
        raise DatasetError(
            f"{root}: a sequence set of vidclass synth ({SEQUENCES}): each video changes class over time,"
            " so it has no one label to evaluate or train on"
        )
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
                    extra = _sidecar_labels(path) if name + SIDECAR_SUFFIX in filenames else None
                    labels = None if extra is None else (label, *extra)
                    samples.append(Sample(path=path, label=label, key=key, labels=labels))
    if not samples:
        detail = f" ({len(unlabelled)} videos sit directly in it, with no class folder)" if unlabelled else ""
        raise DatasetError(
            f"{root}: no videos in class folders{detail}; expected {root}/<label>/<video>,"
            " or an annotation file (--annotations FILE)"
        )
    multi_label = any(s.labels is not None for s in samples)
    if multi_label:  # one sidecar makes every sample a label set: {its folder} for those without
        samples = [Sample(path=s.path, label="", key=s.key, labels=s.label_set) for s in samples]
    dataset = Dataset(root=root, layout="folders", samples=samples, unlabelled=unlabelled, multi_label=multi_label)
    dataset._set_order(s.key for s in samples)
    return dataset


def _sidecar_labels(video: str) -> tuple[str, ...] | None:
    """The extra labels in ``<video>.labels`` (one a line; blank and ``#`` lines skipped), or
    None when that is not a file."""
    path = video + SIDECAR_SUFFIX
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SIDECAR_BYTES + 1)
        if len(data) > MAX_SIDECAR_BYTES:
            raise DatasetError(f"{path}: a labels file over {MAX_SIDECAR_BYTES // 1024} KiB: not a list of labels")
        text = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read as a labels file (UTF-8 text, one label a line): {exc}") from exc
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


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
            detected = sniff(read_text(path))
        except DatasetError:
            continue
        if detected is not None and (fmt is None or fmt == detected):
            found.append((path, detected))
    return found


def _read_annotation_file(root: str, path: str, fmt: str | None, allow_outside_root: bool = False) -> Dataset:
    text = read_text(path)
    detected = sniff(text)
    if fmt is None:
        if detected is None:
            raise DatasetError(
                f"{path}: not an annotation file vidclass reads (Kinetics CSV, Charades CSV, path,label CSV,"
                " or path label lines)"
            )
        fmt = detected
    if fmt == "kinetics":
        return _read_kinetics(root, path, text)
    if fmt == "charades":
        videos, repeated = read_charades(root, path, text)
        dataset = _split_missing(root, "charades", videos, path, root, repeated)
        dataset.multi_label = True
        return dataset
    multi_label = fmt == "csv" and label_set_column(text)
    entries: Sequence[tuple[int, str, str | tuple[str, ...] | None]]
    try:
        if multi_label:
            entries = read_label_set_entries(text)
        else:
            entries = read_csv_entries(text) if fmt == "csv" else read_line_entries(text)
    except DatasetError as exc:
        raise DatasetError(f"{path}:{exc}" if str(exc).startswith("line") else f"{path}: {exc}") from exc
    if not entries:
        raise DatasetError(f"{path}: lists no videos")
    base = _choose_base(root, path, [rel for _, rel, _ in entries])
    listed: list[Sample] = []
    seen: dict[str, tuple[str | tuple[str, ...], int]] = {}
    duplicates = 0
    for line, rel, label in entries:
        video = os.path.normpath(os.path.join(base, rel))
        if not allow_outside_root and not (below(video, root) or below(video, base)):
            raise DatasetError(
                f"{path}:line {line}: {rel!r} leads outside the dataset root {root}; such paths are refused"
                " unless allowed (eval --allow-outside-root)"
            )
        key = clean_key(rel, base)
        if label is None:
            label = label_from_path(key)
            if label is None:
                raise DatasetError(f"{path}:line {line}: {rel!r} has no label and no folder to take one from")
        if key in seen:
            before = seen[key][0]
            if (
                (set(before) != set(label)) if isinstance(label, tuple) else before != label
            ):  # a set's order is no matter
                what = "labels" if multi_label else "label"
                raise DatasetError(
                    f"{path}:line {line}: {rel!r} is listed with {what} {label!r} and, on line {seen[key][1]},"
                    f" {seen[key][0]!r}; one {what.replace('labels', 'label set')} per video"
                )
            duplicates += 1
            continue
        seen[key] = (label, line)
        if isinstance(label, tuple):
            listed.append(Sample(path=video, label="", key=key, labels=label))
        else:
            listed.append(Sample(path=video, label=label, key=key))
    dataset = _split_missing(root, fmt, listed, path, base, duplicates)
    dataset.multi_label = multi_label
    return dataset


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
    rows = csv_rows(text)
    if not rows:
        raise DatasetError(f"{path}: empty")
    names = [cell.lower() for cell in rows[0][1]]
    for column in KINETICS_COLUMNS[1:]:
        if column not in names:
            raise DatasetError(f"{path}: not a Kinetics CSV (no {column!r} column)")
    if "label" not in names:
        raise DatasetError(f"{path}: this Kinetics CSV has no 'label' column (a test split without labels?)")
    col = {name: names.index(name) for name in KINETICS_COLUMNS}
    index = index_videos(root)
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


def _pick(paths: list[str], label: str) -> str | None:
    """Of several files with the same stem, the one in a folder named like ``label``."""
    if len(paths) <= 1:
        return paths[0] if paths else None
    form = normalize_label(label)
    for candidate in paths:
        if normalize_label(os.path.basename(os.path.dirname(candidate))) == form:
            return candidate
    return paths[0]


__all__ = ["ANNOTATION_SUFFIXES", "LAYOUTS", "kinetics_name", "load_dataset"]
