"""The synthetic benchmark generator: classes and twins, determinism, motion-only, the CLI."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from vidclass.cli.main import main
from vidclass.synth import (
    BOXES,
    CLASSES,
    MANIFEST,
    SELF_TWINS,
    TWINS,
    OutputExistsError,
    SynthOptions,
    generate,
    render,
    render_video,
    sample_video,
)
from vidclass.synth.classes import motion_class, sample_target, target_states
from vidclass.video import probe

# Small, short videos: the properties under test do not depend on size or length.
SMALL = {"min_size": 48, "max_size": 64, "min_seconds": 1.0, "max_seconds": 2.0, "min_fps": 12, "max_fps": 16}
SMALL_CLI = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()]


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


# --------------------------------------------------------------------------- classes and twins


def test_classes_and_twins():
    assert len(CLASSES) >= 10
    assert set(TWINS) == set(CLASSES)
    assert all(TWINS[TWINS[c]] == c for c in CLASSES)  # an involution
    assert SELF_TWINS == {"pulsing", "blinking", "static"}
    for a, b in [
        ("moving_left", "moving_right"),
        ("moving_up", "moving_down"),
        ("rotating_cw", "rotating_ccw"),
        ("growing", "shrinking"),
    ]:
        assert TWINS[a] == b
    with pytest.raises(ValueError, match="unknown class"):
        motion_class("dancing")


def _reversed_params(name: str, target: dict, span: float) -> dict:
    """The parameters under which ``name``'s twin shows ``target``'s motion backwards."""
    twin = dict(target)
    twin["travel"] = -target["travel"]
    twin["angular_speed"] = -target["angular_speed"]
    if "scale_direction" in target:
        twin["scale_direction"] = -target["scale_direction"]
    if "period" in target:  # t -> span - t shifts the phase
        twin["phase"] = (-span / target["period"] - target["phase"]) % 1.0
    if "duty" in target:  # ... and swaps which palette is "first"
        twin["duty"] = 1.0 - target["duty"]
    return twin


@pytest.mark.parametrize("name", CLASSES)
def test_time_reversal_gives_the_twin(name):
    """Twins draw identical parameters (but the direction), and a class's motion played
    backwards is its twin's motion under those parameters mapped by a measure-preserving
    map (sign flips, phase shifts): a reversed video is a typical video of the twin."""
    twin = TWINS[name]
    fps, frames = 15, 40
    times = np.arange(frames) / fps
    span = times[-1]
    for k in range(5):
        a = sample_target(name, np.random.default_rng(k), 160, 96, span, 2.0)
        b = sample_target(twin, np.random.default_rng(k), 160, 96, span, 2.0)
        mapped = _reversed_params(name, a, span)
        if twin != name:
            assert b == mapped
        forward = target_states(name, a, times, span)
        backward = target_states(twin, mapped, times, span)
        for key in ("x", "y", "radius", "angle"):
            np.testing.assert_allclose(forward[key][::-1], backward[key], atol=1e-6)
        if name == "blinking":  # the two palettes swap roles: the complement (but on exact boundaries)
            assert np.mean(forward["alt"][::-1] != backward["alt"]) > 0.9
            assert forward["alt"].any() and not forward["alt"].all()  # it does blink


def test_render_reverse_is_the_frames_backwards():
    forward = render_video("moving_left", 3, seed=1, **SMALL)
    backward = render_video("moving_left", 3, seed=1, reverse=True, **SMALL)
    assert np.array_equal(forward[::-1], backward)


def test_rotating_cw_turns_clockwise_on_screen():
    """The mark on a rotating target, tracked in pixels: its screen angle (y down) grows."""
    for name, sign in [("rotating_cw", 1), ("rotating_ccw", -1)]:
        spec = sample_video(name, 0, seed=2, options=SynthOptions(**{**SMALL, "min_size": 96, "max_size": 96}))
        p = spec["params"]
        p["target"].update(x=spec["width"] / 2, y=spec["height"] / 2, radius=30.0)
        p["distractors"], p["noise"]["sigma"], p["camera"]["jitter"] = [], 0.0, 0.0
        look = p["target"]["look"]
        look["texture"] = {"kind": "solid"}
        look["palette"] = {
            "colour1": [255.0, 255.0, 255.0],
            "colour2": [255.0, 255.0, 255.0],
            "mark": [255.0, 0.0, 0.0],
        }
        p["background"] = {"kind": "solid", "colour0": [0.0, 0.0, 0.0], "colour1": [0.0, 0.0, 0.0]}
        frames = render(spec).astype(np.float64)
        angles = []
        for f in frames:
            mark = (f[..., 0] > 200) & (f[..., 1] < 80)
            ys, xs = np.nonzero(mark)
            angles.append(math.atan2(ys.mean() + 0.5 - p["target"]["y"], xs.mean() + 0.5 - p["target"]["x"]))
        turn = np.diff(np.unwrap(angles))
        assert np.all(np.sign(turn) == sign)


def test_sampled_ranges():
    opts = SynthOptions(min_size=96, max_size=128, max_aspect=1.8, portrait=0.5, min_fps=20, max_fps=30)
    specs = [sample_video(c, i, seed=4, options=opts) for c in CLASSES for i in range(4)]
    portrait = 0
    for s in specs:
        short, long = sorted((s["width"], s["height"]))
        assert 96 <= short <= 128 and short % 2 == 0 and long % 2 == 0
        assert long <= short * 1.8 + 2
        assert 20 <= s["fps"] <= 30
        assert 1.0 - 0.5 / s["fps"] <= s["duration"] <= 8.0 + 0.5 / s["fps"]
        assert s["frames"] == round(s["duration"] * s["fps"])
        portrait += s["height"] > s["width"]
        json.dumps(s)  # plain JSON types only
    assert 0 < portrait < len(specs)
    with pytest.raises(ValueError, match="larger than"):
        SynthOptions(min_fps=30, max_fps=20)


# --------------------------------------------------------------------------- files and determinism


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("synth") / "set"
    records = generate(out, per_class=2, seed=5, classes=["static", "moving_left"], workers=1, **SMALL)
    return out, records


def test_layout_and_manifest(generated):
    out, records = generated
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    expected = [f"{c}/{c}_{i:05d}.mp4" for c in ("moving_left", "static") for i in range(2)]
    assert names == sorted([*expected, MANIFEST, BOXES])
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["seed"] == 5 and manifest["per_class"] == 2
    assert manifest["classes"] == ["moving_left", "static"]  # canonical order
    assert manifest["twins"] == {"moving_left": "moving_right", "static": "static"}
    assert manifest["options"] == SynthOptions(**SMALL).to_dict()
    assert manifest["videos"] == records
    assert [r["path"] for r in records] == expected


def test_files_are_the_rendered_videos(generated):
    out, records = generated
    for r in records:
        frames = render_video(r["source_label"], r["index"], seed=5, **SMALL)
        assert sha256(frames) == r["frames_sha256"]
        info = probe(out / r["path"])  # decord, as predict and eval read it
        assert (info.num_frames, info.width, info.height, info.codec) == (r["frames"], r["width"], r["height"], "h264")
        assert info.fps == pytest.approx(r["fps"])
        decoded = decode(out / r["path"]).astype(np.float64)
        psnr = 10 * np.log10(255**2 / np.mean((decoded - frames) ** 2))
        assert psnr > 25


def test_output_is_byte_identical(generated, tmp_path):
    """Same seed and counts: the same bytes, with any number of worker processes; a class
    subset or more videos per class leave the videos the first run wrote unchanged."""
    out, _ = generated
    again = tmp_path / "again"
    generate(again, per_class=2, seed=5, classes=["moving_left", "static"], workers=2, **SMALL)
    assert files(again) == files(out)

    more = tmp_path / "more"
    generate(more, per_class=3, seed=5, classes=["static"], workers=1, **SMALL)
    first, bigger = files(out), files(more)
    for i in range(2):
        name = f"static/static_{i:05d}.mp4"
        assert bigger[name] == first[name]
    assert "static/static_00002.mp4" in bigger

    other = tmp_path / "other"
    generate(other, per_class=1, seed=6, classes=["static"], workers=1, **SMALL)
    assert files(other)["static/static_00000.mp4"] != first["static/static_00000.mp4"]


def test_reverse_files_go_to_the_twin(tmp_path):
    records = generate(tmp_path / "rev", per_class=1, seed=5, classes=["moving_left", "static"], reverse=True, **SMALL)
    assert [r["path"] for r in records] == [
        "moving_right/moving_left_00000_reversed.mp4",
        "static/static_00000_reversed.mp4",
    ]
    assert [r["label"] for r in records] == ["moving_right", "static"]
    frames = render_video("moving_left", 0, seed=5, **SMALL)
    assert records[0]["frames_sha256"] == sha256(frames[::-1])


def test_refuses_non_empty_folder(tmp_path):
    target = tmp_path / "set"
    generate(target, per_class=2, seed=5, classes=["static"], **SMALL)
    (target / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        generate(target, per_class=1, seed=5, classes=["static"], **SMALL)
    generate(target, per_class=1, seed=5, classes=["static"], overwrite=True, **SMALL)
    assert sorted(files(target)) == sorted(
        [MANIFEST, BOXES, "notes.txt", "static/static_00000.mp4"]
    )  # stale video gone


# --------------------------------------------------------------------------- motion only


def _area_resize(img: np.ndarray, size: int) -> np.ndarray:
    """Mean over a size x size grid of blocks (the videos have different frame sizes)."""
    for axis in (0, 1):
        n = img.shape[axis]
        starts = np.linspace(0, n, size, endpoint=False).astype(int)
        counts = np.diff(np.r_[starts, n])
        shape = [1] * img.ndim
        shape[axis] = size
        img = np.add.reduceat(img, starts, axis=axis) / counts.reshape(shape)
    return img


def _nearest_centroid_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out nearest-centroid accuracy on standardised features."""
    x = (features - features.mean(0)) / (features.std(0) + 1e-9)
    classes = np.unique(labels)
    sums = np.stack([x[labels == c].sum(0) for c in classes])
    counts = np.array([(labels == c).sum() for c in classes], dtype=np.float64)
    correct = 0
    for i in range(len(x)):
        own = classes == labels[i]
        centroids = (sums - own[:, None] * x[i]) / (counts - own)[:, None]
        correct += classes[np.argmin(((centroids - x[i]) ** 2).sum(1))] == labels[i]
    return correct / len(x)


def _global_flow(video: np.ndarray) -> np.ndarray:
    """Mean optical flow (vx, vy) of the whole video, Lucas-Kanade style on grey levels."""
    g = video.astype(np.float32).mean(-1)
    gx, gy = np.gradient(g, axis=2), np.gradient(g, axis=1)
    gt = np.diff(g, axis=0)
    gx, gy = (gx[1:] + gx[:-1]) / 2, (gy[1:] + gy[:-1]) / 2
    return np.array([-(gx * gt).sum() / (gx**2).sum(), -(gy * gt).sum() / (gy**2).sum()])


@pytest.fixture(scope="module")
def motion_set() -> tuple[list[np.ndarray], np.ndarray]:
    per_class = 10
    videos = [render_video(c, i, seed=7, **SMALL) for c in CLASSES for i in range(per_class)]
    return videos, np.repeat(np.arange(len(CLASSES)), per_class)


def test_classes_are_motion_only(motion_set):
    """Features of single frames, and of the mean frame, do not tell the classes apart
    (leave-one-out nearest centroid stays near chance); the same classifier on a motion
    feature of the same videos does (a positive control)."""
    videos, labels = motion_set
    chance = 1 / len(CLASSES)
    rng = np.random.default_rng(0)
    frame_pixels, frame_hist, mean_pixels = [], [], []
    for v in videos:
        frame = v[rng.integers(len(v))].astype(np.float64)
        frame_pixels.append(_area_resize(frame, 8).ravel())
        frame_hist.append(
            np.concatenate([np.histogram(frame[..., k], 8, (0, 256))[0] / frame[..., k].size for k in range(3)])
        )
        mean_pixels.append(_area_resize(v.astype(np.float64).mean(0), 8).ravel())
    for name, features in [("frame", frame_pixels), ("histogram", frame_hist), ("mean image", mean_pixels)]:
        accuracy = _nearest_centroid_accuracy(np.array(features), labels)
        assert accuracy < chance + 0.12, (name, accuracy)

    moving = labels < 4  # moving_left, moving_right, moving_up, moving_down
    flows = np.array([_global_flow(v) for v, m in zip(videos, moving, strict=True) if m])
    assert _nearest_centroid_accuracy(flows, labels[moving]) > 0.6  # chance: 0.25
    signs = {"moving_left": (0, -1), "moving_right": (0, 1), "moving_up": (1, -1), "moving_down": (1, 1)}
    right = [
        np.sign(flow[signs[CLASSES[c]][0]]) == signs[CLASSES[c]][1]
        for flow, c in zip(flows, labels[moving], strict=True)
    ]
    assert np.mean(right) >= 0.9


# --------------------------------------------------------------------------- command line


def test_cli_writes_a_set(tmp_path):
    out = tmp_path / "set"
    result = CliRunner().invoke(
        main, ["synth", str(out), "-n", "1", "--classes", "static,growing", "--seed", "3", "-j", "1", *SMALL_CLI]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "wrote 2 videos (2 classes x 1, seed 3)" in result.stderr
    assert sorted(files(out)) == sorted([MANIFEST, BOXES, "growing/growing_00000.mp4", "static/static_00000.mp4"])
    assert files(out) == files(_api_set(tmp_path / "api"))

    again = CliRunner().invoke(main, ["synth", str(out), "-n", "1", *SMALL_CLI])
    assert again.exit_code == 2
    assert "not empty" in again.stderr and "--overwrite" in again.stderr

    quiet = CliRunner().invoke(main, ["synth", str(out), "-n", "1", "-c", "static", "--overwrite", "-q", *SMALL_CLI])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert sorted(files(out)) == sorted([MANIFEST, BOXES, "static/static_00000.mp4"])


def _api_set(out: Path) -> Path:
    generate(out, per_class=1, seed=3, classes=["growing", "static"], **SMALL)
    return out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--classes", "static,dancing"], "unknown class 'dancing'"),
        (["--min-size", "200", "--max-size", "100"], "--min-size 200 is larger than --max-size 100"),
        (["--noise", "3"], "--noise 3.0 is outside"),
        (["-n", "0"], "--per-class"),
    ],
)
def test_cli_usage_errors(tmp_path, args, message):
    result = CliRunner().invoke(main, ["synth", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_out_dir_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(main, ["synth", str(tmp_path / "file")])
    assert result.exit_code == 2
