"""Dataset layouts, label matching and subsets (``vidclass.data``): no decoding needed, so the
videos here are empty files with video names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vidclass.data import (
    DatasetError,
    Sample,
    UnknownLabelsError,
    load_dataset,
    match_labels,
    normalize_label,
    parse_shard,
    stratified_sample,
)


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def rel(dataset, samples=None) -> list[tuple[str, str]]:
    return [(os.path.relpath(s.path, dataset.root).replace(os.sep, "/"), s.label) for s in samples or dataset.samples]


# --------------------------------------------------------------------------- layouts


def test_class_folders_sorted_recursive_and_hidden_skipped(tmp_path):
    touch(
        tmp_path,
        "run/b.mp4",
        "run/a.AVI",
        "run/deep/c.mkv",
        "run/.hidden.mp4",
        "run/notes.txt",
        "Walk Fast/x.webm",
        ".cache/y.mp4",
        "loose.mp4",
    )
    ds = load_dataset(tmp_path)
    assert ds.layout == "folders" and ds.annotations is None
    assert rel(ds) == [
        ("Walk Fast/x.webm", "Walk Fast"),
        ("run/a.AVI", "run"),
        ("run/b.mp4", "run"),
        ("run/deep/c.mkv", "run"),
    ]
    assert [s.key for s in ds.samples] == ["Walk Fast/x.webm", "run/a.AVI", "run/b.mp4", "run/deep/c.mkv"]
    assert ds.classes == ["Walk Fast", "run"] and ds.missing == [] and len(ds) == 4
    assert ds.unlabelled == ["loose.mp4"]


def test_no_class_folders_is_a_clear_error(tmp_path):
    touch(tmp_path, "a.mp4", "b.mp4")
    with pytest.raises(DatasetError, match=r"no videos in class folders \(2 videos sit directly in it"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such file or directory"):
        load_dataset(tmp_path / "nope")


KINETICS = """label,youtube_id,time_start,time_end,split
abseiling,0347ZoDXyP0,14,24,val
"passing American football (in game)",-5Ev0Vd1BKw,5,15,val
"massaging person's head",zzz_abc,0,10,val
abseiling,gone123,30,40,val
"""


def test_kinetics_flat_and_in_label_folders_with_a_missing_video(tmp_path):
    (tmp_path / "val.csv").write_text(KINETICS)
    touch(
        tmp_path,
        "abseiling/0347ZoDXyP0_000014_000024.mp4",
        "passing_American_football_(in_game)/-5Ev0Vd1BKw_000005_000015.mp4",
        "zzz_abc_000000_000010.webm",  # flat
        "other/unlisted_000001_000002.mp4",
    )
    ds = load_dataset(tmp_path)
    assert ds.layout == "kinetics" and ds.annotations == str(tmp_path / "val.csv")
    assert rel(ds) == [
        ("abseiling/0347ZoDXyP0_000014_000024.mp4", "abseiling"),
        ("passing_American_football_(in_game)/-5Ev0Vd1BKw_000005_000015.mp4", "passing American football (in game)"),
        ("zzz_abc_000000_000010.webm", "massaging person's head"),
    ]
    assert [s.key for s in ds.samples][0] == "0347ZoDXyP0_000014_000024"
    assert [(s.key, s.label) for s in ds.missing] == [("gone123_000030_000040", "abseiling")]
    assert [s.key for s in ds.listed][-1] == "gone123_000030_000040" and len(ds) == 4
    # The file alone, and --annotations from elsewhere, read the same.
    alone = load_dataset(tmp_path / "val.csv")
    assert rel(alone) == rel(ds)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-k.csv"
    elsewhere.write_text(KINETICS)
    assert rel(load_dataset(tmp_path, annotations=elsewhere)) == rel(ds)


def test_kinetics_prefers_the_label_folder_when_names_repeat(tmp_path):
    (tmp_path / "val.csv").write_text("label,youtube_id,time_start,time_end,split\nrun,abc,1,11,val\n")
    touch(tmp_path, "jump/abc_000001_000011.mp4", "run/abc_000001_000011.mp4")
    assert rel(load_dataset(tmp_path)) == [("run/abc_000001_000011.mp4", "run")]


def test_csv_with_header_in_any_column_order_relative_to_the_file(tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "val.csv").write_text('label,video\nwalk,../v/a.mp4\n"run, fast",../v/b c.mp4\nwalk,../v/gone.mp4\n')
    touch(tmp_path, "v/a.mp4", "v/b c.mp4")
    ds = load_dataset(tmp_path, annotations=lists / "val.csv")  # ../v lies inside the dataset root
    assert ds.layout == "csv"
    assert [(s.key, s.label) for s in ds.samples] == [("../v/a.mp4", "walk"), ("../v/b c.mp4", "run, fast")]
    assert all(os.path.isfile(s.path) for s in ds.samples)
    assert [s.key for s in ds.missing] == ["../v/gone.mp4"]


def test_csv_without_header_and_whitespace_lines(tmp_path):
    touch(tmp_path, "v/a.mp4", "v/my clip.mp4", "walk/c.mp4")
    (tmp_path / "list.csv").write_text("v/a.mp4,walk\nv/my clip.mp4,run\n")
    ds = load_dataset(tmp_path)
    assert ds.layout == "csv" and [(s.key, s.label) for s in ds.samples] == [
        ("v/a.mp4", "walk"),
        ("v/my clip.mp4", "run"),
    ]
    (tmp_path / "list.csv").unlink()
    (tmp_path / "test.txt").write_text(
        "# comment\n\nv/a.mp4 walk\nv/my clip.mp4   run\n\"v/my clip.mp4\" 'run'\nwalk/c.mp4\n"
    )
    ds = load_dataset(tmp_path)
    assert ds.layout == "lines"
    # Split at the last space; quotes honoured; a path alone takes its folder as the label;
    # the same video listed twice with the same label is read once.
    assert [(s.key, s.label) for s in ds.samples] == [
        ("v/a.mp4", "walk"),
        ("v/my clip.mp4", "run"),
        ("walk/c.mp4", "walk"),
    ]
    assert ds.duplicates == 1


def test_annotations_option_forces_the_file_and_layout(tmp_path):
    touch(tmp_path, "walk/a.mp4", "run/b.mp4")
    (tmp_path / "one.txt").write_text("walk/a.mp4 walk\n")
    (tmp_path / "two.csv").write_text("run/b.mp4,run\n")
    with pytest.raises(DatasetError, match=r"several annotation files \(one.txt, two.csv\)"):
        load_dataset(tmp_path)
    assert [s.key for s in load_dataset(tmp_path, annotations=tmp_path / "two.csv").samples] == ["run/b.mp4"]
    assert load_dataset(tmp_path, layout="folders").layout == "folders"
    assert [s.key for s in load_dataset(tmp_path, layout="lines").samples] == ["walk/a.mp4"]
    (tmp_path / "README.txt").write_text("This dataset is great.\n")  # not an annotation file
    assert load_dataset(tmp_path, annotations=tmp_path / "one.txt").layout == "lines"
    with pytest.raises(DatasetError, match="not an annotation file"):
        load_dataset(tmp_path, annotations=tmp_path / "README.txt")


def test_conflicting_labels_and_malformed_lines_name_the_line(tmp_path):
    touch(tmp_path, "a.mp4")
    (tmp_path / "l.txt").write_text("a.mp4 walk\na.mp4 run\n")
    with pytest.raises(DatasetError, match=r"l.txt:line 2: 'a.mp4' is listed with label 'run' and, on line 1, 'walk'"):
        load_dataset(tmp_path / "l.txt")
    (tmp_path / "l.txt").write_text("a.mp4\n")
    with pytest.raises(DatasetError, match="line 1: 'a.mp4' has no label"):
        load_dataset(tmp_path / "l.txt")


# --------------------------------------------------------------------------- labels


def test_normalize_label():
    assert normalize_label("Massaging_Persons_Head") == normalize_label("massaging person's head")
    assert normalize_label('"Walk"') == normalize_label("walk") == normalize_label("  WALK ")
    assert normalize_label("run fast") != normalize_label("run-fast")


def test_match_labels_exact_then_normalised_unknown_listed():
    model = ["walk", "Run Fast", "massaging person's head", "jump"]
    match = match_labels(["walk", "run_fast", "MASSAGING_PERSONS_HEAD"], model)
    assert match.mapping == {
        "walk": "walk",
        "run_fast": "Run Fast",
        "MASSAGING_PERSONS_HEAD": "massaging person's head",
    }
    assert match.inexact == ["MASSAGING_PERSONS_HEAD", "run_fast"] and match.unknown == []
    with pytest.raises(UnknownLabelsError) as info:
        match_labels(["walk", "jumpp", "swim"], model)
    assert info.value.unknown == ["jumpp", "swim"]
    assert "2 dataset label(s) not among the model's labels: 'jumpp' (did you mean 'jump'?), 'swim'" in str(info.value)
    assert "--ignore-unknown" in str(info.value)
    ignored = match_labels(["walk", "swim"], model, ignore_unknown=True)
    assert ignored.mapping == {"walk": "walk"} and ignored.unknown == ["swim"]
    with pytest.raises(UnknownLabelsError, match="look like class indices"):
        match_labels(["0", "1"], model)
    with pytest.raises(DatasetError, match="matches several model labels"):
        match_labels(["a b"], ["A B", "a_b"])


# --------------------------------------------------------------------------- subsets


def test_shard_parsing():
    assert parse_shard("0/4") == (0, 4) and parse_shard(" 3 / 4 ") == (3, 4)
    for bad in ("4/4", "1", "a/b", "0/0", "-1/2"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_stratified_sample_is_proportional_deterministic_and_ordered():
    samples = [Sample(f"a{i}.mp4", "a") for i in range(60)] + [Sample(f"b{i}.mp4", "b") for i in range(30)]
    samples += [Sample(f"c{i}.mp4", "c") for i in range(10)]
    pick = stratified_sample(samples, 10)
    assert [s.label for s in pick].count("a") == 6 and [s.label for s in pick].count("b") == 3
    assert [s.label for s in pick].count("c") == 1
    assert pick == stratified_sample(samples, 10)
    assert pick == sorted(pick, key=samples.index)
    assert [s.path for s in pick if s.label == "a"] != [f"a{i}.mp4" for i in range(6)]  # not just the first ones
    assert stratified_sample(samples, 1000) == samples
    assert len(stratified_sample(samples, 7)) == 7
