"""Hostile inputs to ``eval``, ``report`` and ``train``: an --output folder that links to the
dataset's files, annotation paths that lead out of the dataset, option values no run can use,
hand-edited predictions files, and "files" that are FIFOs, devices or endless lines."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import vidclass
from tests.cli import cli_in
from tests.videos import write_video

LABELS = ["walk", "run", "jump", "swim", "climb", "sit"]
FAST = ("--clips", "1", "--crops", "1", "--device", "cpu")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A micro model, a two-video dataset and one video outside it."""
    root = tmp_path_factory.mktemp("hostile")
    vidclass.save_model(vidclass.create_model("vivit-micro", labels=LABELS, seed=0), root / "model.safetensors")
    write_video(root / "ds" / "walk" / "a.mp4", num_frames=8, width=32, height=32)
    write_video(root / "ds" / "run" / "b.mp4", num_frames=8, width=32, height=32)
    write_video(root / "outside" / "c.mp4", num_frames=8, width=32, height=32)
    return root


@pytest.fixture
def cli(work, monkeypatch):
    return cli_in(work, monkeypatch)


def dataset(work: Path, where: Path, listing: str | None = None) -> Path:
    """A copy of the dataset in ``where``, with ``list.txt`` holding ``listing`` if given."""
    ds = where / "ds"
    shutil.copytree(work / "ds", ds)
    shutil.copytree(work / "outside", where / "outside")
    if listing is not None:
        (ds / "list.txt").write_text(listing)
    return ds


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# --------------------------------------------------------------------------- eval --output over the dataset


def test_eval_output_that_links_to_a_dataset_file_is_refused_before_writing(work, tmp_path, cli):
    ds = dataset(work, tmp_path, "walk/a.mp4 walk\nrun/b.mp4 run\n")
    video, listing = ds / "walk" / "a.mp4", ds / "list.txt"
    video_bytes, listing_bytes = video.read_bytes(), listing.read_bytes()
    # predictions.jsonl a symbolic link to a video: --overwrite would truncate it, --resume append.
    out = tmp_path / "out"
    out.mkdir()
    (out / "predictions.jsonl").symlink_to(video)
    for flag in ("--overwrite", "--resume"):
        result = cli("eval", str(ds), "-m", "model.safetensors", *FAST, "-o", str(out), flag)
        assert result.exit_code == 2 and result.stdout == ""
        (line,) = error_lines(result.stderr)
        assert "predictions.jsonl" in line and str(video) in line
        assert video.read_bytes() == video_bytes and os.listdir(out) == ["predictions.jsonl"]
    # A report file a hard link to the annotation file (the same inode): refused as well.
    linked = tmp_path / "linked"
    linked.mkdir()
    os.link(listing, linked / "metrics.json")
    result = cli("eval", str(ds), "-m", "model.safetensors", *FAST, "-o", str(linked))
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = error_lines(result.stderr)
    assert "metrics.json" in line and str(listing) in line
    assert listing.read_bytes() == listing_bytes and os.listdir(linked) == ["metrics.json"]
    # An output folder inside the dataset, its files new: nothing of the dataset's is at stake.
    result = cli("eval", str(ds), "-m", "model.safetensors", *FAST, "-o", str(ds / "results"), "-f", "json")
    assert result.exit_code == 0, result.output
    assert video.read_bytes() == video_bytes and listing.read_bytes() == listing_bytes
