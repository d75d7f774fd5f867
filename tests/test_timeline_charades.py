"""vidclass timeline --truth with a Charades-format dataset: per-frame mAP at 25 points, each
point scored by the window whose stretch holds it and labelled by the actions active at it."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import average_precision_score

import vidclass
from tests.videos import write_video
from vidclass.cli.main import main
from vidclass.timelines import WindowScores, action_points, score_points

# ----------------------------------------------------------------- the points, worked by hand

LABELS = ["a", "b", "c", "d"]
# four windows over a 25 s video: centres 4, 10, 16 and 20 s, so the stretches are cut at 7,
# 13 and 18 s; the points are t_i = i * 25 / 25 = i s, three of them exactly on a cut
WINDOWS = [
    WindowScores(0, 0.0, 8.0, np.array([0.9, 0.1, 0.3, 0.4])),
    WindowScores(1, 6.0, 14.0, np.array([0.2, 0.8, 0.3, 0.4])),
    WindowScores(2, 12.0, 20.0, np.array([0.2, 0.6, 0.7, 0.4])),
    WindowScores(3, 16.0, 24.0, np.array([0.5, 0.1, 0.7, 0.4])),
]
ACTIONS = [("a", 0.0, 5.5), ("b", 7.0, 12.0), ("c", 12.5, 20.0), ("a", 20.0, 30.0), ("c", 3.0, 3.0)]


def test_points_targets_and_map_worked_by_hand():
    points = action_points(WINDOWS, 25.0, ACTIONS, LABELS)
    assert points.times.tolist() == [float(i) for i in range(25)]
    # a point on a cut (7, 13, 18 s) belongs to the later window
    window_of = [0] * 7 + [1] * 6 + [2] * 5 + [3] * 7
    assert points.scores.tolist() == [WINDOWS[k].probs.tolist() for k in window_of]
    # start <= t <= end: both ends count, and a zero-length action at a point holds it
    positives = {
        "a": [0, 1, 2, 3, 4, 5, 20, 21, 22, 23, 24],
        "b": [7, 8, 9, 10, 11, 12],
        "c": [3, 13, 14, 15, 16, 17, 18, 19, 20],
        "d": [],
    }
    for k, label in enumerate(LABELS):
        assert np.flatnonzero(points.targets[:, k]).tolist() == positives[label], label

    metrics = score_points(points)
    # by hand: a ranks a group of 7 (6 positive) at 0.9, then 7 (5 positive) at 0.5, then the
    # rest; b's positives are exactly its top group; c ranks 12 (8 positive) at 0.7, then 13
    # (1 positive) at 0.3. d has no positive and no AP.
    by_hand = [6 / 11 * 6 / 7 + 5 / 11 * 11 / 14, 1.0, 8 / 9 * 8 / 12 + 1 / 9 * 9 / 25]
    sklearn = [average_precision_score(points.targets[:, k], points.scores[:, k]) for k in range(3)]
    assert sklearn == pytest.approx(by_hand, rel=1e-12)
    assert metrics.frame_map == pytest.approx(np.mean(by_hand), rel=1e-12)
    assert metrics.points == 25 and metrics.classes_with_positives == 3
    assert metrics.chance_frame_map == pytest.approx(np.mean([11 / 25, 6 / 25, 9 / 25]), rel=1e-12)


def test_several_videos_pool_their_points_into_one_ranking():
    first = action_points(WINDOWS, 25.0, ACTIONS, LABELS)
    second = action_points(WINDOWS[:2], 10.0, [("d", 0.0, 1.0), ("b", 6.0, 10.0)], LABELS)
    pooled = score_points([first, second])
    scores = np.concatenate([first.scores, second.scores])
    targets = np.concatenate([first.targets, second.targets])
    expected = [average_precision_score(targets[:, k], scores[:, k]) for k in range(4)]
    assert pooled.points == 50 and pooled.classes_with_positives == 4
    assert pooled.frame_map == pytest.approx(np.mean(expected), rel=1e-12)
    assert pooled.frame_map != pytest.approx(np.mean([score_points(first).frame_map, score_points(second).frame_map]))


def test_no_action_means_no_class_with_a_positive():
    metrics = score_points(action_points(WINDOWS, 25.0, [], LABELS))
    assert metrics.as_dict() == {"frame_map": None, "points": 25, "classes_with_positives": 0, "chance_frame_map": None}


# ----------------------------------------------------------------- the command, end to end

MODEL_LABELS = ["c000", "Opening a door", "Walking"]  # c000 by id, the others by class name
CLASS_LIST = "c000 Holding some clothes\nc001 Opening a door\nc002 Walking\nc003 Jumping\n"
CSV = (
    "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
    "vid01,S,Kitchen,6,7,Yes,x,y,z,c000 0.00 2.00;c001 1.50 4.00;c002 3.00 3.50,4.0\n"
    "vid02,S,Kitchen,6,7,Yes,x,y,z,c002 0.00 1.00;c000 2.50 4.00,4.0\n"
    "vid99,S,Kitchen,6,7,Yes,x,y,z,c003 0.00 1.00,4.0\n"
)


def _pattern(seed: int):
    def paint(index: int, height: int, width: int) -> np.ndarray:
        rng = np.random.default_rng(seed * 1000 + index // 8)
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)

    return paint


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("charades_timeline")
    for seed, name in enumerate(["vid01", "vid02", "other"]):
        write_video(root / "videos" / f"{name}.mp4", num_frames=40, fps=Fraction(10), pattern=_pattern(seed))
    model = vidclass.create_model("vivit-micro", labels=MODEL_LABELS, seed=0, multi_label=True)
    vidclass.save_model(model, root / "micro.safetensors")
    (root / "charades").mkdir()
    (root / "charades" / "Charades_v1_test.csv").write_text(CSV)
    (root / "charades" / "Charades_v1_classes.txt").write_text(CLASS_LIST)
    return root


def _invoke(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["timeline", *args, "-m", str(work / "micro.safetensors"), "-j", "1"],
        env={"VIDCLASS_MODEL": None, "NO_COLOR": "1"},
    )
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def _expected_points(windows: list[dict], duration: float, actions: list[tuple[str, float, float]]):
    """The 25 points from the window records alone: t_i = i * duration / 25, the window of the
    nearest centre (none of these points is on a midpoint), targets start <= t <= end."""
    centres = np.array([(w["start"] + w["end"]) / 2 for w in windows])
    scores, targets = [], []
    for i in range(25):
        t = i * duration / 25
        window = windows[int(np.argmin(np.abs(centres - t)))]
        scores.append([window["scores"][label] for label in MODEL_LABELS])
        targets.append([any(a == label and s <= t <= e for a, s, e in actions) for label in MODEL_LABELS])
    return np.array(scores), np.array(targets, dtype=bool)


def _sklearn_map(scores: np.ndarray, targets: np.ndarray) -> float:
    kept = [k for k in range(targets.shape[1]) if targets[:, k].any()]
    return float(np.mean([average_precision_score(targets[:, k], scores[:, k]) for k in kept]))


def test_timeline_scores_a_charades_csv_as_per_frame_map(work, monkeypatch):
    monkeypatch.chdir(work)
    run = _invoke(
        work,
        "videos/vid01.mp4",
        "videos/vid02.mp4",
        "videos/other.mp4",
        "--truth",
        "charades",
        "--scores",
        "-f",
        "jsonl",
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # c003 is in the CSV, but not in these videos
    records = [json.loads(line) for line in run.stdout.splitlines()]
    metrics = [r for r in records if r["type"] == "metrics"]
    # one record per video the CSV lists (other.mp4 is not listed: none), then the pooled one
    assert [m["path"] for m in metrics] == ["videos/vid01.mp4", "videos/vid02.mp4", None]
    truth = {
        "videos/vid01.mp4": [("c000", 0.0, 2.0), ("Opening a door", 1.5, 4.0), ("Walking", 3.0, 3.5)],
        "videos/vid02.mp4": [("Walking", 0.0, 1.0), ("c000", 2.5, 4.0)],
    }
    pool = []
    for record in metrics[:2]:
        windows = [r for r in records if r["type"] == "window" and r["path"] == record["path"]]
        duration = windows[-1]["end"]  # the last window ends at the video's end
        assert duration == pytest.approx(4.0)
        scores, targets = _expected_points(windows, duration, truth[record["path"]])
        pool.append((scores, targets))
        assert set(record) == {"path", "type", "frame_map", "points", "classes_with_positives", "chance_frame_map"}
        assert record["points"] == 25
        assert record["classes_with_positives"] == int(targets.any(axis=0).sum())
        assert record["frame_map"] == pytest.approx(_sklearn_map(scores, targets), rel=1e-9)
        kept = targets.any(axis=0)
        assert record["chance_frame_map"] == pytest.approx(targets[:, kept].mean(axis=0).mean(), rel=1e-12)
    pooled = metrics[2]
    scores, targets = np.concatenate([p[0] for p in pool]), np.concatenate([p[1] for p in pool])
    assert pooled["videos"] == 2 and pooled["points"] == 50
    assert pooled["frame_map"] == pytest.approx(_sklearn_map(scores, targets), rel=1e-9)


def test_a_class_the_model_lacks_is_left_out_with_one_warning(work, monkeypatch):
    monkeypatch.chdir(work)
    (work / "one.mp4").write_bytes((work / "videos" / "vid01.mp4").read_bytes())
    csv = work / "one.csv"
    csv.write_text("id,actions\none,c000 0.00 2.00;c003 1.00 3.00\n")
    run = _invoke(work, "one.mp4", "--truth", str(csv), "--classes", "charades/Charades_v1_classes.txt", "-f", "json")
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "c003" in lines[0]
    (video,) = json.loads(run.stdout)["videos"]
    assert video["metrics"]["classes_with_positives"] == 1  # c000 only


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("id,actions\nvid01,c000 zero 2.00\n", "bad.csv:line 2: "),  # a time that is no number
        ("id,subject\nvid01,S\n", "'actions'"),  # no actions column
    ],
)
def test_a_malformed_charades_csv_is_one_error_and_exit_2(work, monkeypatch, content, named):
    monkeypatch.chdir(work)
    bad = work / "bad.csv"
    bad.write_text(content)
    run = _invoke(work, "videos/vid01.mp4", "--truth", str(bad))
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --truth ") and named in lines[0]


def test_none_of_the_classes_among_the_model_labels_is_exit_2(work, monkeypatch):
    monkeypatch.chdir(work)
    csv = work / "unknown.csv"
    csv.write_text("id,actions\nvid01,c003 0.00 2.00\n")
    run = _invoke(work, "videos/vid01.mp4", "--truth", str(csv))
    assert run.returncode == 2 and run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --truth ") and "c003" in lines[0]
