"""``OUT_DIR/boxes.jsonl``: where the synthetic target is in every frame, checked on the pixels."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from vidclass.data import load_dataset
from vidclass.data.files import expand_paths
from vidclass.synth import (
    BOXES,
    CLASSES,
    MANIFEST,
    BoxesError,
    ObjectTrack,
    SynthOptions,
    generate,
    read_boxes,
    read_manifest,
    render,
    sample_video,
)

# Tiny, short videos. No distractors: their fine textures are where H.264 errs most, and the
# pixel checks below would have to tell those errors from the target.
SMALL = {
    "min_size": 48,
    "max_size": 64,
    "min_seconds": 1.0,
    "max_seconds": 2.0,
    "min_fps": 12,
    "max_fps": 16,
    "max_distractors": 0,
}
SEED = 3


@pytest.fixture(scope="module")
def every_class(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("boxes") / "set"
    generate(out, per_class=1, seed=SEED, workers=1, **SMALL)
    return out


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]).astype(np.int16)


def frames_without_target(record: dict) -> tuple[np.ndarray, np.ndarray]:
    """The video's rendered frames, and the same frames with the target drawn at radius 0 (the
    same background, camera shake and noise), as int16."""
    spec = sample_video(record["source_label"], record["index"], SEED, SynthOptions(**SMALL))
    empty = copy.deepcopy(spec)
    empty["params"]["target"]["radius"] = 0.0
    return render(spec).astype(np.int16), render(empty).astype(np.int16)


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel: the largest difference over R, G and B."""
    return np.abs(a - b).max(axis=-1)


def median3(image: np.ndarray) -> np.ndarray:
    """3x3 median: what stands out from its neighbours alone (a codec's stray pixel) goes."""
    h, w = image.shape
    padded = np.pad(image, 1, mode="edge")
    return np.median(np.stack([padded[y : y + h, x : x + w] for y in range(3) for x in range(3)]), axis=0)


def slack(mask: np.ndarray) -> int:
    """How far inside the box (``mask`` is its pixels) the set pixels stop short of its
    farthest edge; the box's size if none is set."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return max(mask.shape)
    h, w = mask.shape
    return int(max(cols[0], w - 1 - cols[-1], rows[0], h - 1 - rows[-1]))


def test_one_line_per_video_in_manifest_order(every_class):
    manifest = read_manifest(every_class)
    lines = [json.loads(line) for line in (every_class / BOXES).read_text().splitlines()]
    assert [line["path"] for line in lines] == [r["path"] for r in manifest["videos"]]
    assert len(lines) == len(CLASSES)
    tracks = read_boxes(every_class)
    for record, line in zip(manifest["videos"], lines, strict=True):
        assert sorted(line) == ["boxes", "fps", "height", "path", "width"]
        track = tracks[record["path"]]
        assert isinstance(track, ObjectTrack)
        assert (track.path, track.fps, track.width, track.height) == (
            record["path"],
            record["fps"],
            record["width"],
            record["height"],
        )
        # one box per frame of the file as written
        assert track.frames == record["frames"] == len(decode(every_class / record["path"]))
        assert track.boxes.shape == (record["frames"], 4)
        # every class keeps its target in the frame, and none makes it vanish
        assert track.visible.all()
        x0, y0, x1, y1 = track.boxes.T
        assert (x0 >= 0).all() and (y0 >= 0).all() and (x0 < x1).all() and (y0 < y1).all()
        assert (x1 <= track.width).all() and (y1 <= track.height).all()
        assert (track.boxes == np.round(track.boxes)).all()


def test_the_box_is_the_pixels_the_target_changes(every_class):
    """In the rendered frames: every pixel the target changes by more than a level lies in its
    box, and the pixels it changes reach to within a pixel of each of the box's edges."""
    tracks = read_boxes(every_class)
    for record in read_manifest(every_class)["videos"]:
        frames, empty = frames_without_target(record)
        for i, (x0, y0, x1, y1) in enumerate(tracks[record["path"]].boxes.astype(int)):
            changed = difference(frames[i], empty[i])
            outside = changed.copy()
            outside[y0:y1, x0:x1] = 0
            assert outside.max() <= 1, (record["path"], i)
            assert slack(changed[y0:y1, x0:x1] > 0) <= 1, (record["path"], i)


def test_the_box_holds_the_target_in_the_written_video(every_class):
    """In the decoded file (H.264 blurs edges and errs at stray pixels): what differs strongly
    from the frame without the target lies in the box, give or take 2 px, and what differs
    clearly reaches to within 3 px of each edge of the box."""
    tracks = read_boxes(every_class)
    for record in read_manifest(every_class)["videos"]:
        decoded = decode(every_class / record["path"])
        _, empty = frames_without_target(record)
        track = tracks[record["path"]]
        for i, (x0, y0, x1, y1) in enumerate(track.boxes.astype(int)):
            changed = difference(decoded[i], empty[i])
            strong = median3(changed) > 40
            strong[max(y0 - 2, 0) : y1 + 2, max(x0 - 2, 0) : x1 + 2] = False
            assert not strong.any(), (record["path"], i)
            assert slack(changed[y0:y1, x0:x1] > 20) <= 3, (record["path"], i)


def test_boxes_follow_the_motion(every_class):
    tracks = read_boxes(every_class)

    def centre(name: str) -> np.ndarray:
        boxes = tracks[f"{name}/{name}_00000.mp4"].boxes
        return np.stack([boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]], axis=1) / 2

    def area(name: str) -> np.ndarray:
        boxes = tracks[f"{name}/{name}_00000.mp4"].boxes
        return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])

    assert centre("moving_left")[-1, 0] < centre("moving_left")[0, 0] - 5
    assert centre("moving_right")[-1, 0] > centre("moving_right")[0, 0] + 5
    assert centre("moving_up")[-1, 1] < centre("moving_up")[0, 1] - 5
    assert centre("moving_down")[-1, 1] > centre("moving_down")[0, 1] + 5
    assert area("growing")[-1] > 2 * area("growing")[0]
    assert area("shrinking")[-1] < area("shrinking")[0] / 2


def test_reversed_videos_have_their_boxes_reversed(every_class, tmp_path):
    generate(tmp_path / "rev", per_class=1, seed=SEED, classes=["moving_left", "growing"], reverse=True, **SMALL)
    forward = read_boxes(every_class)
    backward = read_boxes(tmp_path / "rev")
    assert sorted(backward) == ["moving_right/moving_left_00000_reversed.mp4", "shrinking/growing_00000_reversed.mp4"]
    for name, twin in (("moving_left", "moving_right"), ("growing", "shrinking")):
        reversed_track = backward[f"{twin}/{name}_00000_reversed.mp4"]
        np.testing.assert_array_equal(reversed_track.boxes, forward[f"{name}/{name}_00000.mp4"].boxes[::-1])


def test_same_seed_same_boxes(every_class, tmp_path):
    """The file is byte-identical whatever the number of worker processes; another seed
    gives other boxes."""
    generate(tmp_path / "again", per_class=1, seed=SEED, workers=2, **SMALL)
    assert (tmp_path / "again" / BOXES).read_bytes() == (every_class / BOXES).read_bytes()
    generate(tmp_path / "other", per_class=1, seed=SEED + 1, classes=["static"], **SMALL)
    other = read_boxes(tmp_path / "other")["static/static_00000.mp4"].boxes
    assert not np.array_equal(other, read_boxes(every_class)["static/static_00000.mp4"].boxes)


def test_a_dataset_reads_the_same_videos(every_class, tmp_path):
    """boxes.jsonl is neither a video nor an annotation file: the folder reads as before."""
    without = tmp_path / "without"
    shutil.copytree(every_class, without)
    (without / BOXES).unlink()
    expected = sorted((r["path"], r["label"]) for r in read_manifest(every_class)["videos"])
    for root in (every_class, without):
        dataset = load_dataset(root)
        assert dataset.layout == "folders" and dataset.annotations is None and dataset.unlabelled == []
        assert sorted((Path(s.path).relative_to(root).as_posix(), s.label) for s in dataset.samples) == expected
    listed = sorted(Path(p).relative_to(every_class).as_posix() for p in expand_paths([every_class], recursive=True))
    assert listed == [path for path, _ in expected]


def test_overwrite_replaces_the_boxes(tmp_path):
    out = tmp_path / "set"
    generate(out, per_class=2, seed=SEED, classes=["static"], **SMALL)
    assert sorted(read_boxes(out)) == ["static/static_00000.mp4", "static/static_00001.mp4"]
    generate(out, per_class=1, seed=SEED, classes=["moving_up"], overwrite=True, **SMALL)
    assert sorted(read_boxes(out)) == ["moving_up/moving_up_00000.mp4"]
    assert sorted(p.name for p in out.iterdir()) == [BOXES, "moving_up", MANIFEST]


def test_read_boxes_null_frames_and_bad_lines(tmp_path):
    line = {"path": "a/a_00000.mp4", "fps": 10, "width": 32, "height": 24, "boxes": [[1, 2, 5, 6], None]}
    (tmp_path / BOXES).write_text(json.dumps(line) + "\n")
    track = read_boxes(tmp_path)["a/a_00000.mp4"]
    assert (track.fps, track.width, track.height, track.frames) == (10, 32, 24, 2)
    np.testing.assert_array_equal(track.boxes[0], [1, 2, 5, 6])
    assert np.isnan(track.boxes[1]).all()
    assert track.visible.tolist() == [True, False]
    assert track.contains(0, 1.0, 2.0) and track.contains(0, 4.9, 5.9)
    assert not track.contains(0, 5.0, 3.0) and not track.contains(1, 3.0, 3.0)

    (tmp_path / BOXES).write_text(json.dumps(line) + "\n" + json.dumps({**line, "boxes": [[1, 2, 3]]}) + "\n")
    with pytest.raises(BoxesError, match=r":2: "):
        read_boxes(tmp_path)
    (tmp_path / BOXES).unlink()
    with pytest.raises(FileNotFoundError):
        read_boxes(tmp_path)
