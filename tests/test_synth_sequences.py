"""``vidclass synth --sequences``: videos whose motion class changes at known frames, and
their truth (``OUT_DIR/sequences.jsonl``), checked on the decoded pixels, the boxes and the
renderer's target states."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from vidclass.cli.main import main
from vidclass.data import DatasetError, load_dataset
from vidclass.synth import (
    BOXES,
    CLASSES,
    MANIFEST,
    SEQUENCES,
    Segment,
    SequenceRenderer,
    SequencesError,
    SequenceTruth,
    SynthOptions,
    generate,
    generate_sequences,
    read_boxes,
    read_manifest,
    read_sequences,
    sample_sequence,
)

# Tiny videos, short segments; no noise, camera shake or distractors, so the target is all
# that changes from frame to frame and the pixel checks can find it.
SMALL = {
    "min_size": 48,
    "max_size": 64,
    "min_fps": 12,
    "max_fps": 16,
    "max_distractors": 0,
    "noise": 0.0,
    "jitter": 0.0,
}
SMALL_CLI = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()]
SEED = 5
COUNT, SEGMENTS, SECONDS = 6, 5, (1.0, 1.5)


@pytest.fixture(scope="module")
def sequence_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seq") / "set"
    generate_sequences(out, COUNT, SEGMENTS, seed=SEED, segment_seconds=SECONDS, workers=1, **SMALL)
    return out


def decode(path: Path) -> tuple[np.ndarray, float]:
    with av.open(str(path)) as container:
        rate = float(container.streams.video[0].average_rate)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    return frames.astype(np.int16), rate


def spec_of(truth: SequenceTruth, index: int) -> dict:
    return sample_sequence(index, SEED, SynthOptions(**SMALL), list(CLASSES), SEGMENTS, SECONDS)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- the truth file


def test_segments_tile_each_video_and_match_the_decoded_file(sequence_set):
    truths = read_sequences(sequence_set)
    assert [t.path for t in truths] == [f"sequence_{i:05d}.mp4" for i in range(COUNT)]
    lines = [json.loads(line) for line in (sequence_set / SEQUENCES).read_text().splitlines()]
    assert [sorted(line) for line in lines] == [
        ["duration", "fps", "frames", "height", "path", "segments", "width"]
    ] * COUNT
    manifest = read_manifest(sequence_set)
    assert manifest["kind"] == "sequences" and manifest["segments"] == SEGMENTS
    for truth, line, record in zip(truths, lines, manifest["videos"], strict=True):
        assert isinstance(truth, SequenceTruth) and all(isinstance(s, Segment) for s in truth.segments)
        assert line["segments"] == record["segments"]
        segments = line["segments"]
        assert len(segments) == SEGMENTS
        assert segments[0]["start_frame"] == 0 and segments[0]["start"] == 0.0
        assert segments[-1]["end_frame"] == truth.frames and segments[-1]["end"] == truth.duration
        assert truth.duration == truth.frames / truth.fps
        for before, after in zip(segments, segments[1:], strict=False):
            assert after["start_frame"] == before["end_frame"] and after["start"] == before["end"]
            assert after["label"] != before["label"]
        for s in segments:
            assert s["label"] in CLASSES
            assert s["start"] == s["start_frame"] / truth.fps and s["end"] == s["end_frame"] / truth.fps
            # 1 to 1.5 s, rounded to whole frames
            assert round(SECONDS[0] * truth.fps) <= s["end_frame"] - s["start_frame"] <= round(SECONDS[1] * truth.fps)
        frames, rate = decode(sequence_set / truth.path)
        assert frames.shape == (truth.frames, truth.height, truth.width, 3)
        assert rate == truth.fps
        assert truth.frame_labels() == [truth.label_at(i) for i in range(truth.frames)]
        assert truth.label_at(segments[1]["start_frame"]) == segments[1]["label"]
        assert truth.label_at(segments[1]["start_frame"] - 1) == segments[0]["label"]


def test_boxes_cover_the_sequences_too(sequence_set):
    tracks = read_boxes(sequence_set)
    truths = read_sequences(sequence_set)
    assert list(tracks) == [t.path for t in truths]
    for truth in truths:
        track = tracks[truth.path]
        assert (track.fps, track.width, track.height, track.frames) == (
            truth.fps,
            truth.width,
            truth.height,
            truth.frames,
        )
        assert track.visible.all()


# --------------------------------------------------------------------------- the motion follows the truth

# quantity -> the classes that change it, and how (+1 grows, -1 shrinks, 0 comes back)
CHANGES = {
    "x": {"moving_right": 1, "moving_left": -1},
    "y": {"moving_down": 1, "moving_up": -1},
    "radius": {"growing": 1, "shrinking": -1, "pulsing": 0},
    "angle": {"rotating_cw": 1, "rotating_ccw": -1},
}


def test_only_the_segments_motion_changes_the_target_and_only_inside_it(sequence_set):
    """Over the frames of a segment and the first frame of the next one, the target's state
    changes as the segment's class says, at every step, and nothing else about it changes:
    each change starts at a segment's first frame and stops at the next segment's."""
    seen = set()
    for index, truth in enumerate(read_sequences(sequence_set)):
        states = SequenceRenderer(spec_of(truth, index)).states
        for segment in truth.segments:
            last = min(segment.end_frame, truth.frames - 1)  # the state the segment leads to
            span = slice(segment.start_frame, last + 1)
            seen.add(segment.label)
            for quantity, classes in CHANGES.items():
                steps = np.diff(states[quantity][span])
                if segment.label not in classes:
                    assert np.abs(steps).max() < 1e-9, (truth.path, segment, quantity)
                elif classes[segment.label] != 0:
                    assert (np.sign(steps) == classes[segment.label]).all(), (truth.path, segment, quantity)
                else:  # pulsing: swells or shrinks, and comes back by the next segment
                    values = states[quantity][span]
                    assert np.ptp(values) > 0.1 * values[0]
                    if segment.end_frame < truth.frames:
                        assert values[-1] == pytest.approx(values[0])
            alt = states["alt"][span]
            if segment.label == "blinking":
                assert not alt[0] and alt.any()
            else:
                assert not alt[: segment.frames].any()
    assert seen == set(CLASSES)  # the fixture's seed meets every class


def centroids(mask: np.ndarray) -> np.ndarray:
    """Per frame: the (x, y) centre of the set pixels of a (T, H, W) mask."""
    ys, xs = np.mgrid[: mask.shape[1], : mask.shape[2]]
    area = mask.sum(axis=(1, 2))
    assert (area > 0).all()
    return np.stack([(mask * (xs + 0.5)).sum(axis=(1, 2)) / area, (mask * (ys + 0.5)).sum(axis=(1, 2)) / area], 1)


def test_the_pixels_and_boxes_move_as_each_segment_says(sequence_set):
    """Measured on the decoded video (the target is where it differs from the same video
    drawn without it) and on boxes.jsonl: in a moving segment the target goes that way, in a
    growing one it gets larger; in a static one it stays put."""
    tracks = read_boxes(sequence_set)
    checked = 0
    for index, truth in enumerate(read_sequences(sequence_set)):
        spec = spec_of(truth, index)
        empty = copy.deepcopy(spec)
        empty["params"]["target"]["radius_small"] = 0.0
        background = np.stack(list(SequenceRenderer(empty).iter_frames())).astype(np.int16)
        decoded, _ = decode(sequence_set / truth.path)
        mask = np.abs(decoded - background).max(axis=-1) > 40
        centre, area = centroids(mask), mask.sum(axis=(1, 2))
        boxes = tracks[truth.path].boxes
        box_centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        box_size = (boxes[:, 2:] - boxes[:, :2]).sum(axis=1)
        for s in truth.segments:
            a, b = s.start_frame, min(s.end_frame, truth.frames - 1)
            moves = {"moving_right": (0, 1), "moving_left": (0, -1), "moving_down": (1, 1), "moving_up": (1, -1)}
            if s.label in moves:
                axis, sign = moves[s.label]
                assert sign * (centre[b, axis] - centre[a, axis]) > 1.0, (truth.path, s)
                assert abs(centre[b, 1 - axis] - centre[a, 1 - axis]) < 1.0, (truth.path, s)
                assert sign * (box_centre[b, axis] - box_centre[a, axis]) > 1.0, (truth.path, s)
                assert np.abs(box_centre[a : b + 1, 1 - axis] - box_centre[a, 1 - axis]).max() <= 1
            elif s.label in ("growing", "shrinking"):
                sign = 1 if s.label == "growing" else -1
                assert sign * (area[b] - area[a]) > 0.2 * area[a : b + 1].min(), (truth.path, s)
                assert sign * (box_size[b] - box_size[a]) >= 2, (truth.path, s)
            elif s.label in ("static", "blinking"):
                assert (boxes[a : b + 1] == boxes[a]).all()
                assert np.abs(centre[a : b + 1] - centre[a]).max() < 1.0, (truth.path, s)
            else:
                continue
            checked += 1
    assert checked >= 10


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_whatever_the_workers(sequence_set, tmp_path):
    again = tmp_path / "again"
    generate_sequences(again, COUNT, SEGMENTS, seed=SEED, segment_seconds=SECONDS, workers=2, **SMALL)
    assert files(again) == files(sequence_set)
    other = tmp_path / "other"
    generate_sequences(other, 2, SEGMENTS, seed=SEED + 1, segment_seconds=SECONDS, workers=1, **SMALL)
    assert (other / SEQUENCES).read_bytes() != (sequence_set / SEQUENCES).read_bytes()


# --------------------------------------------------------------------------- not a dataset, the reader


def test_a_sequence_set_is_no_classification_dataset(sequence_set, tmp_path):
    with pytest.raises(DatasetError, match="sequence set"):
        load_dataset(sequence_set)
    with pytest.raises(DatasetError, match="sequence set"):
        load_dataset(sequence_set, layout="folders")
    for args in (
        ["eval", str(sequence_set)],
        ["train", str(sequence_set), "-m", "vivit-micro", "-o", str(tmp_path / "r")],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "sequence set" in lines[0]
    assert not (tmp_path / "r").exists()


def test_reader_refuses_segments_that_do_not_tile(sequence_set, tmp_path):
    line = json.loads((sequence_set / SEQUENCES).read_text().splitlines()[0])
    line["segments"][1]["start_frame"] += 1
    (tmp_path / SEQUENCES).write_text(json.dumps(line) + "\n")
    with pytest.raises(SequencesError, match=f"{SEQUENCES}:1"):
        read_sequences(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_sequences(tmp_path / "none")


def test_library_refuses_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="at least 2 segments"):
        generate_sequences(tmp_path / "a", 1, 1)
    with pytest.raises(ValueError, match="two classes"):
        generate_sequences(tmp_path / "b", 1, 3, classes=["static"])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- command line


def test_cli_writes_sequences_and_overwrite_swaps_kinds(tmp_path):
    out = tmp_path / "set"
    args = ["synth", str(out), "--sequences", "2", "--segments", "3", "--segment-seconds", "1,1.5", "-j", "1"]
    result = CliRunner().invoke(main, [*args, "-c", "static,growing,moving_left", *SMALL_CLI])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "wrote 2 sequences (3 segments each, 3 classes, seed 0)" in result.stderr
    names = sorted(files(out))
    assert names == sorted([MANIFEST, BOXES, SEQUENCES, "sequence_00000.mp4", "sequence_00001.mp4"])
    api = tmp_path / "api"
    generate_sequences(
        api, 2, 3, classes=["moving_left", "growing", "static"], segment_seconds=(1, 1.5), workers=1, **SMALL
    )
    assert files(out) == files(api)
    assert {s.label for t in read_sequences(out) for s in t.segments} <= {"static", "growing", "moving_left"}

    # a class set over it, and back: each run removes what the other wrote
    generate(out, per_class=1, classes=["static"], overwrite=True, **SMALL)
    assert sorted(files(out)) == sorted([MANIFEST, BOXES, "static/static_00000.mp4"])
    back = CliRunner().invoke(main, [*args, "--overwrite", "-q", *SMALL_CLI])
    assert back.exit_code == 0 and back.stderr == ""
    assert sorted(files(out)) == names


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sequences", "2", "--segments", "1"], "--segments 1: a sequence needs at least 2 segments"),
        (["--sequences", "2", "--segments", "0"], "--segments 0: a sequence needs at least 2 segments"),
        (["--sequences", "0"], "--sequences 0"),
        (["--sequences", "2", "--classes", "static"], "at least two classes"),
        (["--sequences", "2", "--segment-seconds", "2"], "--segment-seconds '2' is not MIN,MAX"),
        (["--sequences", "2", "--segment-seconds", "3,2"], "--segment-seconds 3,2"),
        (["--sequences", "2", "--segment-seconds", "0,2"], "--segment-seconds 0 is outside"),
        (["--sequences", "2", "-n", "3"], "--per-class does not apply to --sequences"),
        (["--sequences", "2", "--reverse"], "--reverse does not apply to --sequences"),
        (["--sequences", "2", "--max-seconds", "3"], "--max-seconds does not apply to --sequences"),
        (["--segments", "3"], "--segments needs --sequences N"),
        (["--segment-seconds", "1,2"], "--segment-seconds needs --sequences N"),
    ],
)
def test_cli_bad_sequence_options_are_one_error_line(tmp_path, args, message):
    result = CliRunner().invoke(main, ["synth", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()
