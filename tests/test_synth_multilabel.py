"""``vidclass synth --multi-label``: videos of 2 or 3 targets of different classes, their label
sets (``OUT_DIR/labels.csv``, a multi-label dataset) and each target's motion, checked on the
decoded pixels."""

from __future__ import annotations

import collections
import copy
import hashlib
import json
import math
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from vidclass.cli.main import main
from vidclass.data import load_dataset
from vidclass.synth import (
    CLASSES,
    LABELS,
    MANIFEST,
    TARGETS,
    MultiRenderer,
    SynthOptions,
    generate,
    generate_multi_label,
    read_manifest,
    sample_multi,
)

# Small, short videos with no noise, camera shake or distractors, so the targets are all that
# changes from frame to frame and the pixel checks can find them.
CLEAN = {
    "min_size": 128,
    "max_size": 144,
    "min_seconds": 1.0,
    "max_seconds": 1.5,
    "min_fps": 12,
    "max_fps": 16,
    "max_distractors": 0,
    "noise": 0.0,
    "jitter": 0.0,
}
# Tiny, with noise, shake and distractors as by default: for the files and determinism.
TINY = {"min_size": 48, "max_size": 64, "min_seconds": 1.0, "max_seconds": 1.5, "min_fps": 12, "max_fps": 16}
TINY_CLI = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
POOL = [c for c in CLASSES if c != "static"]
SEED = 4
COUNT = 10


@pytest.fixture(scope="module")
def clean_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("multi") / "set"
    generate_multi_label(out, COUNT, seed=SEED, workers=1, **CLEAN)
    return out


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("multi") / "tiny"
    generate_multi_label(out, 5, seed=SEED, workers=1, **TINY)
    return out


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]).astype(np.int16)


def read_targets(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / TARGETS).read_text().splitlines()]


# --------------------------------------------------------------------------- the files and the label sets


def test_files_label_sets_and_the_dataset(clean_set):
    manifest = read_manifest(clean_set)
    records = manifest["videos"]
    assert manifest["kind"] == "multi_label" and manifest["multi_label"] == COUNT and manifest["classes"] == POOL
    paths = [f"videos/multi_{i:05d}.mp4" for i in range(COUNT)]
    assert sorted(files(clean_set)) == sorted([LABELS, MANIFEST, TARGETS, *paths])
    assert [r["path"] for r in records] == paths

    lines = (clean_set / LABELS).read_text().splitlines()
    assert lines[0] == "path,labels"
    assert lines[1:] == [f"{r['path']},{';'.join(r['labels'])}" for r in records]
    for r in records:
        labels = r["labels"]
        assert len(labels) in (2, 3)
        assert labels == sorted(set(labels))  # distinct, sorted by name
        assert set(labels) <= set(POOL)  # never static
        assert [t["label"] for t in r["params"]["targets"]] == labels

    dataset = load_dataset(clean_set)
    assert dataset.multi_label
    assert [(s.key, set(s.labels)) for s in dataset.samples] == [(r["path"], set(r["labels"])) for r in records]
    assert not dataset.missing


def test_targets_have_their_own_regions_and_stay_in_the_frame(clean_set):
    records = read_manifest(clean_set)["videos"]
    tracks = read_targets(clean_set)
    assert [t["path"] for t in tracks] == [r["path"] for r in records]
    for record, track in zip(records, tracks, strict=True):
        assert (track["fps"], track["width"], track["height"]) == (record["fps"], record["width"], record["height"])
        assert [t["label"] for t in track["targets"]] == record["labels"]
        boxes = np.array([t["boxes"] for t in track["targets"]], dtype=np.float64)  # (targets, frames, 4)
        assert boxes.shape == (len(record["labels"]), record["frames"], 4)
        assert (boxes[..., :2] >= 0).all() and (boxes[..., 2] <= record["width"]).all()
        assert (boxes[..., 3] <= record["height"]).all() and (boxes[..., 2:] > boxes[..., :2]).all()
        for k, target in enumerate(record["params"]["targets"]):  # each inside its own cell...
            x0, y0, x1, y1 = target["cell"]
            assert (boxes[k, :, 0] >= x0).all() and (boxes[k, :, 1] >= y0).all()
            assert (boxes[k, :, 2] <= x1).all() and (boxes[k, :, 3] <= y1).all()
        for a in range(len(boxes)):  # ... so no two ever overlap
            for b in range(a + 1, len(boxes)):
                apart_x = (boxes[a, :, 2] <= boxes[b, :, 0]) | (boxes[b, :, 2] <= boxes[a, :, 0])
                apart_y = (boxes[a, :, 3] <= boxes[b, :, 1]) | (boxes[b, :, 3] <= boxes[a, :, 1])
                assert (apart_x | apart_y).all(), record["path"]


def test_set_sizes_and_classes_are_drawn_uniformly():
    """Sampling alone (no rendering): both set sizes, every class of the pool, about equally
    often; a restricted pool is respected; each video's draws do not depend on the others."""
    options = SynthOptions(**TINY)
    specs = [sample_multi(i, SEED, options, POOL) for i in range(300)]
    sizes = collections.Counter(len(s["labels"]) for s in specs)
    assert set(sizes) == {2, 3} and min(sizes.values()) > 110
    seen = collections.Counter(label for s in specs for label in s["labels"])
    assert set(seen) == set(POOL) and min(seen.values()) > 0.6 * max(seen.values())
    assert sample_multi(7, SEED, options, POOL) == specs[7]
    few = ["moving_up", "growing", "blinking"]
    assert all(set(sample_multi(i, SEED, options, few)["labels"]) <= set(few) for i in range(20))
    with pytest.raises(ValueError, match="static"):
        sample_multi(0, SEED, options, ["static", "growing", "pulsing", "blinking"])


# --------------------------------------------------------------------------- the labels are in the pixels


def rotation_error(a: np.ndarray, b: np.ndarray, cx: float, cy: float, radius: float, delta: float) -> float:
    """How far frame ``b`` is from frame ``a`` turned by ``delta`` radians (clockwise on
    screen, y down) about ``(cx, cy)``, within ``radius`` of it (nearest-pixel sampling)."""
    h, w = a.shape[:2]
    ys, xs = np.mgrid[:h, :w]
    px, py = xs + 0.5 - cx, ys + 0.5 - cy
    inside = np.hypot(px, py) <= radius
    c, s = math.cos(delta), math.sin(delta)
    sx = np.clip(np.floor(cx + c * px + s * py), 0, w - 1).astype(int)  # R(-delta) @ (px, py)
    sy = np.clip(np.floor(cy - s * px + c * py), 0, h - 1).astype(int)
    return float(np.abs(b - a[sy, sx])[inside].mean())


def test_each_target_moves_as_its_label_says(clean_set):
    """Per target, measured on the decoded video where it differs from the same video drawn
    without targets, within the target's cell: a mover's centre goes its way (and not
    across), a grower's or shrinker's area grows or shrinks, a pulser's rises and falls, a
    turner matches its first frame turned its way better than turned the other way, a
    blinker changes colour where it stands; and what its class does not change stays."""
    checked: collections.Counter[str] = collections.Counter()
    options = SynthOptions(**CLEAN)
    for record in read_manifest(clean_set)["videos"]:
        spec = sample_multi(record["index"], SEED, options, POOL)
        renderer = MultiRenderer(spec)
        assert renderer.frames == record["frames"] and len(renderer.tracks) == len(record["labels"])
        empty = copy.deepcopy(spec)
        for target in empty["params"]["targets"]:
            target["radius"] = 0.0
        background = np.stack(list(MultiRenderer(empty).iter_frames())).astype(np.int16)
        decoded = decode(clean_set / record["path"])
        assert decoded.shape == background.shape
        changed = np.abs(decoded - background).max(axis=-1) > 40
        ys, xs = np.mgrid[: record["height"], : record["width"]]
        for (target, states), label in zip(renderer.tracks, record["labels"], strict=True):
            x0, y0, x1, y1 = target["cell"]
            mask = changed & (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
            area = mask.sum(axis=(1, 2)).astype(np.float64)
            assert (area > 0).all(), (record["path"], label)
            centre = np.stack([(mask * (xs + 0.5)).sum(axis=(1, 2)), (mask * (ys + 0.5)).sum(axis=(1, 2))], 1)
            centre /= area[:, None]
            kind = label.split("_")[0]
            if kind == "moving":
                axis, sign = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}[label.split("_")[1]]
                assert sign * (centre[-1, axis] - centre[0, axis]) > 2.0, (record["path"], label)
                assert np.abs(centre[:, 1 - axis] - centre[0, 1 - axis]).max() < 1.0, (record["path"], label)
            else:
                assert np.abs(centre - centre[0]).max() < 1.5, (record["path"], label)
            if label in ("growing", "shrinking"):
                sign = 1 if label == "growing" else -1
                assert sign * (area[-1] - area[0]) > 0.5 * area.min(), (record["path"], label)
            elif label == "pulsing":  # swells and comes back within the video (a period at most)
                rise = max(area[j] / area[: j + 1].min() for j in range(len(area)))
                fall = max(area[: j + 1].max() / area[j] for j in range(len(area)))
                assert rise > 1.3 and fall > 1.3, (record["path"], label)
            else:
                assert area.max() < 1.25 * area.min(), (record["path"], label)
            if label.startswith("rotating"):
                sign = 1 if label == "rotating_cw" else -1  # the label's way; the speed from synth.json
                speed = abs(target["angular_speed"])
                step = max(1, round(math.radians(40) / speed * record["fps"]))
                delta = sign * speed * step / record["fps"]
                radius = float(states["radius"][0])
                for i in range(0, record["frames"] - step, step):
                    a, b = decoded[i], decoded[i + step]
                    right = rotation_error(a, b, target["x"], target["y"], radius, delta)
                    wrong = rotation_error(a, b, target["x"], target["y"], radius, -delta)
                    assert right < wrong, (record["path"], label, i)
            if label == "blinking":
                alt = states["alt"]
                assert alt.any() and not alt.all()
                colour = np.stack([decoded[i][mask[i]].mean(axis=0) for i in range(record["frames"])])
                gap = np.linalg.norm(colour[alt].mean(axis=0) - colour[~alt].mean(axis=0))
                assert gap > 30, (record["path"], label)
            checked[label] += 1
    assert len(checked) >= 8, checked  # the fixture's seed meets most classes


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_files_whatever_the_workers(tiny_set, tmp_path):
    again = tmp_path / "again"
    generate_multi_label(again, 5, seed=SEED, workers=2, **TINY)
    assert files(again) == files(tiny_set)
    first = read_manifest(tiny_set)["videos"]
    spec = sample_multi(2, SEED, SynthOptions(**TINY), POOL)
    frames = np.stack(list(MultiRenderer(spec).iter_frames()))

    assert hashlib.sha256(frames.tobytes()).hexdigest() == first[2]["frames_sha256"]
    other = tmp_path / "other"
    generate_multi_label(other, 5, seed=SEED + 1, workers=1, **TINY)
    assert (other / LABELS).read_bytes() != (tiny_set / LABELS).read_bytes()
    shorter = tmp_path / "shorter"  # a video's draws do not depend on how many are written
    generate_multi_label(shorter, 2, seed=SEED, workers=1, **TINY)
    assert [r["frames_sha256"] for r in read_manifest(shorter)["videos"]] == [r["frames_sha256"] for r in first[:2]]


# --------------------------------------------------------------------------- command line


def test_cli_writes_the_set_and_overwrite_swaps_kinds(tiny_set, tmp_path):
    out = tmp_path / "set"
    args = ["synth", str(out), "--multi-label", "5", "--seed", str(SEED), "-j", "2", *TINY_CLI]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "wrote 5 multi-label videos (2-3 labels each, from 10 classes, seed 4)" in result.stderr
    assert files(out) == files(tiny_set)

    few = tmp_path / "few"
    result = CliRunner().invoke(
        main, ["synth", str(few), "--multi-label", "3", "-c", "pulsing,moving_up,growing", "-q"]
    )
    assert result.exit_code == 0 and result.stderr == ""
    assert {label for s in load_dataset(few).samples for label in s.labels} <= {"pulsing", "moving_up", "growing"}

    # a class set over it, and back: each run removes what the other wrote
    generate(out, per_class=1, classes=["static"], overwrite=True, **TINY)
    assert sorted(files(out)) == sorted([MANIFEST, "boxes.jsonl", "static/static_00000.mp4"])
    back = CliRunner().invoke(main, [*args, "--overwrite", "-q"])
    assert back.exit_code == 0 and back.stderr == ""
    assert files(out) == files(tiny_set)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--multi-label", "0"], "--multi-label 0: write at least 1 video"),
        (["--multi-label", "2", "--sequences", "2"], "--multi-label and --sequences cannot be combined"),
        (["--multi-label", "2", "--segments", "3"], "--multi-label and --segments cannot be combined"),
        (["--multi-label", "2", "-n", "3"], "--per-class does not apply to --multi-label"),
        (["--multi-label", "2", "--reverse"], "--reverse does not apply to --multi-label"),
        (["--multi-label", "2", "-c", "growing,pulsing"], "need at least 3 classes"),
        (["--multi-label", "2", "-c", "static,growing,pulsing,blinking"], "static cannot be a label"),
        (["--multi-label", "2", "--min-size", "8"], "--min-size 8 is outside"),
    ],
)
def test_cli_bad_multi_label_options_are_one_error_line(tmp_path, args, message):
    result = CliRunner().invoke(main, ["synth", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_library_refuses_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="at least 3 classes"):
        generate_multi_label(tmp_path / "a", 1, classes=["growing", "pulsing"])
    with pytest.raises(ValueError, match="static"):
        generate_multi_label(tmp_path / "b", 1, classes="static,growing,pulsing,blinking")
    with pytest.raises(ValueError, match="count"):
        generate_multi_label(tmp_path / "c", 0)
    assert not any((tmp_path / name).exists() for name in "abc")
