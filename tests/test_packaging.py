"""The package as a user installs it: an sdist built from the repository, a wheel built from that
sdist, installed into a bare folder with no checkout in reach, labels a video with the bundled
model; and an editable install reads the repository's own weights/ files.

Built with setuptools' PEP 517 hooks in this venv (no network, no build isolation), from a copy
of the repository's sources, so that nothing is written into the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.videos import write_video
from vidclass.checkpoints.sources import weights_dir

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ("default.safetensors", "default.json")
# What a build needs from the repository; everything else (venv, caches, build output) stays.
SOURCES = ("pyproject.toml", "README.md", "vidclass", "weights")
CLEAN = ("VIDCLASS_MODEL", "NO_COLOR", "FORCE_COLOR", "PYTHONPATH")


def _hook(hook: str, source: Path, out: Path) -> Path:
    """Run setuptools' PEP 517 ``hook`` ("build_sdist" or "build_wheel") in ``source``."""
    code = f"import sys; from setuptools import build_meta; print(build_meta.{hook}(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=source, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


def _modules(names: list[str]) -> set[str]:
    return {n for n in names if n.endswith(".py") and "/__pycache__/" not in n}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=ignore)
        else:
            shutil.copy2(src, source / name)
    dist = root / "dist"
    dist.mkdir()
    sdist = _hook("build_sdist", source, dist)
    with tarfile.open(sdist) as tar:
        tar.extractall(root / "unpacked", filter="data")
    (unpacked,) = (root / "unpacked").iterdir()
    wheel = _hook("build_wheel", unpacked, dist)  # the wheel a user gets from the sdist
    target = root / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    work = root / "work"  # no checkout here, nor above it
    write_video(work / "clip.mp4", num_frames=40, width=96, height=64)
    return {"sdist": sdist, "wheel": wheel, "site": target, "work": work}


def _vidclass(*args: str, cwd: Path, site: Path | None) -> subprocess.CompletedProcess:
    """``python -m vidclass ARGS`` from the installed folder ``site``, or from this venv's
    editable install when ``site`` is None."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    if site is not None:
        env["PYTHONPATH"] = str(site)  # ahead of the editable install's finder, which comes last
    return subprocess.run(
        [sys.executable, "-m", "vidclass", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_sdist_and_wheel_carry_every_module_and_the_bundled_model(built):
    tracked = {str(p.relative_to(ROOT)) for p in (ROOT / "vidclass").rglob("*.py") if "__pycache__" not in p.parts}
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = wheel.namelist()
    assert _modules(names) == tracked | {"vidclass/weights/__init__.py"}
    assert {f"vidclass/weights/{n}" for n in BUNDLED} <= set(names)
    assert "vidclass/py.typed" in names and "vidclass/checkpoints/labels/kinetics400.txt" in names
    for name in BUNDLED:  # the very bytes of the repository's files
        with zipfile.ZipFile(built["wheel"]) as wheel:
            assert wheel.read(f"vidclass/weights/{name}") == (ROOT / "weights" / name).read_bytes()
    with tarfile.open(built["sdist"]) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    assert {f"weights/{n}" for n in BUNDLED} <= members


def test_installed_wheel_labels_a_video_with_the_bundled_model(built):
    site, work = built["site"], built["work"]
    probe = subprocess.run(
        [sys.executable, "-c", "import vidclass, vidclass.weights as w; print(vidclass.__file__); print(w.__file__)"],
        cwd=work,
        env={**{k: v for k, v in os.environ.items() if k not in CLEAN}, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert all(Path(line).is_relative_to(site) for line in probe.stdout.split()), probe.stdout  # not the checkout

    listed = _vidclass("models", "-f", "json", cwd=work, site=site)
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert Path(document["weights_dir"]) == site / "vidclass" / "weights"
    (row,) = [f for f in document["files"] if f["name"] == "default"]
    assert row["error"] is None and row["model"] and row["num_labels"] > 1

    installed = _vidclass("predict", "clip.mp4", "--scores", cwd=work, site=site)  # no --model
    assert installed.returncode == 0, installed.stderr
    (record,) = [json.loads(line) for line in installed.stdout.splitlines()]
    assert record["ok"] and record["path"] == "clip.mp4" and record["views"] == 12
    assert len(record["scores"]) == row["num_labels"]  # every label of the bundled model, scored
    assert sum(record["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert record["labels"][0]["label"] == max(record["scores"], key=record["scores"].get)
    # the editable install's default model is the same file: the same answer
    editable = _vidclass("predict", "clip.mp4", "--scores", cwd=work, site=None)
    assert editable.returncode == 0, editable.stderr
    (expected,) = [json.loads(line) for line in editable.stdout.splitlines()]
    same = ("labels", "scores", "views", "frames")
    assert {k: record[k] for k in same} == {k: expected[k] for k in same}


def test_editable_install_reads_the_repository_weights_folder():
    assert weights_dir().resolve() == (ROOT / "weights").resolve()
    for name in BUNDLED:
        assert (weights_dir() / name).is_file()
