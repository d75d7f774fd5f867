"""Multi-label datasets (``vidclass.data``): Charades' CSV and class list, ``path,labels`` CSVs,
class folders with ``.labels`` sidecars, and label matching through class names. The videos are
empty files with video names: reading a dataset only checks that they exist."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vidclass.data import Action, DatasetError, Sample, UnknownLabelsError, load_dataset, match_labels
from vidclass.data.annotations import sniff

HEADER = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
CLASSES = "c000 Holding some clothes\nc092 Sitting on a table\nc147 Walking through a doorway\n"


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def charades_row(video_id: str, actions: str, description: str = "A person sits.") -> str:
    return f'{video_id},HR43,Kitchen,6,7,Yes,"A person sits, then walks.",table;door,"{description}",{actions},30.25\n'


def write_charades(root: Path) -> Path:
    csv = root / "Charades_v1_test.csv"
    csv.write_text(
        HEADER
        + charades_row("46GP8", "c092 11.90 21.20;c147 0.00 12.60")
        + charades_row("N11GT", "", "Nothing, really, happens.")  # no action: an empty label set
        + charades_row("0IH69", "c092 1.00 5.00;c092 3.50 9.00;c000 2 4")  # overlapping, repeated class
        + charades_row("KRF68", "c999 0.5 1.5")  # a class the class file lacks
        + charades_row("GONE1", "c147 1 2")  # listed, not on disk
        + charades_row("46GP8", "c147 0.00 12.60;c092 11.90 21.20")  # the same set again: a duplicate
    )
    touch(root, "Charades_v1_480/46GP8.mp4", "Charades_v1_480/N11GT.mp4", "deep/er/0IH69.webm", "KRF68.mp4")
    return csv


def test_charades_csv_reads_every_sample_exactly(tmp_path):
    csv = write_charades(tmp_path)
    (tmp_path / "Charades_v1_classes.txt").write_text(CLASSES)
    ds = load_dataset(tmp_path)
    assert ds.layout == "charades" and ds.multi_label and ds.annotations == str(csv)
    assert ds.samples == [
        Sample(
            path=str(tmp_path / "Charades_v1_480/46GP8.mp4"),
            label="",
            key="46GP8",
            labels=("c092", "c147"),
            actions=(Action("c092", 11.9, 21.2), Action("c147", 0.0, 12.6)),
        ),
        Sample(path=str(tmp_path / "Charades_v1_480/N11GT.mp4"), label="", key="N11GT", labels=(), actions=()),
        Sample(
            path=str(tmp_path / "deep/er/0IH69.webm"),
            label="",
            key="0IH69",
            labels=("c092", "c000"),
            actions=(Action("c092", 1.0, 5.0), Action("c092", 3.5, 9.0), Action("c000", 2.0, 4.0)),
        ),
        Sample(
            path=str(tmp_path / "KRF68.mp4"),
            label="",
            key="KRF68",
            labels=("c999",),
            actions=(Action("c999", 0.5, 1.5),),
        ),
    ]
    assert ds.missing == [
        Sample(
            path=str(tmp_path / "GONE1.mp4"), label="", key="GONE1", labels=("c147",), actions=(Action("c147", 1, 2),)
        )
    ]
    assert ds.duplicates == 1 and len(ds) == 5
    assert [s.key for s in ds.listed] == ["46GP8", "N11GT", "0IH69", "KRF68", "GONE1"]
    assert ds.classes == ["c000", "c092", "c147", "c999"]  # the unknown id is kept as its id
    assert ds.class_names == {
        "c000": "Holding some clothes",
        "c092": "Sitting on a table",
        "c147": "Walking through a doorway",
    }
    # The CSV alone, or forced with --layout charades, reads the same.
    assert load_dataset(csv).samples == ds.samples
    assert load_dataset(tmp_path, layout="charades").samples == ds.samples


def test_charades_class_file_auto_found_or_explicit(tmp_path):
    write_charades(tmp_path)
    assert load_dataset(tmp_path).class_names == {}  # no class file: no names
    (tmp_path / "notes_classes.txt").write_text("These are the classes.\n")  # not a class list
    (tmp_path / "Charades_v1_mapping.txt").write_text("c000 o000 v000\n")  # no 'classes' in its name
    assert load_dataset(tmp_path).class_names == {}
    (tmp_path / "Charades_v1_classes.txt").write_text(CLASSES)
    assert load_dataset(tmp_path).class_names["c092"] == "Sitting on a table"
    elsewhere = tmp_path.parent / f"{tmp_path.name}-names.txt"
    elsewhere.write_text("c092 sit\nc147 walk\n")
    assert load_dataset(tmp_path, classes=elsewhere).class_names == {"c092": "sit", "c147": "walk"}
    (tmp_path / "more_classes.txt").write_text(CLASSES)
    with pytest.raises(DatasetError, match=r"several class files \(Charades_v1_classes.txt, more_classes.txt\)"):
        load_dataset(tmp_path)
    assert load_dataset(tmp_path, classes=elsewhere).class_names == {"c092": "sit", "c147": "walk"}
    with pytest.raises(DatasetError, match="nope.txt: no such class file"):
        load_dataset(tmp_path, classes=tmp_path / "nope.txt")


@pytest.mark.parametrize(
    "text, line",
    [
        (
            "c000 Holding some clothes\nc092\n",
            "line 2: expected 'ID name' (as 'c000 Holding some clothes'), got 'c092'",
        ),
        ("c000 Holding\n\n# note\nc000 Holding\n", "line 4: class 'c000' is listed again (first on line 1)"),
    ],
)
def test_a_malformed_class_file_names_the_line(tmp_path, text, line):
    write_charades(tmp_path)
    (tmp_path / "Charades_v1_classes.txt").write_text(text)
    with pytest.raises(DatasetError) as auto:
        load_dataset(tmp_path)
    assert str(auto.value) == f"{tmp_path / 'Charades_v1_classes.txt'}:{line}"
    with pytest.raises(DatasetError) as explicit:
        load_dataset(tmp_path / "Charades_v1_test.csv", classes=tmp_path / "Charades_v1_classes.txt")
    assert str(explicit.value) == str(auto.value)


@pytest.mark.parametrize(
    "actions, problem",
    [
        ("c092 11.90", "action 'c092 11.90': expected 'class start end' (as 'c092 11.90 21.20')"),
        ("c092 1 2 3", "action 'c092 1 2 3': expected 'class start end' (as 'c092 11.90 21.20')"),
        ("c092 1.0 x", "action 'c092 1.0 x': start and end must be numbers of seconds"),
        ("c092 nan 2", "action 'c092 nan 2': start and end must be numbers of seconds"),
        ("c092 1 inf", "action 'c092 1 inf': start and end must be numbers of seconds"),
        ("c001 1 2;c092 5 4", "action 'c092 5 4': starts after it ends"),
        ("c092 -1 4", "action 'c092 -1 4': a negative time"),
    ],
)
def test_a_malformed_action_names_the_file_line_and_action(tmp_path, actions, problem):
    csv = tmp_path / "charades.csv"
    # A quoted description spanning two lines: the error names the row's first line.
    csv.write_text(HEADER + charades_row("A", "c001 0 1", "two\nlines") + charades_row("B", actions))
    with pytest.raises(DatasetError) as error:
        load_dataset(csv)
    assert str(error.value) == f"{csv}:line 4: {problem}"


def test_charades_duplicates_with_another_set_and_path_ids_are_refused(tmp_path):
    csv = tmp_path / "charades.csv"
    csv.write_text(HEADER + charades_row("A", "c001 0 1") + charades_row("A", "c001 0 1;c002 0 1"))
    with pytest.raises(DatasetError) as error:
        load_dataset(csv)
    assert str(error.value) == (
        f"{csv}:line 3: A is listed with labels ('c001', 'c002') and, on line 2, ('c001',); one label set per video"
    )
    csv.write_text(HEADER + charades_row("../../etc/passwd", "c001 0 1"))
    with pytest.raises(DatasetError) as error:
        load_dataset(csv)
    assert str(error.value) == f"{csv}:line 2: id '../../etc/passwd' is not a file name (it holds a path)"
    csv.write_text(HEADER + ",,,,,,,,,c001 0 1,3\n")
    with pytest.raises(DatasetError, match=r"charades.csv:line 2: no id$"):
        load_dataset(csv)


def test_sniff_tells_charades_from_kinetics_and_path_label_csvs():
    assert sniff(HEADER + charades_row("46GP8", "")) == "charades"
    assert sniff("id,actions\n46GP8,c092 1 2\n") == "charades"
    assert sniff("label,youtube_id,time_start,time_end,split\nabseiling,0347ZoDXyP0,14,24,val\n") == "kinetics"
    assert sniff("path,label\na.mp4,run\n") == "csv"
    assert sniff("path,labels\na.mp4,run;jump\n") == "csv"
    assert sniff("video_id,label\nabc,run\n") == "csv"
    assert sniff("c000 Holding some clothes\n") is None  # a class list is no annotation file


def test_match_labels_through_class_names():
    names = {"c092": "Sitting on a table", "c147": "Walking through a doorway", "c999": "Dancing"}
    by_id = match_labels(["c092", "c147"], ["c000", "c092", "c147"], names=names)
    assert by_id.mapping == {"c092": "c092", "c147": "c147"} and by_id.named == [] and by_id.inexact == []
    by_name = match_labels(["c092", "c147"], ["sitting_on_a_table", "Walking through a doorway"], names=names)
    assert by_name.mapping == {"c092": "sitting_on_a_table", "c147": "Walking through a doorway"}
    assert by_name.named == ["c092", "c147"] and by_name.unknown == [] and by_name.inexact == []
    with pytest.raises(UnknownLabelsError) as error:
        match_labels(["c092", "c999", "c500"], ["Sitting on a table"], names=names)
    assert error.value.unknown == ["c500", "c999"]
    ignored = match_labels(["c092", "c999", "c500"], ["Sitting on a table"], ignore_unknown=True, names=names)
    assert ignored.mapping == {"c092": "Sitting on a table"} and ignored.unknown == ["c500", "c999"]
    # Without names, as before: ids match ids only.
    with pytest.raises(UnknownLabelsError):
        match_labels(["c092"], ["Sitting on a table"])
    # An exact match wins over the name.
    assert match_labels(["walk"], ["walk", "stroll"], names={"walk": "stroll"}).mapping == {"walk": "walk"}


def test_class_folders_with_sidecars_are_multi_label(tmp_path):
    touch(tmp_path, "run/a.mp4", "run/b.mp4", "walk/deep/c.mp4", "walk/d.mp4.labels")
    (tmp_path / "run/a.mp4.labels").write_text("jump\n\n# a comment\n  wave  \nrun\n", encoding="utf-8")
    (tmp_path / "walk/deep/c.mp4.labels").write_text("")
    ds = load_dataset(tmp_path)
    assert ds.layout == "folders" and ds.multi_label
    assert ds.samples == [
        Sample(path=str(tmp_path / "run/a.mp4"), label="", key="run/a.mp4", labels=("run", "jump", "wave")),
        Sample(path=str(tmp_path / "run/b.mp4"), label="", key="run/b.mp4", labels=("run",)),
        Sample(path=str(tmp_path / "walk/deep/c.mp4"), label="", key="walk/deep/c.mp4", labels=("walk",)),
    ]
    assert ds.classes == ["jump", "run", "walk", "wave"]
    (tmp_path / "run/a.mp4.labels").write_bytes(b"\xff\xfe")
    with pytest.raises(DatasetError, match=r"a.mp4.labels: cannot read as a labels file"):
        load_dataset(tmp_path)
    # A sidecar is read only so far: one over 1 MiB is refused, not read whole.
    with open(tmp_path / "run/a.mp4.labels", "wb") as handle:
        handle.truncate(1024 * 1024 + 1)
    with pytest.raises(DatasetError, match=r"a.mp4.labels: a labels file over 1024 KiB"):
        load_dataset(tmp_path)
    for sidecar in ("run/a.mp4.labels", "walk/deep/c.mp4.labels"):
        os.remove(tmp_path / sidecar)
    plain = load_dataset(tmp_path)
    assert not plain.multi_label and [(s.label, s.labels) for s in plain.samples] == [
        ("run", None),
        ("run", None),
        ("walk", None),
    ]


def test_path_labels_csv_empty_cells_and_duplicates(tmp_path):
    touch(tmp_path, "v/a.mp4", "v/b.mp4", "v/c.mp4")
    listing = tmp_path / "list.csv"
    listing.write_text(
        "path,labels\nv/a.mp4,run;jump\nv/b.mp4,\n./v/a.mp4, jump ; run \nv/c.mp4,wave;wave\nv/gone.mp4,run\n"
    )
    ds = load_dataset(tmp_path)
    assert ds.layout == "csv" and ds.multi_label and ds.duplicates == 1
    assert ds.samples == [
        Sample(path=str(tmp_path / "v/a.mp4"), label="", key="v/a.mp4", labels=("run", "jump")),
        Sample(path=str(tmp_path / "v/b.mp4"), label="", key="v/b.mp4", labels=()),
        Sample(path=str(tmp_path / "v/c.mp4"), label="", key="v/c.mp4", labels=("wave",)),
    ]
    assert ds.missing == [Sample(path=str(tmp_path / "v/gone.mp4"), label="", key="v/gone.mp4", labels=("run",))]
    listing.write_text("path,labels\nv/a.mp4,run;jump\nv/a.mp4,run\n")
    with pytest.raises(DatasetError, match=r"list.csv:line 3: 'v/a.mp4' is listed with labels \('run',\)"):
        load_dataset(tmp_path)
    listing.write_text("path,labels\n../outside.mp4,run\n")
    with pytest.raises(DatasetError, match=r"list.csv:line 2: '../outside.mp4' leads outside the dataset root"):
        load_dataset(tmp_path)
